import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from datasets.models import ApiToken
from tests.factories import PASSWORD, UserFactory

from .conftest import api_client

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/v1/auth/token/"


def test_a_password_buys_a_token_that_opens_the_api(team):
    client = APIClient()
    response = client.post(TOKEN_URL, {"username": team.ada.username, "password": PASSWORD})
    assert response.status_code == 200
    raw = response.json()["token"]
    stored = ApiToken.objects.get(user=team.ada)
    assert stored.prefix == raw[:8]
    assert raw not in stored.key_hash  # only a hash is kept

    client.credentials(HTTP_AUTHORIZATION=f"Token {raw}")
    labs = client.get("/api/v1/labs/")
    assert labs.status_code == 200
    assert labs.json() == [
        {"id": team.lab.pk, "name": team.lab.name, "slug": team.lab.slug, "role": "researcher"}
    ]
    stored.refresh_from_db()
    assert stored.last_used_at is not None


def test_a_wrong_password_is_refused_without_a_token(team):
    response = APIClient().post(TOKEN_URL, {"username": team.ada.username, "password": "nope"})
    assert response.status_code == 401
    assert response.json()["detail"] == "Wrong username or password."
    assert not ApiToken.objects.exists()


def test_an_unknown_user_and_a_missing_password_are_refused():
    client = APIClient()
    assert client.post(TOKEN_URL, {"username": "ghost", "password": "x"}).status_code == 401
    response = client.post(TOKEN_URL, {"username": "ghost"})
    assert response.status_code == 400
    assert "password" in response.json()


def test_an_inactive_user_gets_no_token(team):
    team.ada.is_active = False
    team.ada.save()
    response = APIClient().post(TOKEN_URL, {"username": team.ada.username, "password": PASSWORD})
    assert response.status_code == 401


def test_the_token_endpoint_is_rate_limited(settings, team):
    client = APIClient()
    answers = [
        client.post(TOKEN_URL, {"username": team.ada.username, "password": "wrong"}).status_code
        for _ in range(12)
    ]
    assert answers[0] == 401
    assert answers[-1] == 429


def test_a_revoked_token_no_longer_opens_the_api(team):
    client = api_client(team.ada)
    assert client.get("/api/v1/labs/").status_code == 200
    ApiToken.objects.filter(user=team.ada).update(revoked_at="2026-01-01T00:00:00Z")
    response = client.get("/api/v1/labs/")
    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid or revoked token."
    assert response.headers["WWW-Authenticate"] == "Token"


def test_calls_without_a_token_or_with_a_made_up_one_answer_401(team):
    assert APIClient().get("/api/v1/datasets/").status_code == 401
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert client.get("/api/v1/datasets/").status_code == 401
    client.credentials(HTTP_AUTHORIZATION="Token two words")
    assert client.get("/api/v1/datasets/").status_code == 401


def test_a_browser_session_works_and_needs_csrf_for_writes(team):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(team.ada)
    assert client.get("/api/v1/labs/").status_code == 200
    response = client.post("/api/v1/datasets/", {}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


def test_superusers_act_as_engineers_in_every_lab(team, rival):
    root = UserFactory(is_superuser=True, is_staff=True)
    labs = api_client(root).get("/api/v1/labs/").json()
    assert {lab["role"] for lab in labs} == {"engineer"}
    assert len(labs) == 2


# --- The token page in the UI --------------------------------------------------------


def test_the_token_page_lists_only_your_own_tokens(client, team, rival):
    api_client(team.ada)
    api_client(rival.ada)
    client.force_login(team.ada)
    response = client.get(reverse("tokens:list"))
    assert response.status_code == 200
    assert list(response.context["tokens"]) == list(ApiToken.objects.filter(user=team.ada))


def test_a_new_token_is_shown_once_and_then_only_its_prefix(client, team):
    client.force_login(team.ada)
    response = client.post(reverse("tokens:create"), {"name": "nightly pipeline"})
    assert response.status_code == 200
    raw = response.context["raw"]
    assert raw in response.content.decode()
    assert "no-store" in response.headers["Cache-Control"]
    listing = client.get(reverse("tokens:list")).content.decode()
    assert "nightly pipeline" in listing
    assert raw[:8] in listing and raw not in listing
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {raw}")
    assert api.get("/api/v1/labs/").status_code == 200


def test_a_token_needs_a_printable_name(client, team):
    client.force_login(team.ada)
    response = client.post(reverse("tokens:create"), {"name": "bad\x07name"})
    assert response.status_code == 200
    assert "control" in response.context["form"].errors["name"][0]
    response = client.post(reverse("tokens:create"), {"name": "x" * 81})
    assert response.context["form"].errors["name"]
    assert not ApiToken.objects.exists()


def test_revoking_is_a_post_on_your_own_token(client, team, rival):
    mine = api_client(team.ada)
    theirs = api_client(rival.ada)
    token = ApiToken.objects.get(user=team.ada)
    client.force_login(team.ada)
    assert client.get(reverse("tokens:revoke", args=[token.pk])).status_code == 405
    other = ApiToken.objects.get(user=rival.ada)
    assert client.post(reverse("tokens:revoke", args=[other.pk])).status_code == 404
    response = client.post(reverse("tokens:revoke", args=[token.pk]))
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert mine.get("/api/v1/labs/").status_code == 401
    assert theirs.get("/api/v1/labs/").status_code == 200
    assert "revoked" in client.get(reverse("tokens:list")).content.decode()


def test_the_token_page_needs_a_login(client):
    response = client.get(reverse("tokens:list"))
    assert response.status_code == 302
    assert "/login/" in response.headers["Location"]
