"""Lab administration through the API: /api/v1/labs/{id}/members/, .../storage-roots/,
.../kaggle-accounts/ (the same services as the lab page)."""

import pytest

from datasets.models import Event, Invitation, KaggleAccount, Membership, Role, StorageRoot
from tests.factories import UserFactory

from .conftest import api_client

pytestmark = pytest.mark.django_db


def url(team, what, pk=None):
    base = f"/api/v1/labs/{team.lab.pk}/{what}/"
    return base if pk is None else f"{base}{pk}/"


def test_an_engineer_adds_a_member_and_changes_their_role(team):
    UserFactory(username="katherine")
    grace = api_client(team.grace)
    response = grace.post(url(team, "members"), {"username": "katherine", "role": "researcher"})
    assert response.status_code == 201, response.json()
    member_id = response.json()["id"]
    response = grace.patch(url(team, "members", member_id), {"role": "engineer"})
    assert response.status_code == 200
    assert response.json()["role"] == "engineer"
    assert Membership.objects.get(pk=member_id).role == Role.ENGINEER
    listed = {m["username"]: m["role"] for m in grace.get(url(team, "members")).json()}
    assert listed["katherine"] == "engineer"


def test_an_e_mail_address_sends_an_invitation_not_a_link(team):
    response = api_client(team.grace).post(
        url(team, "members"), {"email": "mary@lab.example", "role": "researcher"}
    )
    assert response.status_code == 202
    body = response.json()
    assert body["email"] == "mary@lab.example"
    assert "token" not in body and "url" not in body  # the link goes to the invitee only
    assert Invitation.objects.filter(lab=team.lab, email="mary@lab.example").exists()


def test_username_and_email_together_are_refused(team):
    response = api_client(team.grace).post(
        url(team, "members"), {"username": "x", "email": "x@lab.example"}
    )
    assert response.status_code == 400


def test_a_researcher_reads_members_but_cannot_change_them(team):
    ada = api_client(team.ada)
    assert ada.get(url(team, "members")).status_code == 200
    grace_id = Membership.objects.get(lab=team.lab, user=team.grace).pk
    assert ada.delete(url(team, "members", grace_id)).status_code == 403
    assert ada.post(url(team, "storage-roots"), {"name": "x", "path": "/tmp"}).status_code == 403
    assert Membership.objects.filter(pk=grace_id).exists()


def test_removing_the_last_engineer_is_a_conflict(team):
    grace_id = Membership.objects.get(lab=team.lab, user=team.grace).pk
    response = api_client(team.grace).delete(url(team, "members", grace_id))
    assert response.status_code == 409
    assert "last data engineer" in response.json()["detail"]


def test_another_labs_members_are_not_found(team, rival):
    response = api_client(team.grace).get(f"/api/v1/labs/{rival.lab.pk}/members/")
    assert response.status_code == 404


def test_a_storage_root_is_registered_and_removed(team, tmp_path, settings):
    folder = team.storage / "seabirds"
    folder.mkdir()
    grace = api_client(team.grace)
    response = grace.post(url(team, "storage-roots"), {"name": "Seabirds", "path": str(folder)})
    assert response.status_code == 201, response.json()
    root_id = response.json()["id"]
    assert grace.delete(url(team, "storage-roots", root_id)).status_code == 204
    assert not StorageRoot.objects.filter(pk=root_id).exists()
    assert Event.objects.filter(action="storage_root.deleted").exists()


def test_a_storage_root_outside_the_allowed_folders_is_refused_with_the_reason(team):
    response = api_client(team.grace).post(
        url(team, "storage-roots"), {"name": "Etc", "path": "/etc"}
    )
    assert response.status_code == 400
    assert "path" in response.json()


def test_a_kaggle_account_is_added_and_its_secret_never_comes_back(team):
    grace = api_client(team.grace)
    secret = "kaggle-api-key-0987654321"
    response = grace.post(
        url(team, "kaggle-accounts"),
        {"owner_slug": "seabird-lab", "username": "grace-k", "secret": secret},
    )
    assert response.status_code == 201, response.json()
    assert secret not in response.content.decode()
    assert response.json()["masked_secret"].endswith("4321")
    listed = grace.get(url(team, "kaggle-accounts"))
    assert secret not in listed.content.decode()
    account = KaggleAccount.objects.get(owner_slug="seabird-lab")
    assert grace.delete(url(team, "kaggle-accounts", account.pk)).status_code == 204
