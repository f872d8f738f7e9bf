"""Columns of CSV/TSV files: inferred with Frictionless when a file is added (from a
bounded sample), described and corrected in the file form, frozen in submissions, sent
to Kaggle in resources[].schema.fields, and compared in the review diff."""

import pytest
from django.urls import reverse

from datasets import tabular
from datasets.metadata import dataset_kaggle_metadata, kaggle_metadata
from datasets.selectors import submission_diff
from datasets.services import files as file_services
from datasets.services.errors import ServiceError
from tests.builders import Team

pytestmark = pytest.mark.django_db

CSV = b"id,name,score,when,ok\n1,ada,1.5,2024-01-02,true\n2,grace,2,2024-02-03,false\n"


@pytest.fixture
def team(tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return Team(tmp_path / "storage")


def types_of(columns):
    return {c["name"]: c["type"] for c in columns}


def test_an_uploaded_csv_gets_its_columns_and_table_schema_types(team):
    item = team.upload(team.dataset(), "people.csv", CSV)
    assert types_of(item.columns) == {
        "id": "integer",
        "name": "string",
        "score": "number",
        "when": "date",
        "ok": "boolean",
    }
    assert all(c["inferred_type"] == c["type"] and c["description"] == "" for c in item.columns)


def test_a_tsv_on_lab_storage_gets_its_columns(team):
    (team.storage / "readings.tsv").write_text("station\ttemp\nOSL\t-4.5\n")
    item = team.add_storage(team.dataset(), "readings.tsv")
    assert types_of(item.columns) == {"station": "string", "temp": "number"}


def test_a_file_that_is_not_tabular_has_no_columns(team):
    item = team.upload(team.dataset(), "notes.txt", b"a,b\n1,2\n")
    assert item.columns == [] and item.columns_error == ""


def test_an_unreadable_csv_is_still_added_with_the_reason(team):
    item = team.upload(team.dataset(), "broken.csv", b"\n\n\n")
    assert item.pk and item.columns == []
    assert item.columns_error.startswith("Columns could not be read")


def test_inference_reads_a_bounded_sample_of_a_large_file(team, monkeypatch):
    rows = b"".join(b"%d,%d.5\n" % (i, i) for i in range(200_000))
    (team.storage / "big.csv").write_bytes(b"n,x\n" + rows)
    reads = []
    real_open = open

    def counting_open(path, mode="r", *args, **kwargs):
        handle = real_open(path, mode, *args, **kwargs)
        if str(path).endswith("big.csv"):
            original = handle.read
            handle.read = lambda n=-1: reads.append(n) or original(n)
        return handle

    monkeypatch.setattr("builtins.open", counting_open)
    item = team.add_storage(team.dataset(), "big.csv")
    assert types_of(item.columns) == {"n": "integer", "x": "number"}
    assert reads and all(0 < n <= tabular.SAMPLE_BYTES + 1 for n in reads)


def test_a_folder_on_storage_gets_the_columns_of_its_tabular_entries(team):
    (team.storage / "survey" / "raw").mkdir(parents=True)
    (team.storage / "survey" / "raw" / "q1.csv").write_text("site,count\nA,3\n")
    (team.storage / "survey" / "readme.md").write_text("# Survey\n")
    item = team.add_storage(team.dataset(), "survey")
    assert list(item.entry_columns) == ["raw/q1.csv"]
    assert types_of(item.entry_columns["raw/q1.csv"]) == {"site": "string", "count": "integer"}


def test_the_researcher_describes_columns_and_corrects_a_type(team):
    item = team.upload(team.dataset(), "people.csv", CSV)
    edits = [{"type": c["type"], "description": ""} for c in item.columns]
    edits[0] = {"type": "string", "description": "Badge number, kept as text"}
    file_services.file_update(item, actor=team.ada, columns=edits)
    item.refresh_from_db()
    assert item.columns[0] == {
        "name": "id",
        "type": "string",
        "inferred_type": "integer",
        "description": "Badge number, kept as text",
    }


def test_a_type_outside_table_schema_is_refused(team):
    item = team.upload(team.dataset(), "people.csv", CSV)
    edits = [{"type": "varchar", "description": ""} for _ in item.columns]
    with pytest.raises(ServiceError, match="not a Table Schema type"):
        file_services.file_update(item, actor=team.ada, columns=edits)


def test_kaggle_gets_the_columns_in_resources_schema_fields(team):
    dataset = team.dataset()
    item = team.upload(dataset, "people.csv", CSV, "People")
    edits = [{"type": c["type"], "description": f"about {c['name']}"} for c in item.columns]
    file_services.file_update(item, actor=team.ada, columns=edits)
    team.upload(dataset, "notes.txt", b"hello")
    resources = {r["path"]: r for r in dataset_kaggle_metadata(dataset)["resources"]}
    assert resources["people.csv"]["schema"]["fields"][0] == {
        "name": "id",
        "type": "integer",
        "description": "about id",
    }
    assert "schema" not in resources["notes.txt"]


def test_a_folder_archive_carries_no_schema_its_unpacked_tables_do(team):
    (team.storage / "survey").mkdir()
    (team.storage / "survey" / "q1.csv").write_text("site,count\nA,3\n")
    dataset = team.dataset()
    team.add_storage(dataset, "survey")
    archive, table = dataset_kaggle_metadata(dataset)["resources"]
    assert archive["path"] == "survey.zip" and "schema" not in archive
    # Kaggle unpacks the archive: the table is described under its unpacked name
    # (tests/datasets/test_folder_columns.py).
    assert table["path"] == "survey/q1.csv"
    assert [f["name"] for f in table["schema"]["fields"]] == ["site", "count"]


def test_the_submission_freezes_the_columns_and_the_diff_shows_column_changes(team):
    from datasets.models import JobState, PublishJob, SubmissionState

    dataset = team.dataset()
    item = team.upload(dataset, "people.csv", CSV)
    first = team.submit(dataset)
    assert first.files[0]["columns"] == item.columns
    assert kaggle_metadata(first.metadata, first.files)["resources"][0]["schema"]["fields"]
    # Version 1 as published (the worker's part is not under test here).
    first.state = SubmissionState.APPROVED
    first.save()
    PublishJob.objects.create(dataset=dataset, submission=first, state=JobState.PUBLISHED)
    dataset.status, dataset.latest_version = "published", 1
    dataset.save()
    file_services.file_remove(item, actor=team.ada)
    team.upload(dataset, "people.csv", b"id,name,age\nx1,ada,36\n")
    diff = submission_diff(team.submit(dataset, notes="Ages"))
    assert diff["columns_changed"] == [
        {
            "path": "people.csv",
            "added": ["age"],
            "removed": ["score", "when", "ok"],
            "retyped": [{"name": "id", "old": "integer", "new": "string"}],
        }
    ]


def test_the_file_page_edits_columns_and_keeps_the_input_on_error(team, client):
    dataset = team.dataset()
    item = team.upload(dataset, "people.csv", CSV)
    client.force_login(team.ada)
    url = reverse("datasets:file_edit", args=[item.pk])
    page = client.get(url)
    assert b"Type of score" in page.content and b"inferred" not in page.content
    data = {"path": "people.csv", "description": "People"}
    for i, c in enumerate(item.columns):
        data[f"column_{i}_type"] = c["type"]
        data[f"column_{i}_description"] = f"the {c['name']}"
    data["column_2_type"] = "string"
    response = client.post(url, data)
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.columns[2]["type"] == "string" and item.columns[2]["description"] == "the score"
    data["column_1_type"] = "varchar"
    bad = client.post(url, data)
    assert bad.status_code == 200 and b"Select a valid choice" in bad.content
    assert b"the score" in bad.content


def test_dataset_and_review_pages_show_the_columns(team, client):
    dataset = team.dataset()
    item = team.upload(dataset, "people.csv", CSV)
    edits = [{"type": c["type"], "description": f"about {c['name']}"} for c in item.columns]
    file_services.file_update(item, actor=team.ada, columns=edits)
    client.force_login(team.grace)
    page = client.get(reverse("datasets:dataset_detail", args=[dataset.pk]))
    assert b"5 columns" in page.content and b"about score" in page.content
    submission = team.submit(dataset)
    review = client.get(reverse("datasets:review", args=[submission.pk]))
    assert b"5 columns" in review.content and b"about score" in review.content


@pytest.mark.parametrize(
    "content",
    [
        b"a," * 2_000_000 + b"z\n1\n",  # a very wide header
        b"a," * 5_000 + b"z\n1\n",  # more columns than Wharf describes, in the sample
        b"x" * (300 * 1024) + b"\n1\n",  # one header cell past the sample
        b"a," * 30_000_000,  # a 60 MB line with no end
    ],
    ids=["wide", "many-columns", "long-cell", "one-huge-line"],
)
def test_a_pathological_header_is_refused_quickly_with_a_reason(tmp_path, content):
    import time

    path = tmp_path / "wide.csv"
    path.write_bytes(content)
    started = time.monotonic()
    fields = tabular.inferred_fields("wide.csv", path, "file")
    assert time.monotonic() - started < 10
    assert fields["columns"] == []
    assert fields["columns_error"].startswith("Columns could not be read:")
