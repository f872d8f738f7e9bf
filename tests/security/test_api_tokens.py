"""API tokens may expire (chosen when made, in the UI and the API); an expired token gets
a 401 that says so, and the token list shows it. Authenticated API use is throttled per
user by default."""

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework.throttling import UserRateThrottle

from datasets.api.tokens import expiry_after, token_create, token_find_active
from datasets.models import ApiToken, Role
from datasets.services.errors import ServiceError
from tests.factories import LabFactory, member

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple 42"


@pytest.fixture
def ada():
    user = member(LabFactory(), Role.RESEARCHER)
    user.set_password(PASSWORD)
    user.save()
    return user


def api_with(raw) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {raw}")
    return client


def web(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_token_made_in_the_ui_expires_when_chosen(ada):
    response = web(ada).post(reverse("tokens:create"), {"name": "nightly", "expires_in_days": "30"})
    assert response.status_code == 200
    token = ApiToken.objects.get(user=ada)
    expected = timezone.now() + timedelta(days=30)
    assert abs((token.expires_at - expected).total_seconds()) < 60
    assert "It expires on" in response.content.decode()


def test_the_ui_offers_ninety_days_by_default_and_never_on_request(ada):
    page = web(ada).get(reverse("tokens:create")).content.decode()
    assert 'value="90" selected' in page
    web(ada).post(reverse("tokens:create"), {"name": "forever", "expires_in_days": ""})
    assert ApiToken.objects.get(user=ada).expires_at is None


@pytest.mark.parametrize("value", ["0", "-3", "99999", "soon", "7.5"])
def test_the_ui_refuses_an_expiry_it_does_not_offer(ada, value):
    response = web(ada).post(reverse("tokens:create"), {"name": "x", "expires_in_days": value})
    assert response.status_code == 200 and "invalid-feedback" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_a_token_made_through_the_api_carries_its_expiry(ada):
    response = APIClient().post(
        reverse("api:token"),
        {"username": ada.username, "password": PASSWORD, "expires_in_days": 7},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["expires_at"] is not None
    token = ApiToken.objects.get(user=ada)
    assert abs((token.expires_at - (timezone.now() + timedelta(days=7))).total_seconds()) < 60
    plain = APIClient().post(
        reverse("api:token"), {"username": ada.username, "password": PASSWORD}, format="json"
    )
    assert plain.json()["expires_at"] is None


@pytest.mark.parametrize("value", [0, -1, 3651, "tomorrow", True, 1.5])
def test_the_api_refuses_a_bad_expiry(ada, value):
    response = APIClient().post(
        reverse("api:token"),
        {"username": ada.username, "password": PASSWORD, "expires_in_days": value},
        format="json",
    )
    assert response.status_code == 400, response.content
    assert "expires_in_days" in response.json()
    assert not ApiToken.objects.exists()


def test_an_expired_token_gets_a_401_that_says_so(ada):
    token, raw = token_create(ada, "old pipeline", expires_at=expiry_after(1))
    assert api_with(raw).get(reverse("api:labs")).status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = api_with(raw).get(reverse("api:labs"))
    assert response.status_code == 401
    detail = response.json()["detail"]
    assert "expired" in detail and "old pipeline" in detail and "new one" in detail
    assert raw not in response.content.decode()
    assert token_find_active(raw) is None


def test_a_revoked_or_unknown_token_still_reads_as_invalid(ada):
    token, raw = token_create(ada, "gone", expires_at=expiry_after(30))
    token.revoked_at = timezone.now()
    token.save()
    for key in (raw, "not-a-token"):
        response = api_with(key).get(reverse("api:labs"))
        assert response.status_code == 401 and "Invalid or revoked" in response.json()["detail"]


def test_an_expiry_in_the_past_cannot_be_set(ada):
    with pytest.raises(ServiceError):
        token_create(ada, "x", expires_at=timezone.now() - timedelta(minutes=1))
    for days in (0, -5, 4000, True, "7"):
        with pytest.raises(ServiceError):
            expiry_after(days)


def test_the_token_list_shows_expiry_and_expired_tokens(ada):
    token_create(ada, "lasting")
    soon, _ = token_create(ada, "soon", expires_at=expiry_after(7))
    old, _ = token_create(ada, "old", expires_at=expiry_after(1))
    ApiToken.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(days=1))
    page = web(ada).get(reverse("tokens:list")).content.decode()
    assert '<th scope="col">Expires</th>' in page
    assert soon.expires_at.strftime("%Y-%m-%d") in page
    assert "expired</span>" in page and "never" in page


def test_authenticated_api_use_is_throttled_by_default(ada, monkeypatch):
    assert (
        "rest_framework.throttling.UserRateThrottle"
        in (django_settings.REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"])
    )
    monkeypatch.setattr(
        UserRateThrottle, "THROTTLE_RATES", {**UserRateThrottle.THROTTLE_RATES, "user": "3/min"}
    )
    client = api_with(token_create(ada, "busy")[1])
    codes = [client.get(reverse("api:labs")).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    throttled = client.get(reverse("api:datasets"))
    assert throttled.status_code == 429 and int(throttled["Retry-After"]) > 0
    # Counted per user: someone else is not slowed down.
    other = member(LabFactory(), Role.RESEARCHER)
    assert api_with(token_create(other, "calm")[1]).get(reverse("api:labs")).status_code == 200


def test_the_default_rate_leaves_room_for_a_pipeline():
    rate = django_settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["user"]
    count, per = UserRateThrottle().parse_rate(rate)
    assert count / per >= 1  # at least one call a second on average
