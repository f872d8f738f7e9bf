"""End to end: a CSV's inferred and described columns reach the Kaggle sandbox through
the real worker and the official client, and `kaggle datasets metadata` shows them."""

import json

import pytest

from datasets.models import JobState
from datasets.services import files as file_services
from tests.builders import PublishingTeam, finished
from tests.sandbox.helpers import Client

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def team(tmp_path, kaggle_sandbox, celery_worker):
    kaggle_sandbox.clear_faults()
    return PublishingTeam(tmp_path / "storage")


def test_described_columns_reach_kaggle(team, kaggle_sandbox, tmp_path):
    dataset = team.dataset(slug="columns-reach-kaggle")
    item = team.upload(dataset, "buoys.csv", b"buoy,temp,seen\nB1,12.5,2024-05-01\n", "Buoys")
    edits = [
        {"type": "string", "description": "Buoy code"},
        {"type": "number", "description": "Sea temperature, degrees C"},
        {"type": "datetime", "description": "When it was read"},  # corrected from date
    ]
    file_services.file_update(item, actor=team.ada, columns=edits)
    job = finished(team.approve(team.submit(dataset)))
    assert job.state == JobState.PUBLISHED, job.error_message

    client = Client(kaggle_sandbox, tmp_path / "cli")
    (tmp_path / "cli").mkdir(exist_ok=True)
    done = client.cli("datasets", "metadata", dataset.ref, "-p", "meta")
    assert done.returncode == 0, done.output
    info = json.loads((tmp_path / "cli" / "meta" / "dataset-metadata.json").read_text())["info"]
    (data,) = info["data"]
    assert data["name"] == "buoys.csv"
    assert [(c["name"], c["description"]) for c in data["columns"]] == [
        ("buoy", "Buoy code"),
        ("temp", "Sea temperature, degrees C"),
        ("seen", "When it was read"),
    ]
    # Kaggle's client maps Table Schema types to its own: number -> numeric.
    assert [c["type"] for c in data["columns"]] == ["string", "numeric", "datetime"]
