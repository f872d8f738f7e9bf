"""POST /api/v1/datasets/{id}/make-public/ and .../remove-from-kaggle/: engineers only,
confirmed, the same refusals as the web pages. (The worker's side, against the sandbox,
is tests/datasets/test_lifecycle.py.)"""

import pytest

from datasets.models import Dataset, DatasetStatus, Event

from .conftest import api_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def published(team):
    dataset = team.dataset("ocean-published")
    team.upload(dataset)
    Dataset.objects.filter(pk=dataset.pk).update(
        latest_version=2, kaggle_version=3, status=DatasetStatus.PUBLISHED
    )
    dataset.refresh_from_db()
    return dataset


def test_make_public_is_accepted_for_an_engineer_and_recorded(team, published):
    response = api_client(team.grace).post(
        f"/api/v1/datasets/{published.pk}/make-public/", {"confirm": True}, format="json"
    )
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["status"] == "publishing" and body["version_label"] == "v2 · Kaggle v3"
    event = Event.objects.get(dataset=published, action="dataset.make_public.requested")
    assert event.actor == team.grace and event.data["previous_status"] == "published"


def test_make_public_needs_the_confirmation(team, published):
    response = api_client(team.grace).post(f"/api/v1/datasets/{published.pk}/make-public/")
    assert response.status_code == 400 and "confirm" in response.json()
    assert not Event.objects.filter(action="dataset.make_public.requested").exists()


def test_researchers_may_not_change_what_is_on_kaggle(team, published):
    client = api_client(team.ada)
    url = f"/api/v1/datasets/{published.pk}/"
    assert client.post(url + "make-public/", {"confirm": True}, format="json").status_code == 403
    answer = client.post(url + "remove-from-kaggle/", {"confirm": published.ref}, format="json")
    assert answer.status_code == 403


def test_another_labs_dataset_is_not_found(team, rival, published):
    client = api_client(rival.grace)
    answer = client.post(f"/api/v1/datasets/{published.pk}/make-public/", {"confirm": True})
    assert answer.status_code == 404


def test_an_unpublished_or_busy_dataset_is_a_409(team, published):
    client = api_client(team.grace)
    draft = team.dataset("ocean-draft")
    answer = client.post(f"/api/v1/datasets/{draft.pk}/make-public/", {"confirm": True})
    assert answer.status_code == 409 and answer.json()["code"] == "unpublished"
    client.post(f"/api/v1/datasets/{published.pk}/make-public/", {"confirm": True})
    again = client.post(
        f"/api/v1/datasets/{published.pk}/remove-from-kaggle/", {"confirm": published.ref}
    )
    assert again.status_code == 409 and again.json()["code"] == "busy"


def test_remove_from_kaggle_needs_the_ref_typed(team, published):
    client = api_client(team.grace)
    url = f"/api/v1/datasets/{published.pk}/remove-from-kaggle/"
    wrong = client.post(url, {"confirm": "ocean-lab/other"})
    assert wrong.status_code == 400 and "confirm" in wrong.json()
    right = client.post(url, {"confirm": published.ref})
    assert right.status_code == 202
    assert Event.objects.filter(dataset=published, action="dataset.removal.requested").exists()


def test_an_archived_dataset_is_a_409(team, published):
    Dataset.objects.filter(pk=published.pk).update(status=DatasetStatus.ARCHIVED)
    answer = api_client(team.grace).post(
        f"/api/v1/datasets/{published.pk}/remove-from-kaggle/", {"confirm": published.ref}
    )
    assert answer.status_code == 409 and answer.json()["code"] == "archived"


def test_the_web_pages_confirm_before_anything_is_asked(client, team, published):
    client.force_login(team.grace)
    page = client.get(f"/datasets/{published.pk}/make-public/").content.decode()
    assert "cannot be undone" in page
    response = client.post(f"/datasets/{published.pk}/make-public/")
    assert response.status_code == 400
    assert not Event.objects.filter(action="dataset.make_public.requested").exists()
    response = client.post(f"/datasets/{published.pk}/make-public/", {"confirm": "1"})
    assert response.status_code == 302
    assert Event.objects.filter(action="dataset.make_public.requested").exists()
    client.force_login(team.ada)
    assert client.get(f"/datasets/{published.pk}/remove-from-kaggle/").status_code == 403


def test_the_dataset_page_offers_the_actions_to_engineers_only(client, team, published):
    client.force_login(team.grace)
    page = client.get(f"/datasets/{published.pk}/").content.decode()
    assert f"/datasets/{published.pk}/make-public/" in page
    assert f"/datasets/{published.pk}/remove-from-kaggle/" in page
    assert "v2 · Kaggle v3 published" in page
    client.force_login(team.ada)
    page = client.get(f"/datasets/{published.pk}/").content.decode()
    assert "make-public" not in page and "remove-from-kaggle" not in page
    Dataset.objects.filter(pk=published.pk).update(status=DatasetStatus.ARCHIVED)
    page = client.get(f"/datasets/{published.pk}/").content.decode()
    assert "This dataset was removed from Kaggle" in page
