"""What `make run` uses: one machine, SQLite, the embedded Redis, the Kaggle sandbox."""

from .base import *  # noqa: F403
from .env import env_list, env_str

DEBUG = env_bool("DJANGO_DEBUG", True)  # noqa: F405
SECRET_KEY = env_str("DJANGO_SECRET_KEY", "wharf-demo-only-not-a-secret")
WHARF_DEMO = True
EMAIL_BACKEND = env_str("WHARF_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")

# Without real Kaggle credentials the demo publishes into the bundled sandbox.
KAGGLE_SANDBOX_PORT = (
    env_int("WHARF_KAGGLE_SANDBOX_PORT", WHARF_PORT + SANDBOX_PORT_OFFSET)  # noqa: F405
    if env_bool("WHARF_KAGGLE_SANDBOX", True)  # noqa: F405
    else None
)
if KAGGLE_SANDBOX_PORT:
    # An explicit WHARF_KAGGLE_SANDBOX_URL (a sandbox elsewhere) is kept, never overwritten.
    KAGGLE_SANDBOX_URL = env_str(
        "WHARF_KAGGLE_SANDBOX_URL", f"http://127.0.0.1:{KAGGLE_SANDBOX_PORT}"
    )

# Static files straight from the source folders (no collectstatic on a dev machine).
STATIC_ROOT = None
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

# The demo's lab storage: var/lab-storage, with sample data `make run` puts there.
STORAGE_ROOTS_ALLOWED_UNDER = env_list(
    "WHARF_STORAGE_ROOTS_ALLOWED_UNDER",
    [str(DATA_DIR / "lab-storage")],  # noqa: F405
)

# The demo's webhook receivers run on this machine.
WHARF_WEBHOOK_ALLOWED_HOSTS = env_list("WHARF_WEBHOOK_ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
