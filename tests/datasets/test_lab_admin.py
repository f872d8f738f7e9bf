"""Lab administration from the portal: members, roles, invitations, labs."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse

from datasets.models import Event, Invitation, Lab, Membership, Role
from datasets.services.errors import Conflict, Forbidden, ServiceError
from datasets.services.labs import (
    invitation_accept,
    invitation_create,
    lab_create,
    member_add_by_username,
    member_remove,
    member_set_role,
)
from tests.builders import Team
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.STORAGE_ROOTS_ALLOWED_UNDER = [str(tmp_path)]
    return Team(tmp_path / "storage")


def membership(team, user):
    return Membership.objects.get(lab=team.lab, user=user)


def test_an_engineer_adds_an_existing_user_from_the_lab_page(client, team):
    newcomer = UserFactory(username="katherine")
    client.force_login(team.grace)
    response = client.post(
        reverse("datasets:member_add", args=[team.lab.slug]),
        {"username": "Katherine", "role": Role.RESEARCHER},
    )
    assert response.status_code == 302
    assert membership(team, newcomer).role == Role.RESEARCHER
    event = Event.objects.get(action="member.added")
    assert event.actor == team.grace and event.data["username"] == "katherine"
    page = client.get(reverse("datasets:lab_settings", args=[team.lab.slug])).content.decode()
    assert f"{team.grace.username} added katherine as researcher." in page


def test_adding_someone_unknown_says_to_invite_them_and_changes_nothing(client, team):
    client.force_login(team.grace)
    response = client.post(
        reverse("datasets:member_add", args=[team.lab.slug]),
        {"username": "nobody-here", "role": Role.RESEARCHER},
    )
    assert response.status_code == 200
    assert "Invite them by e-mail" in response.content.decode()
    assert team.lab.memberships.count() == 2


def test_a_researcher_may_not_add_members(client, team):
    UserFactory(username="katherine")
    client.force_login(team.ada)
    response = client.post(
        reverse("datasets:member_add", args=[team.lab.slug]),
        {"username": "katherine", "role": Role.ENGINEER},
    )
    assert response.status_code == 403
    assert not Membership.objects.filter(user__username="katherine").exists()
    with pytest.raises(Forbidden):
        member_add_by_username(team.lab, actor=team.ada, username="katherine", role="engineer")


def test_changing_a_role_is_kept_in_the_history(client, team):
    client.force_login(team.grace)
    response = client.post(
        reverse("datasets:member_role", args=[membership(team, team.ada).pk]),
        {"role": Role.ENGINEER},
    )
    assert response.status_code == 302
    assert membership(team, team.ada).role == Role.ENGINEER
    event = Event.objects.get(action="member.role_changed")
    assert (event.data["from"], event.data["to"]) == ("researcher", "engineer")


def test_the_last_engineer_cannot_be_demoted_or_removed(team):
    grace = membership(team, team.grace)
    with pytest.raises(Conflict, match="last data engineer"):
        member_set_role(grace, actor=team.grace, role=Role.RESEARCHER)
    with pytest.raises(Conflict, match="last data engineer"):
        member_remove(grace, actor=team.grace)
    assert membership(team, team.grace).role == Role.ENGINEER


def test_removing_a_member_keeps_what_they_did(client, team):
    dataset = team.dataset(slug="kept-after-leaving")
    client.force_login(team.grace)
    response = client.post(reverse("datasets:member_remove", args=[membership(team, team.ada).pk]))
    assert response.status_code == 302
    assert not Membership.objects.filter(lab=team.lab, user=team.ada).exists()
    assert Event.objects.filter(dataset=dataset, action="dataset.created").exists()
    assert Event.objects.get(action="member.removed").data["username"] == team.ada.username
    # Out of the lab, out of its pages.
    client.force_login(team.ada)
    assert client.get(reverse("datasets:dataset_detail", args=[dataset.pk])).status_code == 404


def test_an_invitation_link_makes_an_account_and_works_once(
    client, team, settings, django_capture_on_commit_callbacks
):
    settings.WHARF_BASE_URL = "http://wharf.example:8123"
    client.force_login(team.grace)
    with pytest.MonkeyPatch.context() as mp:
        sent = []
        mp.setattr("datasets.services.labs._mail", lambda inv, body: sent.append(body))
        with django_capture_on_commit_callbacks(execute=True):
            with_commit = client.post(
                reverse("datasets:invitation_create", args=[team.lab.slug]),
                {"email": "mary@lab.example", "role": Role.RESEARCHER},
            )
    assert with_commit.status_code == 302
    invitation = Invitation.objects.get(email="mary@lab.example")
    assert len(invitation.token_hash) == 64
    link = re.search(r"http://wharf\.example:8123(/invitations/accept/[^/]+/)", sent[0])
    assert link, sent
    path = link.group(1)
    client.logout()
    assert "Create my account and join" in client.get(path).content.decode()
    response = client.post(
        path,
        {"name": "Mary", "username": "mary", "password1": "a-long-pass-9x",
         "password2": "a-long-pass-9x"},
    )  # fmt: skip
    assert response.status_code == 302
    mary = get_user_model().objects.get(username="mary")
    assert mary.email == "mary@lab.example"
    assert membership(team, mary).role == Role.RESEARCHER
    assert Event.objects.filter(action="member.joined", actor=mary).exists()
    client.logout()
    again = client.get(path)
    assert again.status_code == 404
    assert "works once" in again.content.decode()


def test_an_invitation_is_e_mailed_after_the_commit(team, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        _invitation, token = invitation_create(
            team.lab, actor=team.grace, email="alan@lab.example", role=Role.ENGINEER
        )
    assert callbacks, "the e-mail is sent only once the invitation is committed"
    alan = UserFactory(username="alan")
    joined = invitation_accept(token, user=alan)
    assert joined.role == Role.ENGINEER
    with pytest.raises(Conflict):
        invitation_accept(token, user=UserFactory())
    assert not mail.outbox or "alan" in mail.outbox[0].to[0]


def test_a_withdrawn_invitation_no_longer_works(client, team):
    invitation, token = invitation_create(
        team.lab, actor=team.grace, email="x@lab.example", role=Role.RESEARCHER
    )
    client.force_login(team.grace)
    assert (
        client.post(reverse("datasets:invitation_revoke", args=[invitation.pk])).status_code == 302
    )
    client.force_login(UserFactory())
    response = client.post(reverse("datasets:invitation_accept", args=[token]))
    assert response.status_code == 404
    assert "withdrawn" in response.content.decode()


def test_a_bad_invitation_address_is_refused_on_the_form(client, team):
    client.force_login(team.grace)
    response = client.post(
        reverse("datasets:invitation_create", args=[team.lab.slug]),
        {"email": "not-an-address", "role": Role.RESEARCHER},
    )
    assert response.status_code == 200
    assert not Invitation.objects.exists()


def test_only_superusers_create_labs(client, team):
    client.force_login(team.grace)
    assert client.get(reverse("datasets:lab_create")).status_code == 403
    admin = UserFactory(is_superuser=True, is_staff=True)
    client.force_login(admin)
    response = client.post(reverse("datasets:lab_create"), {"name": "Bird Song Lab"})
    assert response.status_code == 302
    lab = Lab.objects.get(name="Bird Song Lab")
    assert response["Location"] == reverse("datasets:lab_settings", args=[lab.slug])
    with pytest.raises(ServiceError):
        lab_create(actor=admin, name="Bird Song Lab")
    with pytest.raises(Forbidden):
        lab_create(actor=team.grace, name="Another")


def test_researchers_see_members_but_no_controls(client, team):
    client.force_login(team.ada)
    page = client.get(reverse("datasets:lab_settings", args=[team.lab.slug])).content.decode()
    assert team.grace.username in page
    assert "Change role" not in page and "Send invitation" not in page
    assert PASSWORD  # factories' password is what the browser tests log in with
