"""Every published version downloads as a Frictionless Data Package that passes
`frictionless validate` beside the files it describes."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

from datasets.models import JobState, PublishJob, SubmissionState
from datasets.services import files as file_services
from tests.builders import Team

pytestmark = pytest.mark.django_db

FRICTIONLESS = str(Path(sys.executable).with_name("frictionless"))
CSV = b"buoy,temp\nB1,12.5\nB2,11\n"


@pytest.fixture
def team(tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return Team(tmp_path / "storage")


def published(team, dataset):
    """Version 1 as the worker leaves it: approved, a published job with its manifest."""
    import hashlib

    submission = team.submit(dataset, notes="")
    manifest = []
    for entry in submission.files:
        if entry["kind"] == "file":
            data = (
                Path(team.media, entry["upload"]).read_bytes()
                if entry.get("upload")
                else (Path(entry["root_path"], entry["relpath"]).read_bytes())
            )
            digest = hashlib.sha256(data).hexdigest()
            manifest.append({"path": entry["path"], "size": len(data), "sha256": digest})
    submission.state = SubmissionState.APPROVED
    submission.save()
    PublishJob.objects.create(
        dataset=dataset, submission=submission, state=JobState.PUBLISHED, manifest=manifest,
        kaggle_url=f"https://www.kaggle.com/datasets/{dataset.ref}",
    )  # fmt: skip
    return submission


def test_a_version_exports_a_valid_datapackage(team, client, tmp_path, settings):
    team.media = settings.MEDIA_ROOT
    dataset = team.dataset(user_specified_sources="Buoy array B")
    item = team.upload(dataset, "buoys.csv", CSV, "The buoys")
    edits = [{"type": "string", "description": "Buoy code"}, {"type": "number", "description": ""}]
    file_services.file_update(item, actor=team.ada, columns=edits)
    (team.storage / "survey").mkdir()
    (team.storage / "survey" / "q1.csv").write_bytes(b"site,count\nA,3\n")
    team.add_storage(dataset, "survey")
    submission = published(team, dataset)
    client.force_login(team.ada)
    response = client.get(reverse("datasets:version_datapackage", args=[submission.pk]))
    assert response.status_code == 200
    assert 'filename="datapackage.json"' in response["Content-Disposition"]
    package = json.loads(response.content)
    resources = {r["path"]: r for r in package["resources"]}
    assert set(resources) == {"buoys.csv", "survey/q1.csv"}
    assert resources["buoys.csv"]["hash"].startswith("sha256:")
    assert resources["buoys.csv"]["schema"]["fields"][0]["description"] == "Buoy code"
    assert package["sources"] == [{"title": "Buoy array B"}]
    assert package["licenses"] == [{"name": "CC-BY-4.0"}] and package["version"] == "1"

    # Beside the files it describes, Frictionless's own validator accepts it.
    folder = tmp_path / "package"
    (folder / "survey").mkdir(parents=True)
    shutil.copy(item.upload.path, folder / "buoys.csv")
    shutil.copy(team.storage / "survey" / "q1.csv", folder / "survey" / "q1.csv")
    (folder / "datapackage.json").write_bytes(response.content)
    done = subprocess.run(
        [FRICTIONLESS, "validate", "datapackage.json"], cwd=folder, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_an_unpublished_version_has_no_datapackage(team, client):
    dataset = team.dataset()
    team.upload(dataset, "buoys.csv", CSV)
    submission = team.submit(dataset)
    client.force_login(team.ada)
    url = reverse("datasets:version_datapackage", args=[submission.pk])
    assert client.get(url).status_code == 404


def test_another_labs_member_cannot_download_it(team, client, tmp_path, settings):
    from tests.factories import LabFactory, member

    team.media = settings.MEDIA_ROOT
    dataset = team.dataset()
    team.upload(dataset, "buoys.csv", CSV)
    submission = published(team, dataset)
    client.force_login(member(LabFactory()))
    url = reverse("datasets:version_datapackage", args=[submission.pk])
    assert client.get(url).status_code == 404


# --- Starting a dataset from a descriptor on lab storage --------------------------------


def test_the_register_form_is_prefilled_from_a_datapackage_on_storage(team, client):
    (team.storage / "project").mkdir()
    descriptor = {
        "name": "coastal_buoys",
        "title": "Coastal buoy readings",
        "description": "Hourly *readings*.",
        "keywords": ["oceans", "buoys"],
        "licenses": [{"name": "CC0-1.0"}],
        "sources": [{"title": "Buoy array B", "path": "https://example.org/b"}],
    }
    (team.storage / "project" / "datapackage.json").write_text(json.dumps(descriptor))
    client.force_login(team.ada)
    url = reverse("datasets:dataset_create")
    page = client.get(url, {"from_root": team.root.pk, "from_path": "project/datapackage.json"})
    form = page.context["form"]
    assert form.initial["slug"] == "coastal-buoys"
    assert form.initial["title"] == "Coastal buoy readings"
    assert form.initial["license"] == "CC0-1.0"
    assert form.initial["keywords"] == ["oceans", "buoys"]
    assert form.initial["user_specified_sources"] == "Buoy array B https://example.org/b"
    assert "Prefilled" in page.content.decode()
    from datasets.models import Dataset

    assert not Dataset.objects.exists()  # nothing registered until the form is sent


def test_a_kaggle_metadata_download_prefills_too(team):
    from datasets.metadata import initial_from_descriptor

    info = {
        "info": {
            "datasetSlug": "ocean-temps",
            "title": "Ocean temperatures",
            "subtitle": "Daily sea surface readings from buoys",
            "isPrivate": True,
            "licenses": [{"name": "CC-BY-4.0"}],
            "expectedUpdateFrequency": "Weekly",
            "userSpecifiedSources": "Instrument X",
        }
    }
    assert initial_from_descriptor(info) == {
        "slug": "ocean-temps",
        "title": "Ocean temperatures",
        "subtitle": "Daily sea surface readings from buoys",
        "license": "CC-BY-4.0",
        "is_private": True,
        "user_specified_sources": "Instrument X",
        "expected_update_frequency": "weekly",
    }


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("datapackage.json", b"{not json", "not valid JSON"),
        ("notes.json", b"{}", "Choose a datapackage.json"),
        ("datapackage.json", b"[1, 2]", "not an object"),
    ],
)
def test_a_bad_descriptor_prefills_nothing_and_says_why(team, client, name, content, message):
    (team.storage / name).write_bytes(content)
    client.force_login(team.ada)
    page = client.get(
        reverse("datasets:dataset_create"), {"from_root": team.root.pk, "from_path": name}
    )
    assert page.status_code == 200
    assert message in page.content.decode()
    assert "title" not in page.context["form"].initial


def test_a_path_outside_the_root_is_refused(team, client, tmp_path):
    (tmp_path / "datapackage.json").write_text('{"title": "Secret title"}')
    client.force_login(team.ada)
    page = client.get(
        reverse("datasets:dataset_create"),
        {"from_root": team.root.pk, "from_path": "../datapackage.json"},
    )
    assert page.status_code == 200 and "Secret title" not in page.content.decode()
    assert "Nothing was prefilled" in page.content.decode()
