"""Citing a published dataset: BibTeX and CITATION.cff with the lab members marked as
creators (ORCID iDs from their profiles), the Kaggle URL and the version."""

import pytest
from django.urls import reverse

from datasets import citation
from datasets.models import JobState, Profile, PublishJob, SubmissionState
from tests.builders import Team

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return Team(tmp_path / "storage")


def publish(team, dataset):
    team.upload(dataset, "buoys.csv", b"buoy\nB1\n")
    submission = team.submit(dataset)
    submission.state = SubmissionState.APPROVED
    submission.save()
    from django.utils import timezone

    PublishJob.objects.create(
        dataset=dataset, submission=submission, state=JobState.PUBLISHED, kaggle_version=1,
        kaggle_url=f"https://www.kaggle.com/datasets/{dataset.ref}", finished_at=timezone.now(),
    )  # fmt: skip
    dataset.latest_version = 1
    dataset.status = "published"
    dataset.save()


def test_creators_with_orcid_are_the_authors_of_both_formats(team, client):
    import yaml

    team.grace.first_name, team.grace.last_name = "Grace", "Hopper & Co"
    team.grace.save()
    Profile.objects.update_or_create(user=team.grace, defaults={"orcid": "0000-0002-1825-0097"})
    dataset = team.dataset(creators=[team.grace.pk, team.ada.pk])
    publish(team, dataset)
    bib = citation.bibtex(dataset)
    assert bib.startswith("@misc{demo_lab_ocean_temps_v1,")
    assert f"author = {{Hopper \\& Co, Grace and {{{team.ada.username}}}}}" in bib
    assert "url = {https://www.kaggle.com/datasets/demo-lab/ocean-temps}" in bib
    assert "version = {1}" in bib
    cff = yaml.safe_load(citation.citation_cff(dataset))
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "dataset"
    assert cff["authors"][0] == {
        "family-names": "Hopper & Co",
        "given-names": "Grace",
        "orcid": "https://orcid.org/0000-0002-1825-0097",
    }
    assert cff["authors"][1] == {"name": team.ada.username}
    assert cff["version"] == "1" and cff["license"] == "CC-BY-4.0"
    client.force_login(team.ada)
    page = client.get(reverse("datasets:dataset_detail", args=[dataset.pk])).content.decode()
    assert "Cite this dataset" in page
    download = client.get(reverse("datasets:dataset_citation_cff", args=[dataset.pk]))
    assert download.status_code == 200 and b"cff-version: 1.2.0" in download.content


def test_without_creators_whoever_registered_it_is_the_author(team):
    dataset = team.dataset()
    publish(team, dataset)
    assert f"{{{team.ada.username}}}" in citation.bibtex(dataset)


def test_an_unpublished_dataset_has_no_citation(team, client):
    dataset = team.dataset()
    assert citation.bibtex(dataset) is None
    client.force_login(team.ada)
    url = reverse("datasets:dataset_citation_bib", args=[dataset.pk])
    assert client.get(url).status_code == 404
