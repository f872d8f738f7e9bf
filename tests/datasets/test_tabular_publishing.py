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


def test_sources_frequency_and_collaborators_reach_kaggle(team, kaggle_sandbox, tmp_path):
    from datasets.models import Profile
    from datasets.services import datasets as dataset_services
    from tests.conftest import SECRET_PROBE_USER

    dataset = team.dataset(slug="provenance-reaches-kaggle")
    team.upload(dataset, "buoys.csv", b"buoy,temp\nB1,12.5\n", "Buoys")
    job = finished(team.approve(team.submit(dataset)))
    assert job.state == JobState.PUBLISHED, job.error_message
    # A metadata-only change: Kaggle takes these only through UpdateDatasetMetadata.
    Profile.objects.update_or_create(
        user=team.grace, defaults={"kaggle_username": SECRET_PROBE_USER}
    )
    dataset.refresh_from_db()
    dataset_services.dataset_update(
        dataset,
        actor=team.ada,
        user_specified_sources="Buoy array B (https://example.org/buoys)",
        expected_update_frequency="weekly",
        collaborators=[{"username": SECRET_PROBE_USER, "role": "reader"}],
    )
    job = finished(team.approve(team.submit(dataset, notes="Sources and cadence")))
    assert job.state == JobState.PUBLISHED, job.error_message

    client = Client(kaggle_sandbox, tmp_path / "cli")
    (tmp_path / "cli").mkdir(exist_ok=True)
    done = client.cli("datasets", "metadata", dataset.ref, "-p", "meta")
    assert done.returncode == 0, done.output
    info = json.loads((tmp_path / "cli" / "meta" / "dataset-metadata.json").read_text())["info"]
    assert info["userSpecifiedSources"] == "Buoy array B (https://example.org/buoys)"
    assert info["expectedUpdateFrequency"] == "weekly"
    assert [(c["username"], c["role"].lower()) for c in info["collaborators"]] == [
        (SECRET_PROBE_USER, "reader")
    ]


def test_the_cover_image_reaches_kaggle_with_its_two_crops(team, kaggle_sandbox):
    import io

    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image

    from datasets import cover
    from datasets.services import datasets as dataset_services
    from tests.sandbox.helpers import rpc_calls

    dataset = team.dataset(slug="cover-reaches-kaggle")
    team.upload(dataset, "buoys.csv", b"buoy,temp\nB1,12.5\n", "Buoys")
    assert finished(team.approve(team.submit(dataset))).state == JobState.PUBLISHED
    out = io.BytesIO()
    Image.new("RGB", (900, 500), (10, 90, 200)).save(out, format="PNG")
    image = cover.cover_sanitise(SimpleUploadedFile("c.png", out.getvalue()))
    dataset.refresh_from_db()
    since = len(kaggle_sandbox.request_log())
    dataset_services.dataset_update(dataset, actor=team.ada, cover_image=image)
    job = finished(team.approve(team.submit(dataset, notes="A cover")))
    assert job.state == JobState.PUBLISHED, job.error_message
    (call,) = rpc_calls(kaggle_sandbox, "UpdateDatasetMetadata", since)
    sent = call["body"]["settings"]["image"]
    assert sent["token"]
    # (Zero values are left out on the wire.)
    crops = sent["cropRectangles"]
    assert [(r.get("left", 0), r["width"], r["height"]) for r in crops] == [
        (0, 560, 280),
        (140, 280, 280),
    ]


def test_a_real_worker_runs_the_data_checks_and_review_shows_them(team, settings, client):
    from django.urls import reverse

    from datasets.models import Submission
    from tests.conftest import wait_until

    settings.WHARF_DATA_CHECK_INLINE_MAX_BYTES = 10  # this version goes to the worker
    dataset = team.dataset(slug="data-checks-by-worker")
    bad = b"station,temp\n" + b"OSL,1.5\n" * 30 + b"BGO\nTRD,warm\n"
    team.upload(dataset, "readings.csv", bad)
    submission = team.submit(dataset)
    assert submission.data_checks["state"] == "pending"

    def checked():
        return Submission.objects.get(pk=submission.pk).data_checks["state"] == "done"

    wait_until(checked, timeout=60, message="the worker did not run the data checks")
    client.force_login(team.grace)
    page = client.get(reverse("datasets:review", args=[submission.pk])).content.decode()
    assert "row 32, column temp: the row has fewer cells than the header" in page
    assert "row 33, column temp: the value does not fit the column&#x27;s type" in page
