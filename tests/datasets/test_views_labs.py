"""Lab settings: engineers manage Kaggle accounts and storage roots; researchers look."""

import pytest
from django.urls import reverse

from datasets.models import KaggleAccount, Profile, StorageRoot
from tests.builders import Team

pytestmark = pytest.mark.django_db

SECRET = "kaggle-secret-key-9876"


@pytest.fixture
def team(tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.STORAGE_ROOTS_ALLOWED_UNDER = [str(tmp_path)]
    return Team(tmp_path / "storage")


def test_an_engineer_adds_an_account_whose_secret_is_never_shown(client, team):
    client.force_login(team.grace)
    response = client.post(
        reverse("datasets:account_add", args=[team.lab.slug]),
        {
            "owner_slug": "bird-lab",
            "username": "grace-k",
            "credential_kind": "key",
            "secret": SECRET,
        },
        follow=True,
    )
    html = response.content.decode()
    assert "Added the Kaggle account bird-lab" in html
    assert SECRET not in html and "••••9876" in html
    account = KaggleAccount.objects.get(owner_slug="bird-lab")
    assert SECRET not in account.secret_encrypted


def test_a_bad_account_keeps_what_was_typed_but_not_the_secret(client, team):
    client.force_login(team.grace)
    response = client.post(
        reverse("datasets:account_add", args=[team.lab.slug]),
        {"owner_slug": "bad owner!", "username": "grace-k", "credential_kind": "key",
         "secret": SECRET},
    )  # fmt: skip
    assert response.status_code == 200
    assert "owner_slug" in response.context["account_form"].errors
    html = response.content.decode()
    assert 'value="bad owner!"' in html and 'value="grace-k"' in html
    assert SECRET not in html


def test_a_duplicate_owner_is_refused_on_its_field(client, team):
    client.force_login(team.grace)
    response = client.post(
        reverse("datasets:account_add", args=[team.lab.slug]),
        {"owner_slug": team.account.owner_slug, "username": "x-user", "credential_kind": "key",
         "secret": SECRET},
    )  # fmt: skip
    assert response.status_code == 200
    assert "already has an account" in response.context["account_form"].errors["owner_slug"][0]


def test_researchers_see_settings_read_only_and_cannot_change_them(client, team):
    client.force_login(team.ada)
    page = client.get(reverse("datasets:lab_settings", args=[team.lab.slug]))
    html = page.content.decode()
    assert page.status_code == 200
    assert "Read-only" in html and team.account.owner_slug in html
    assert "Test connection" not in html and "Add a Kaggle account" not in html
    attempts = [
        (reverse("datasets:account_add", args=[team.lab.slug]), {"owner_slug": "x-lab"}),
        (reverse("datasets:account_secret", args=[team.account.pk]), {"secret": SECRET}),
        (reverse("datasets:account_test", args=[team.account.pk]), {}),
        (reverse("datasets:account_delete", args=[team.account.pk]), {}),
        (reverse("datasets:storageroot_add", args=[team.lab.slug]), {"name": "x", "path": "/"}),
        (reverse("datasets:storageroot_delete", args=[team.root.pk]), {}),
    ]
    for url, data in attempts:
        response = client.post(url, data)
        assert response.status_code == 403, url
        assert "Only data engineers" in response.content.decode()
    assert KaggleAccount.objects.count() == 1 and StorageRoot.objects.count() == 1


def test_another_labs_settings_are_not_found(client, team, tmp_path):
    rival = Team(tmp_path / "rival", owner="rival-lab")
    client.force_login(team.grace)
    assert client.get(reverse("datasets:lab_settings", args=[rival.lab.slug])).status_code == 404
    for url in (
        reverse("datasets:account_test", args=[rival.account.pk]),
        reverse("datasets:account_delete", args=[rival.account.pk]),
        reverse("datasets:storageroot_delete", args=[rival.root.pk]),
        reverse("datasets:account_add", args=[rival.lab.slug]),
    ):
        assert client.post(url).status_code == 404, url
    assert (
        client.get(reverse("datasets:account_secret", args=[rival.account.pk])).status_code == 404
    )


def test_test_connection_reports_the_outcome(client, team, monkeypatch):
    import datasets.kaggle

    calls = []

    def fake_test(account):
        calls.append(account.pk)
        return False, "Kaggle answered 401: the key was refused."

    monkeypatch.setattr(datasets.kaggle, "test_connection", fake_test)
    client.force_login(team.grace)
    response = client.post(reverse("datasets:account_test", args=[team.account.pk]), follow=True)
    html = response.content.decode()
    assert calls == [team.account.pk]
    assert "connection failed" in html and "the key was refused" in html
    team.account.refresh_from_db()
    assert team.account.last_test_ok is False


def test_setting_a_new_secret(client, team):
    client.force_login(team.grace)
    url = reverse("datasets:account_secret", args=[team.account.pk])
    assert client.get(url).status_code == 200
    short = client.post(url, {"credential_kind": "key", "secret": "abc"})
    assert short.status_code == 200
    assert "exactly as Kaggle shows it" in short.content.decode()
    response = client.post(url, {"credential_kind": "token", "secret": "new-token-5555"})
    assert response.status_code == 302
    team.account.refresh_from_db()
    assert (team.account.secret_last4, team.account.credential_kind) == ("5555", "token")


def test_an_account_in_use_cannot_be_deleted(client, team):
    team.dataset()
    client.force_login(team.grace)
    response = client.post(reverse("datasets:account_delete", args=[team.account.pk]), follow=True)
    assert "Datasets publish under this account" in response.content.decode()
    assert KaggleAccount.objects.filter(pk=team.account.pk).exists()


def test_storage_roots_are_added_and_bad_paths_refused(client, team, tmp_path):
    (tmp_path / "cluster").mkdir()
    client.force_login(team.grace)
    url = reverse("datasets:storageroot_add", args=[team.lab.slug])
    bad = client.post(url, {"name": "Etc", "path": "/etc"})
    assert bad.status_code == 200
    assert "Storage roots must be inside" in bad.context["root_form"].errors["path"][0]
    assert 'value="/etc"' in bad.content.decode()
    relative = client.post(url, {"name": "Rel", "path": "cluster"})
    assert "absolute path" in relative.context["root_form"].errors["path"][0]
    good = client.post(url, {"name": "Cluster", "path": str(tmp_path / "cluster")})
    assert good.status_code == 302
    root = StorageRoot.objects.get(name="Cluster")
    response = client.post(reverse("datasets:storageroot_delete", args=[root.pk]), follow=True)
    assert "Removed the storage root Cluster" in response.content.decode()


def test_the_profile_is_created_on_first_visit_and_saves_preferences(client, team):
    client.force_login(team.ada)
    assert not Profile.objects.filter(user=team.ada).exists()
    page = client.get(reverse("datasets:profile"))
    assert page.status_code == 200
    assert team.lab.name in page.content.decode()
    response = client.post(
        reverse("datasets:profile"),
        {"email_on_submission": "on", "email_on_comment": "on"},
    )
    assert response.status_code == 302
    profile = Profile.objects.get(user=team.ada)
    assert profile.email_on_submission and profile.email_on_comment
    assert not profile.email_on_review and not profile.email_on_publish


def test_the_lab_list_shows_my_role(client, team):
    client.force_login(team.grace)
    html = client.get(reverse("datasets:lab_list")).content.decode()
    assert team.lab.name in html and "Data engineer" in html
