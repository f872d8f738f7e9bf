"""A folder's description is not lost on Kaggle: Kaggle unpacks the folder's archive into
its files, so the description goes into the dataset description, under "Folders"."""

from pathlib import Path

import pytest
from django.urls import reverse

from datasets import kaggle
from datasets.metadata import FOLDER_CONTENTS, FOLDERS_HEADING, kaggle_metadata
from datasets.models import DatasetFile, JobState
from datasets.services import files as files_service
from tests.builders import PublishingTeam, Team, finished

SURVEY = "Survey answers, one CSV per quarter.\n\nCollected by **field team B**."


def make_survey(root: Path) -> None:
    (root / "survey" / "q1").mkdir(parents=True)
    (root / "survey" / "q1" / "answers.csv").write_text("id,score\n1,4\n")
    (root / "survey" / "readme.txt").write_text("Answers per quarter.\n")


def snapshot(**fields) -> dict:
    return {
        "title": "Ocean survey",
        "owner_slug": "demo-lab",
        "slug": "ocean-survey",
        "license": "CC-BY-4.0",
        "is_private": True,
        "folder_packaging": "zip",
        "description": "Readings from buoys.",
        FOLDER_CONTENTS: True,
        **fields,
    }


def test_a_described_folder_is_added_to_the_dataset_description():
    files = [
        {"path": "buoys.csv", "kind": "file", "description": "The buoys"},
        {"path": "survey", "kind": "folder", "description": SURVEY},
        {"path": "raw", "kind": "folder", "description": "  "},
    ]
    metadata = kaggle_metadata(snapshot(), files)
    assert metadata["description"] == (
        "Readings from buoys.\n\n## Folders\n\nEach folder was uploaded as one .zip archive, "
        "which Kaggle unpacks into the files listed under the folder's name.\n\n"
        f"### `survey/`\n\n{SURVEY}"
    )
    # Files keep their own description (a resource Kaggle lists under that name).
    assert "buoys" not in metadata["description"].split(FOLDERS_HEADING)[1]


def test_without_a_described_folder_the_description_is_the_researchers():
    files = [{"path": "survey", "kind": "folder", "description": ""}]
    assert kaggle_metadata(snapshot(), files)["description"] == "Readings from buoys."
    assert "description" not in kaggle_metadata(snapshot(description=""), files)
    only = kaggle_metadata(snapshot(description=""), [{**files[0], "description": "Q1"}])
    assert only["description"].startswith(FOLDERS_HEADING)


@pytest.mark.django_db
def test_the_submit_and_review_pages_say_where_it_goes(client, tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    team = Team(tmp_path / "storage")
    make_survey(team.storage)
    dataset = team.dataset()
    team.add_storage(dataset, "survey", SURVEY)
    client.force_login(team.ada)
    sentence = 'under "Folders"'
    submit_page = client.get(reverse("datasets:submission_create", args=[dataset.pk]))
    assert sentence in submit_page.content.decode()
    submission = team.submit(dataset)
    review_page = client.get(reverse("datasets:review", args=[submission.pk]))
    assert sentence in review_page.content.decode()
    # The Kaggle metadata shown on the page is what is sent: the section is in it.
    assert "### `survey/`" in review_page.context["metadata_json"]


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_folders_description_reaches_kaggle_and_reads_back_the_same(
    tmp_path, kaggle_sandbox, celery_worker
):
    kaggle_sandbox.clear_faults()
    team = PublishingTeam(tmp_path / "storage")
    make_survey(team.storage)
    dataset = team.dataset(slug="described-folder", keywords=["earth science"])
    team.upload(dataset, "buoys.csv", b"buoy,temp\n1,12.5\n", "The buoys")
    folder = team.add_storage(dataset, "survey", SURVEY)
    credentials = kaggle.credentials_for(team.account)
    ref = "demo-lab/described-folder"

    job = finished(team.approve(team.submit(dataset)))
    assert job.state == JobState.PUBLISHED, job.error_message
    assert job.differences == []
    held = kaggle.dataset_read(credentials, ref)
    assert {"survey/readme.txt", "survey/q1/answers.csv"} <= {f["name"] for f in held["files"]}
    description = held["metadata"]["description"]
    assert description.startswith("Readings from **twelve** buoys.")
    assert f"### `survey/`\n\n{SURVEY}" in description

    # A new folder description alone is a metadata-only publish, and reaches Kaggle too.
    folder = DatasetFile.objects.get(pk=folder.pk)
    files_service.file_update(folder, actor=team.ada, description="Survey answers, cleaned.")
    job = finished(team.approve(team.submit(dataset, notes="Clearer folder description")))
    assert job.state == JobState.PUBLISHED, job.error_message
    assert job.differences == []
    description = kaggle.dataset_read(credentials, ref)["metadata"]["description"]
    assert "### `survey/`\n\nSurvey answers, cleaned." in description
    assert "field team B" not in description
