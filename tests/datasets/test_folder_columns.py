"""The columns of the tables inside a folder: described and retyped by the researcher
(one table's form, from the folder's entries), and sent to Kaggle by the metadata update
after each version under the names Kaggle gives the unpacked files (Kaggle unpacks the
folder's archive afresh on every version, without columns)."""

from pathlib import Path

import pytest
from django.urls import reverse

from datasets import kaggle, reconcile
from datasets.metadata import (
    FOLDER_CONTENTS,
    kaggle_metadata,
    member_resources,
    update_after_every_version,
)
from datasets.models import DatasetFile, Event, JobPlan, JobState
from datasets.services import files as files_service
from datasets.services.errors import ServiceError
from tests.builders import PublishingTeam, Team, finished

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def make_survey(root: Path) -> None:
    (root / "survey" / "raw").mkdir(parents=True)
    (root / "survey" / "raw" / "a.csv").write_text("site,count\nnorth,3\nsouth,4\n")
    (root / "survey" / "raw" / "b.csv").write_text("when,depth\n2024-01-02,1.5\n2024-01-03,2\n")
    (root / "survey" / "readme.txt").write_text("Two tables.\n")


def names_types(fields) -> list[tuple[str, str]]:
    return [(f["name"], f["type"]) for f in fields]


# --- what Kaggle is sent (pure) -------------------------------------------------------


SNAPSHOT = {
    "title": "Ocean survey",
    "owner_slug": "demo-lab",
    "slug": "ocean-survey",
    "license": "CC-BY-4.0",
    "is_private": True,
    "folder_packaging": "tar",
    FOLDER_CONTENTS: True,
}
COLUMNS = [
    {"name": "site", "type": "string", "inferred_type": "string", "description": "Buoy"},
    {"name": "count", "type": "number", "inferred_type": "integer", "description": ""},
]
FOLDER = {
    "path": "survey",
    "kind": "folder",
    "description": "",
    "entry_columns": {"raw/a.csv": COLUMNS, "raw/broken.csv": []},
}


def test_each_described_table_of_a_folder_gets_a_resource_under_its_unpacked_name():
    metadata = kaggle_metadata(SNAPSHOT, [FOLDER, {"path": "x.txt", "kind": "file"}])
    assert metadata["resources"] == [
        {"path": "survey.tar", "description": ""},
        {
            "path": "survey/raw/a.csv",
            "description": "",
            "schema": {
                "fields": [
                    {"name": "site", "type": "string", "description": "Buoy"},
                    {"name": "count", "type": "number", "description": ""},
                ]
            },
        },
        {"path": "x.txt", "description": ""},
    ]  # (a table whose columns could not be read has nothing to describe)


def test_only_a_folder_with_described_tables_needs_the_update_after_every_version():
    assert update_after_every_version(SNAPSHOT, [FOLDER])
    no_columns = {**FOLDER, "entry_columns": {"raw/a.csv": []}}
    assert not update_after_every_version(SNAPSHOT, [no_columns])
    plain = {"path": "a.csv", "kind": "file", "columns": COLUMNS}
    assert not update_after_every_version(SNAPSHOT, [plain])
    odd = {"path": "a.csv", "kind": "file", "entry_columns": {"x": COLUMNS}}
    assert member_resources(odd, SNAPSHOT) == []


def test_a_version_approved_before_folder_contents_were_described_keeps_what_was_approved():
    """A snapshot frozen by an older Wharf: its reviewer approved metadata without the
    tables' resources and without the Folders section. Re-publishing it sends that, and
    its read-back expects that: no false "Kaggle was edited" for it."""
    older = {k: v for k, v in SNAPSHOT.items() if k != FOLDER_CONTENTS}
    folder = {**FOLDER, "description": "One file per buoy."}
    metadata = kaggle_metadata({**older, "description": "Counts."}, [folder])
    assert [r["path"] for r in metadata["resources"]] == ["survey.tar"]
    assert metadata["description"] == "Counts."
    assert not update_after_every_version(older, [folder])
    now = kaggle_metadata({**SNAPSHOT, "description": "Counts."}, [folder])
    assert len(now["resources"]) > 1 and "## Folders" in now["description"]


def read(resources, names) -> dict:
    return {
        "exists": True,
        "files": [{"name": n, "size": None} for n in names],
        "metadata": {**kaggle_metadata(SNAPSHOT, [FOLDER]), "resources": resources},
    }


def test_the_read_back_says_when_kaggle_lacks_or_changed_a_tables_columns():
    names = ["survey/raw/a.csv"]
    expected = kaggle_metadata(SNAPSHOT, [FOLDER])["resources"]
    assert reconcile.differences(SNAPSHOT, [FOLDER], [], read(expected, names)) == []
    bare = [{"path": "survey/raw/a.csv", "description": ""}]
    assert reconcile.differences(SNAPSHOT, [FOLDER], [], read(bare, names)) == [
        "Kaggle shows no columns for survey/raw/a.csv; they were described."
    ]
    fields = [{"name": "site", "type": "string", "description": "Buoy"},
              {"name": "count", "type": "integer"}]  # fmt: skip
    retyped = [{"path": "survey/raw/a.csv", "schema": {"fields": fields}}]
    assert reconcile.differences(SNAPSHOT, [FOLDER], [], read(retyped, names)) == [
        "Kaggle shows other columns than were approved for survey/raw/a.csv."
    ]


# --- editing a table's columns ----------------------------------------------------------


@pytest.fixture
def team(tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return Team(tmp_path / "storage")


@pytest.fixture
def folder(team):
    make_survey(team.storage)
    dataset = team.dataset()
    return team.add_storage(dataset, "survey", "Two tables.")


def columns_url(folder, entry="raw/a.csv") -> str:
    return reverse("datasets:file_entry_columns", args=[folder.pk]) + f"?entry={entry}"


def test_the_folder_listing_links_each_table_to_its_columns_form(client, team, folder):
    client.force_login(team.ada)
    html = client.get(reverse("datasets:file_entries", args=[folder.pk]), **HTMX)
    html = html.content.decode()
    base = reverse("datasets:file_entry_columns", args=[folder.pk])
    assert f'href="{base}?entry=raw/a.csv"' in html and f'href="{base}?entry=raw/b.csv"' in html
    assert html.count("Edit columns") == 2  # not for readme.txt

    # A version's frozen listing is what was approved: nothing to edit there.
    submission = team.submit(folder.dataset)
    frozen = reverse("datasets:submission_entries", args=[submission.pk]) + "?folder=survey"
    assert "Edit columns" not in client.get(frozen, **HTMX).content.decode()
    # And while in review the live listing offers no edit either.
    live = client.get(reverse("datasets:file_entries", args=[folder.pk]), **HTMX)
    assert "Edit columns" not in live.content.decode()


def test_a_researcher_retypes_and_describes_a_tables_columns(client, team, folder):
    client.force_login(team.ada)
    page = client.get(columns_url(folder))
    assert page.status_code == 200
    html = page.content.decode()
    assert "survey/raw/a.csv" in html and "Type of count" in html
    response = client.post(
        columns_url(folder),
        {
            "column_0_type": "string",
            "column_0_description": "Buoy site",
            "column_1_type": "number",
            "column_1_description": "Fish counted",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("datasets:dataset_detail", args=[folder.dataset_id])
    folder.refresh_from_db()
    a = folder.entry_columns["raw/a.csv"]
    assert [(c["name"], c["type"], c["inferred_type"], c["description"]) for c in a] == [
        ("site", "string", "string", "Buoy site"),
        ("count", "number", "integer", "Fish counted"),
    ]
    assert names_types(folder.entry_columns["raw/b.csv"]) == [("when", "date"), ("depth", "number")]
    event = Event.objects.filter(action="file.updated").latest("at")
    assert event.data == {"path": "survey", "fields": ["entry_columns"], "entries": ["raw/a.csv"]}
    # What the dataset would send now carries it.
    metadata = kaggle_metadata(
        {**SNAPSHOT, "folder_packaging": "zip"},
        [{**FOLDER, **{"entry_columns": folder.entry_columns}}],
    )
    sent = next(r for r in metadata["resources"] if r["path"] == "survey/raw/a.csv")
    assert names_types(sent["schema"]["fields"]) == [("site", "string"), ("count", "number")]


def test_a_type_that_is_not_a_table_schema_type_is_refused(client, team, folder):
    client.force_login(team.ada)
    response = client.post(
        columns_url(folder), {"column_0_type": "varchar", "column_1_type": "integer"}
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    folder.refresh_from_db()
    assert names_types(folder.entry_columns["raw/a.csv"]) == [
        ("site", "string"),
        ("count", "integer"),
    ]


def test_an_unknown_table_or_a_plain_file_is_a_404(client, team, folder):
    client.force_login(team.ada)
    assert client.get(columns_url(folder, "readme.txt")).status_code == 404
    assert client.get(columns_url(folder, "raw/nope.csv")).status_code == 404
    assert client.get(reverse("datasets:file_entry_columns", args=[folder.pk])).status_code == 404
    item = team.upload(folder.dataset, "t.csv", b"a,b\n1,2\n")
    assert client.get(columns_url(item, "t.csv")).status_code == 404


def test_in_review_the_columns_cannot_change(client, team, folder):
    team.submit(folder.dataset)
    client.force_login(team.ada)
    response = client.post(
        columns_url(folder), {"column_0_type": "string", "column_1_type": "string"}
    )
    assert response.status_code == 302
    messages = [str(m) for m in response.wsgi_request._messages]
    assert messages == ["The dataset cannot be changed now: it is in review; withdraw the "
                        "submission to edit it."]  # fmt: skip
    folder.refresh_from_db()
    assert folder.entry_columns["raw/a.csv"][1]["type"] == "integer"
    with pytest.raises(ServiceError, match="in review"):
        files_service.file_update(
            folder, actor=team.ada, entry_columns={"raw/a.csv": [{}, {"type": "string"}]}
        )


def test_the_service_refuses_a_table_the_folder_does_not_have_or_a_changed_column_list(
    team, folder
):
    with pytest.raises(ServiceError, match=r"no table 'raw/c\.csv'.*raw/a\.csv, raw/b\.csv"):
        files_service.file_update(folder, actor=team.ada, entry_columns={"raw/c.csv": [{}]})
    with pytest.raises(ServiceError, match=r"raw/a\.csv: The column list changed"):
        files_service.file_update(folder, actor=team.ada, entry_columns={"raw/a.csv": [{}]})


# --- against the sandbox ------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_folders_table_columns_reach_kaggle_and_survive_the_next_version(
    tmp_path, kaggle_sandbox, celery_worker
):
    kaggle_sandbox.clear_faults()
    team = PublishingTeam(tmp_path / "storage")
    make_survey(team.storage)
    dataset = team.dataset(slug="folder-columns", keywords=["earth science"])
    folder = team.add_storage(dataset, "survey", "Two tables.")
    edits = [{"description": "Buoy site"}, {"type": "number", "description": "Fish counted"}]
    files_service.file_update(folder, actor=team.ada, entry_columns={"raw/a.csv": edits})
    credentials = kaggle.credentials_for(team.account)
    ref = "demo-lab/folder-columns"

    def columns_on_kaggle() -> dict:
        resources = kaggle.dataset_read(credentials, ref)["metadata"]["resources"]
        return {
            r["path"]: [
                (f["name"], f["type"], f.get("description") or "") for f in r["schema"]["fields"]
            ]
            for r in resources
            if r.get("schema")
        }

    expected = {
        "survey/raw/a.csv": [("site", "string", "Buoy site"), ("count", "number", "Fish counted")],
        "survey/raw/b.csv": [("when", "date", ""), ("depth", "number", "")],
    }
    job = finished(team.approve(team.submit(dataset)))
    assert job.state == JobState.PUBLISHED, job.error_message
    assert job.plan == JobPlan.VERSION_METADATA  # a create says nothing of unpacked files
    assert job.differences == []
    assert columns_on_kaggle() == expected

    # A second version with the same folder: Kaggle unpacks it afresh, without columns;
    # the update after it describes the tables again.
    team.upload(dataset, "notes.txt", b"A second version.\n")
    job = finished(team.approve(team.submit(dataset, notes="Notes added")))
    assert job.state == JobState.PUBLISHED, job.error_message
    assert job.plan == JobPlan.VERSION_METADATA
    assert job.metadata_updated_at is not None
    assert job.differences == []
    assert columns_on_kaggle() == expected
    assert DatasetFile.objects.get(pk=folder.pk).entry_columns["raw/a.csv"][1]["type"] == "number"
