"""Settings for the test suite: same parts as the demo, short limits, fast hashing."""

import os
from pathlib import Path

from .base import *  # noqa: F403
from .env import env_str

SECRET_KEY = "wharf-tests-only"  # noqa: S105
DEBUG = False
WHARF_DEMO = True
ALLOWED_HOSTS = ["*"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
HEALTH_WORKER_PING_TIMEOUT = 1.0

# A SQLite test database must be a file: the Celery worker the integration tests start
# is another process and has to see the same rows.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test-db.sqlite3")}  # noqa: F405

# The worker started by the tests is told which database the test run created.
if os.environ.get("WHARF_TEST_DATABASE_NAME"):
    DATABASES["default"]["NAME"] = os.environ["WHARF_TEST_DATABASE_NAME"]  # noqa: F405

LOG_LEVEL = env_str("WHARF_LOG_LEVEL", "WARNING")
LOGGING["root"]["level"] = LOG_LEVEL  # noqa: F405

# Static files straight from the source folders (no collectstatic on a dev machine).
STATIC_ROOT = None
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

# Publishing against the sandbox: short waits so fault tests finish in seconds.
KAGGLE_SANDBOX_URL = env_str("WHARF_KAGGLE_SANDBOX_URL", "")
KAGGLE_STALL_TIMEOUT = 4
KAGGLE_RETRIES = 4
KAGGLE_RETRY_BASE = 0.2
KAGGLE_LOOK_FRESH_SECONDS = 1
KAGGLE_RETRY_CAP = 3
KAGGLE_POLL_INITIAL = 0.2
KAGGLE_POLL_MAX = 0.5
KAGGLE_PROCESSING_DEADLINE = 30
JOB_HEARTBEAT_SECONDS = 1
JOB_STALE_AFTER = 4
JOB_QUEUED_STALE_AFTER = 10
# Parallel runs (pytest-xdist) each get their own folders; their workers inherit the
# variable, so they agree with the test process that started them.
_RUN = os.environ.get("PYTEST_XDIST_WORKER", "main")
STAGING_ROOT = Path(env_str("WHARF_STAGING_DIR", str(DATA_DIR / f"test-staging-{_RUN}")))  # noqa: F405
MEDIA_ROOT = DATA_DIR / f"test-uploads-{_RUN}"  # noqa: F405
