"""datasets.reconcile.differences: what Kaggle holds against what was approved, with
hand-built dicts in the shapes of Submission.metadata/files, the manifest and the
adapter's dataset_read."""

import copy

from datasets.reconcile import differences

SNAPSHOT = {
    "owner_slug": "demo-lab",
    "slug": "ocean-temps",
    "title": "Ocean temperatures",
    "subtitle": "Daily sea surface readings from buoys",
    "description": "Readings from **twelve** buoys.",
    "license": "CC-BY-4.0",
    "keywords": ["oceans", "Data-Visualization"],
    "is_private": True,
    "folder_packaging": "zip",
}
FILES = [
    {"path": "readings.csv", "kind": "file", "size": 120, "description": "The readings"},
    {
        "path": "images",
        "kind": "folder",
        "size": 30,
        "description": "",
        "entries": [{"path": "a.png", "size": 10}, {"path": "sub/b.png", "size": 20}],
    },
]
MANIFEST = [
    {"path": "readings.csv", "size": 120, "sha256": "a" * 64},
    {"path": "images.zip", "size": 222, "sha256": "b" * 64},
]


def kaggle_read(**changes) -> dict:
    """What Kaggle holds when it holds exactly what was approved (archive unpacked)."""
    read = {
        "exists": True,
        "status": "ready",
        "current_version_number": 1,
        "files": [
            {"name": "readings.csv", "size": 120},
            {"name": "images/a.png", "size": 10},
            {"name": "images/sub/b.png", "size": 20},
        ],
        "metadata": {
            "title": "Ocean temperatures",
            "subtitle": "Daily sea surface readings from buoys",
            "description": "Readings from **twelve** buoys.",
            "licenses": [{"name": "CC-BY-4.0"}],
            "keywords": ["oceans", "data visualization"],
            "isPrivate": True,
            "resources": [
                {"path": "readings.csv", "description": "The readings"},
                {"path": "images/a.png", "description": ""},
                {"path": "images/sub/b.png", "description": ""},
            ],
        },
        "url": "https://www.kaggle.com/datasets/demo-lab/ocean-temps",
    }
    for key, value in changes.items():
        if key in read["metadata"]:
            read["metadata"][key] = value
        else:
            read[key] = value
    return read


def test_kaggle_holding_what_was_approved_has_no_differences():
    assert differences(SNAPSHOT, FILES, MANIFEST, kaggle_read()) == []


def test_a_folder_kept_as_its_archive_counts_as_present():
    read = kaggle_read(
        files=[{"name": "readings.csv", "size": 120}, {"name": "images.zip", "size": 222}]
    )
    read["metadata"]["resources"] = [
        {"path": "readings.csv", "description": "The readings"},
        {"path": "images.zip", "description": ""},
    ]
    assert differences(SNAPSHOT, FILES, MANIFEST, read) == []


def test_a_file_missing_on_kaggle_is_named():
    read = kaggle_read(
        files=[{"name": "images/a.png", "size": 10}, {"name": "images/sub/b.png", "size": 20}]
    )
    assert "readings.csv is not on Kaggle." in differences(SNAPSHOT, FILES, MANIFEST, read)


def test_a_file_the_client_never_uploads_reads_as_missing():
    files = [*FILES, {"path": "datapackage.json", "kind": "file", "size": 5, "description": ""}]
    manifest = [*MANIFEST, {"path": "datapackage.json", "size": 5, "sha256": "c" * 64}]
    lines = differences(SNAPSHOT, files, manifest, kaggle_read())
    assert lines == ["datapackage.json is not on Kaggle."]


def test_a_size_that_differs_is_reported_with_both_sizes():
    read = kaggle_read()
    read["files"][0]["size"] = 100
    assert differences(SNAPSHOT, FILES, MANIFEST, read) == [
        "readings.csv has 100 bytes on Kaggle; 120 were approved."
    ]


def test_files_missing_from_an_unpacked_folder_are_counted_and_named():
    read = kaggle_read()
    read["files"] = [f for f in read["files"] if f["name"] != "images/sub/b.png"]
    assert differences(SNAPSHOT, FILES, MANIFEST, read) == [
        "1 file of the folder images.zip is not on Kaggle: sub/b.png."
    ]


def test_files_kaggle_holds_that_were_not_approved_are_named():
    read = kaggle_read()
    read["files"].append({"name": "notes.txt", "size": 3})
    assert differences(SNAPSHOT, FILES, MANIFEST, read) == [
        "Kaggle holds files that were not approved: notes.txt."
    ]


def test_dropped_keywords_are_named():
    lines = differences(SNAPSHOT, FILES, MANIFEST, kaggle_read(keywords=["oceans"]))
    assert lines == ["Kaggle dropped the keywords Data-Visualization."]


def test_keywords_kaggle_reported_invalid_count_as_dropped_even_if_listed():
    read = kaggle_read(invalid_tags=["Data-Visualization"])
    assert differences(SNAPSHOT, FILES, MANIFEST, read) == [
        "Kaggle dropped the keywords Data-Visualization."
    ]


def test_a_different_subtitle_shows_both():
    lines = differences(SNAPSHOT, FILES, MANIFEST, kaggle_read(subtitle="Old subtitle of twenty"))
    assert lines == [
        "Kaggle shows subtitle 'Old subtitle of twenty', approved "
        "'Daily sea surface readings from buoys'."
    ]


def test_title_license_description_and_privacy_are_compared():
    read = kaggle_read(
        title="Ocean temps (old)",
        licenses=[{"name": "CC0-1.0"}],
        description="",
        isPrivate=False,
    )
    lines = differences(SNAPSHOT, FILES, MANIFEST, read)
    assert "Kaggle shows title 'Ocean temps (old)', approved 'Ocean temperatures'." in lines
    assert "Kaggle shows the license CC0-1.0, approved CC-BY-4.0." in lines
    assert "Kaggle shows no description; one was approved." in lines
    assert "Kaggle shows the dataset public; it was approved private." in lines
    assert len(lines) == 4


def test_line_endings_and_trailing_spaces_are_not_differences():
    snapshot = {**SNAPSHOT, "description": "Line one  \r\nLine two\r\n"}
    read = kaggle_read(description="Line one\nLine two")
    assert differences(snapshot, FILES, MANIFEST, read) == []


def test_a_file_description_kaggle_lost_is_named():
    read = kaggle_read()
    read["metadata"]["resources"][0]["description"] = ""
    assert differences(SNAPSHOT, FILES, MANIFEST, read) == [
        "Kaggle shows no description for readings.csv."
    ]


def test_a_dataset_gone_from_kaggle_is_one_line():
    read = {"exists": False, "status": "", "files": [], "metadata": {}}
    assert differences(SNAPSHOT, FILES, MANIFEST, read) == [
        "The dataset is not on Kaggle (deleted, or the account can no longer see it)."
    ]


def test_a_metadata_only_publish_compares_against_the_submission_sizes():
    # Nothing staged: the sizes frozen in the submission are what Kaggle should hold.
    assert differences(SNAPSHOT, FILES, [], kaggle_read()) == []
    read = kaggle_read()
    read["files"][0]["size"] = 7
    assert differences(SNAPSHOT, FILES, [], read) == [
        "readings.csv has 7 bytes on Kaggle; 120 were approved."
    ]


def test_a_long_list_of_missing_names_is_shortened():
    entries = [{"path": f"f{i}.png", "size": 1} for i in range(12)]
    files = [
        {"path": "images", "kind": "folder", "size": 12, "description": "", "entries": entries}
    ]
    read = kaggle_read(files=[{"name": "images/f0.png", "size": 1}])
    read["metadata"]["resources"] = []
    line = differences(SNAPSHOT, files, [], read)[0]
    assert line.startswith("11 files of the folder images.zip are not on Kaggle: f1.png")
    assert line.endswith("and 6 more.")


def test_inputs_are_not_changed():
    snapshot, files, manifest, read = (
        copy.deepcopy(x) for x in (SNAPSHOT, FILES, MANIFEST, kaggle_read())
    )
    differences(snapshot, files, manifest, read)
    assert (snapshot, files, manifest, read) == (SNAPSHOT, FILES, MANIFEST, kaggle_read())
