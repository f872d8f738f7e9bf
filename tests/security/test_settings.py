"""Security settings that CI holds the portal to: login brute-force protection
(django-axes, with a cool-off), the Content-Security-Policy on every page, cookies that
production sends over HTTPS only, and secrets that never reach a log.

`manage.py check --deploy --fail-level WARNING` on the production settings is
tests/portal/test_deployment.py::test_production_settings_pass_the_deploy_check (with
axes installed it also runs axes' own checks); not repeated here."""

import base64
import json
import logging
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from datasets.models import DatasetStatus, Event, JobState, KaggleAccount, PublishJob
from tests.builders import Team
from tests.conftest import SECRET_PROBE_KEY, SECRET_PROBE_USER, wait_until
from tests.factories import PASSWORD, UserFactory
from tests.portal.test_deployment import GOOD_ENV, manage

LIMIT = 5


@pytest.fixture
def user(db):
    return UserFactory(username="ada")


WRONG = "wrong horse"


def log_in(client, username="ada", password=WRONG, **extra):
    return client.post(reverse("login"), {"username": username, "password": password}, **extra)


# --- login brute-force protection -----------------------------------------------------------


def test_five_wrong_passwords_lock_the_login_with_a_clear_message(user, settings):
    assert settings.AXES_FAILURE_LIMIT == LIMIT
    assert settings.AXES_COOLOFF_TIME.total_seconds() == 15 * 60
    client = Client()
    for _ in range(LIMIT - 1):
        assert log_in(client).status_code == 200  # the form again, "wrong password"
    locked = log_in(client)
    assert locked.status_code == 429
    text = locked.content.decode()
    assert "Too many failed login attempts" in text and "15 minutes" in text
    assert locked["Retry-After"] == str(15 * 60)
    # Even the right password is refused now, and says so.
    again = log_in(client, password=PASSWORD)
    assert again.status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_lockout_ends_after_the_cool_off(user):
    from axes.models import AccessAttempt

    client = Client()
    for _ in range(LIMIT):
        log_in(client)
    assert log_in(client, password=PASSWORD).status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    response = log_in(client, password=PASSWORD)
    assert response.status_code == 302 and response["Location"] == reverse("home")


def test_one_persons_typos_do_not_lock_out_others_on_the_same_address(user):
    UserFactory(username="grace")
    client = Client()
    for _ in range(LIMIT):
        log_in(client)
    assert log_in(client, username="grace", password=PASSWORD).status_code == 302


def test_axes_reset_unlocks_at_once(user):
    client = Client()
    for _ in range(LIMIT):
        log_in(client)
    assert log_in(client, password=PASSWORD).status_code == 429
    out = StringIO()
    call_command("axes_reset", stdout=out)
    assert log_in(client, password=PASSWORD).status_code == 302


def test_the_admin_login_is_protected_too(user):
    client = Client()
    url = reverse("admin:login")
    for _ in range(LIMIT):
        client.post(url, {"username": "ada", "password": "nope"})
    assert client.post(url, {"username": "ada", "password": PASSWORD}).status_code == 429


def test_the_api_token_endpoint_is_protected_and_answers_json(user):
    client = APIClient()
    url = reverse("api:token")
    for _ in range(LIMIT - 1):
        assert client.post(url, {"username": "ada", "password": "nope"}).status_code == 401
    locked = client.post(url, {"username": "ada", "password": "nope"})
    assert locked.status_code == 429
    assert locked.json()["code"] == "locked_out" and "15 minutes" in locked.json()["detail"]
    right = client.post(url, {"username": "ada", "password": PASSWORD})
    assert right.status_code == 429 and "token" not in right.json()


def test_the_api_token_endpoint_is_also_throttled(db, settings):
    # Different names each time (so no lockout), from one address: DRF's throttle.
    rate = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["auth_token"]
    allowed = int(rate.split("/")[0])
    client = APIClient()
    codes = [
        client.post(reverse("api:token"), {"username": f"guess{i}", "password": "x"}).status_code
        for i in range(allowed + 1)
    ]
    assert codes[:allowed] == [401] * allowed and codes[-1] == 429


def test_force_login_is_not_affected_by_a_lockout(user):
    client = Client()
    for _ in range(LIMIT):
        log_in(client)
    tester = Client()
    tester.force_login(user)
    assert tester.get(reverse("datasets:dataset_list")).status_code == 200


def test_a_successful_login_clears_earlier_failures(user):
    client = Client()
    for _ in range(LIMIT - 1):
        log_in(client)
    assert log_in(client, password=PASSWORD).status_code == 302
    client.post(reverse("logout"))
    for _ in range(LIMIT - 1):
        log_in(client)
    assert log_in(client, password=PASSWORD).status_code == 302


# --- Content-Security-Policy -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "logged_in"),
    [("home", False), ("login", False), ("api:docs", False), ("datasets:dataset_list", True),
     ("datasets:dashboard", True), ("datasets:history", True)],
)  # fmt: skip
def test_every_page_sends_a_strict_content_security_policy(user, name, logged_in):
    client = Client()
    if logged_in:
        client.force_login(user)
    response = client.get(reverse(name))
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    directives = {}
    for part in filter(None, (p.strip() for p in policy.split(";"))):
        name, _, value = part.partition(" ")
        directives[name] = value
    assert directives["default-src"] == "'self'"
    # Scripts: our own files, plus inline ones carrying this answer's nonce (Django adds
    # the nonce to the header only when the page used it).
    sources = directives["script-src"].split()
    assert sources[0] == "'self'" and all(s.startswith("'nonce-") for s in sources[1:])
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    nonce = sources[1][len("'nonce-") : -1] if len(sources) > 1 else None
    text = response.content.decode()
    for chunk in text.split("<script")[1:]:
        tag = chunk.split(">", 1)[0]
        assert "src=" in tag or (nonce and f'nonce="{nonce}"' in tag), f"inline script: {tag}"


# --- production settings -----------------------------------------------------------------------

PROBE = """
import json, django
django.setup()
from django.conf import settings
from django.test import Client
response = Client().get("/login/", secure=True, headers={"host": "wharf.lab.example"})
cookie = response.cookies.get(settings.CSRF_COOKIE_NAME)
print(json.dumps({
    "status": response.status_code,
    "session_secure": settings.SESSION_COOKIE_SECURE,
    "session_httponly": settings.SESSION_COOKIE_HTTPONLY,
    "csrf_secure": settings.CSRF_COOKIE_SECURE,
    "csrf_cookie_secure": bool(cookie and cookie["secure"]),
    "hsts": settings.SECURE_HSTS_SECONDS,
    "ssl_redirect": settings.SECURE_SSL_REDIRECT,
    "csp": response.get("Content-Security-Policy", ""),
    "axes_app": "axes" in settings.INSTALLED_APPS,
    "axes_last": settings.MIDDLEWARE[-1],
    "axes_backend": settings.AUTHENTICATION_BACKENDS[0],
    "debug": settings.DEBUG,
}))
"""


@pytest.fixture(scope="module")
def production():
    # Production serves hashed static names from collectstatic's manifest, as the image
    # does (Dockerfile); a fresh clone has none yet.
    collected = manage("collectstatic", "--noinput", "-v0", env=GOOD_ENV)
    assert collected.returncode == 0, collected.stderr
    result = manage("shell", "-c", PROBE, env=GOOD_ENV)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_sends_session_and_csrf_cookies_over_https_only(production):
    assert production["status"] == 200
    assert production["session_secure"] and production["session_httponly"]
    assert production["csrf_secure"] and production["csrf_cookie_secure"]
    assert production["hsts"] >= 31536000 and production["ssl_redirect"]
    assert not production["debug"]


def test_production_has_the_login_protection_and_the_policy(production):
    assert production["axes_app"]
    assert production["axes_last"] == "axes.middleware.AxesMiddleware"
    assert production["axes_backend"] == "axes.backends.AxesStandaloneBackend"
    assert "script-src 'self'" in production["csp"]
    assert "unsafe-inline" not in production["csp"]


# --- secrets never in logs ---------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_full_publish_never_logs_the_kaggle_key(
    tmp_path, settings, kaggle_sandbox, celery_worker, caplog
):
    """A whole publish (registration, approval, staging, upload, processing) and a
    connection test with a key used nowhere else; then every log and record is searched
    for the key, and for the Basic-auth form it travels in."""
    caplog.set_level(logging.DEBUG)
    kaggle_sandbox.clear_faults()
    team = Team(
        tmp_path / "storage", owner=SECRET_PROBE_USER, username=SECRET_PROBE_USER,
        key=SECRET_PROBE_KEY,
    )  # fmt: skip
    from datasets.services.accounts import kaggle_account_test

    ok, message = kaggle_account_test(team.account, actor=team.grace)
    assert ok, message
    dataset = team.dataset(slug="secret-probe-data", title="Secret probe data")
    team.upload(dataset, "buoys.csv", b"buoy,temp\n1,12.5\n")
    job = team.approve(team.submit(dataset, notes="First."))

    def finished():
        job.refresh_from_db()
        return job.state in JobState.final()

    wait_until(finished, timeout=90, interval=0.2, message=f"job {job.pk} did not finish")
    assert job.state == JobState.PUBLISHED, f"{job.error_code}: {job.error_message}"
    dataset.refresh_from_db()
    assert dataset.status == DatasetStatus.PUBLISHED

    basic = base64.b64encode(f"{SECRET_PROBE_USER}:{SECRET_PROBE_KEY}".encode()).decode()
    forms = (SECRET_PROBE_KEY, basic)
    # The worker logs "succeeded" a moment after the job's state turned final: wait for
    # the line rather than read the log once (a busy machine loses that race).
    succeeded = f"job_publish[{job.task_id}] succeeded"
    wait_until(
        lambda: succeeded in celery_worker.log_path.read_text(errors="replace"),
        timeout=30, interval=0.2, message=f"the worker never logged {succeeded!r}",
    )  # fmt: skip
    sources = {
        "worker log": celery_worker.log_path.read_text(errors="replace"),
        "sandbox log": (kaggle_sandbox.data_dir / "server.log").read_text(errors="replace")
        if (kaggle_sandbox.data_dir / "server.log").exists()
        else "",
        "sandbox request log": json.dumps(kaggle_sandbox._admin("GET", "log")),
        "this process's log": caplog.text,
        "events": json.dumps(list(Event.objects.values("action", "data")), default=str),
        "jobs": json.dumps(list(PublishJob.objects.values()), default=str),
        "accounts": json.dumps(
            list(KaggleAccount.objects.values("owner_slug", "username", "last_test_message"))
        ),
        "stored secret": KaggleAccount.objects.get(pk=team.account.pk).secret_encrypted,
    }
    # Each source is the real thing and saw this publish (so finding nothing means something).
    assert succeeded in sources["worker log"]
    assert SECRET_PROBE_USER in sources["sandbox request log"]
    assert sources["events"].count("job.") >= 3
    leaks = [name for name, text in sources.items() for form in forms if form in text]
    assert leaks == [], f"the Kaggle key appears in: {leaks}"
