"""PATCH /api/v1/datasets/{id}/files/{file_id}/ with `entry_columns`: a folder's tables
retyped and described by path inside the folder and column name, checked as a file's
`columns` are, through the same service as the web form."""

import pytest

from datasets.models import DatasetStatus, Event
from datasets.services import files, review

from .conftest import api_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def folder(team):
    raw = team.storage / "survey" / "raw"
    raw.mkdir(parents=True)
    (raw / "a.csv").write_text("site,count\nnorth,3\nsouth,4\n")
    (raw / "b.csv").write_text("when,depth\n2024-01-02,1.5\n")
    (team.storage / "survey" / "readme.txt").write_text("Two tables.\n")
    dataset = team.dataset()
    return files.file_add_storage(dataset, actor=team.ada, storage_root=team.root, relpath="survey")


def url(item) -> str:
    return f"/api/v1/datasets/{item.dataset_id}/files/{item.pk}/"


def patch(client, item, body):
    return client.patch(url(item), body, format="json")


def columns(body, path) -> list[tuple]:
    return [(c["name"], c["type"], c["description"]) for c in body["entry_columns"][path]]


def test_a_tables_columns_are_retyped_and_described_by_path_and_name(team, folder):
    response = patch(
        api_client(team.ada),
        folder,
        {
            "entry_columns": {
                "raw/a.csv": [{"name": "count", "type": "number", "description": "Fish"}]
            }
        },
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert columns(body, "raw/a.csv") == [("site", "string", ""), ("count", "number", "Fish")]
    assert body["entry_columns"]["raw/a.csv"][1]["inferred_type"] == "integer"
    assert columns(body, "raw/b.csv") == [("when", "date", ""), ("depth", "number", "")]
    folder.refresh_from_db()
    assert folder.entry_columns["raw/a.csv"][1]["type"] == "number"
    event = Event.objects.filter(action="file.updated").latest("at")
    assert event.data["fields"] == ["entry_columns"] and event.data["entries"] == ["raw/a.csv"]

    # A description left out is kept; an empty one removes it.
    body = patch(
        api_client(team.ada), folder, {"entry_columns": {"raw/a.csv": [{"name": "count"}]}}
    ).json()
    assert columns(body, "raw/a.csv")[1] == ("count", "number", "Fish")
    body = patch(
        api_client(team.ada),
        folder,
        {"entry_columns": {"raw/a.csv": [{"name": "count", "description": ""}]}},
    ).json()
    assert columns(body, "raw/a.csv")[1] == ("count", "number", "")


def test_a_type_that_is_not_a_table_schema_type_is_a_400_and_changes_nothing(team, folder):
    response = patch(
        api_client(team.ada),
        folder,
        {"entry_columns": {"raw/a.csv": [{"name": "count", "type": "varchar"}]}},
    )
    assert response.status_code == 400
    assert "'varchar' is not a Table Schema type." in str(response.json()["entry_columns"])
    folder.refresh_from_db()
    assert folder.entry_columns["raw/a.csv"][1]["type"] == "integer"


def test_an_unknown_column_or_table_is_a_400_that_names_what_there_is(team, folder):
    client = api_client(team.ada)
    response = patch(client, folder, {"entry_columns": {"raw/a.csv": [{"name": "cnt"}]}})
    assert response.status_code == 400
    assert "'raw/a.csv' has no column 'cnt' (its columns: site, count)." in str(response.json())
    response = patch(client, folder, {"entry_columns": {"readme.txt": [{"name": "x"}]}})
    assert response.status_code == 400
    message = str(response.json())
    assert "no table 'readme.txt'" in message and "raw/a.csv, raw/b.csv" in message
    response = patch(client, folder, {"entry_columns": ["raw/a.csv"]})
    assert response.status_code == 400
    response = patch(client, folder, {"entry_columns": {"raw/a.csv": [{"type": "string"}]}})
    assert response.status_code == 400  # a column edit names its column


def test_a_plain_file_has_no_entry_columns(team):
    dataset = team.dataset()
    item = team.upload(dataset)
    response = patch(
        api_client(team.ada), item, {"entry_columns": {"readings.csv": [{"name": "t"}]}}
    )
    assert response.status_code == 400
    assert "is a file, not a folder" in str(response.json())


def test_in_review_the_edit_is_a_409(team, folder):
    dataset = folder.dataset
    dataset.refresh_from_db()
    review.submission_submit(dataset, actor=team.ada, version_notes="First.")
    dataset.refresh_from_db()
    assert dataset.status == DatasetStatus.IN_REVIEW
    response = patch(
        api_client(team.ada),
        folder,
        {"entry_columns": {"raw/a.csv": [{"name": "count", "type": "number"}]}},
    )
    assert response.status_code == 409
    assert "in review" in response.json()["detail"]
    folder.refresh_from_db()
    assert folder.entry_columns["raw/a.csv"][1]["type"] == "integer"


def test_another_labs_folder_is_not_found(team, rival, folder):
    response = patch(
        api_client(rival.grace), folder, {"entry_columns": {"raw/a.csv": [{"name": "count"}]}}
    )
    assert response.status_code == 404
