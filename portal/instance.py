"""Which running Wharf a command talks to.

`make run` (runstack) writes the instance's resolved settings to var/instance.env;
`manage.py` and `celery -A portal` read it before Django starts, so a command typed in
another terminal, without the exports of the first one, reaches the same web port,
Redis and sandbox. The environment always wins: a variable set in the shell is never
replaced, and a different WHARF_PORT (another instance) ignores the file altogether.

Plain KEY=VALUE lines, so a shell can use it too: `set -a; . var/instance.env`."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
INSTANCE_FILE = "instance.env"
# The settings module the file belongs to: the test suite's settings never read it.
APPLIES_TO = {"portal.settings.demo"}


def instance_file(data_dir: Path | None = None) -> Path:
    if data_dir is None:
        data_dir = Path(os.environ.get("WHARF_DATA_DIR") or BASE_DIR / "var")
    return Path(data_dir) / INSTANCE_FILE


def read(path: Path) -> dict[str, str]:
    values = {}
    try:
        text = path.read_text()
    except OSError:
        return values
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip()
    return values


def load(environ=None, path: Path | None = None) -> dict[str, str]:
    """Puts the file's settings into `environ` where it has none; returns what it set."""
    environ = os.environ if environ is None else environ
    values = read(path or instance_file())
    if not values:
        return {}
    module = environ.get("DJANGO_SETTINGS_MODULE") or values.get("DJANGO_SETTINGS_MODULE")
    if module not in APPLIES_TO:
        return {}
    port = environ.get("WHARF_PORT")
    if port and port != values.get("WHARF_PORT"):
        # Another instance asked for by name: none of this one's values apply.
        return {}
    applied = {key: value for key, value in values.items() if key not in environ}
    environ.update(applied)
    return applied


def resolved(settings, environ=None) -> dict[str, str]:
    """What a command needs to reach this instance, from the loaded settings."""
    environ = os.environ if environ is None else environ
    values = {
        "DJANGO_SETTINGS_MODULE": environ.get("DJANGO_SETTINGS_MODULE", "portal.settings.demo"),
        "WHARF_PORT": str(settings.WHARF_PORT),
        "WHARF_BASE_URL": settings.WHARF_BASE_URL,
        "WHARF_DATA_DIR": str(settings.DATA_DIR),
    }
    if settings.EMBEDDED_REDIS:
        # Not REDIS_URL: with it set, the next `make run` would not start its Redis.
        values["WHARF_EMBEDDED_REDIS_PORT"] = str(settings.EMBEDDED_REDIS_PORT)
    else:
        values["REDIS_URL"] = settings.REDIS_URL
    sandbox = getattr(settings, "KAGGLE_SANDBOX_PORT", None)
    if sandbox:
        values["WHARF_KAGGLE_SANDBOX_PORT"] = str(sandbox)
    if settings.KAGGLE_SANDBOX_URL:
        values["WHARF_KAGGLE_SANDBOX_URL"] = settings.KAGGLE_SANDBOX_URL
    return values


def write(values: dict[str, str], path: Path | None = None) -> Path:
    path = path or instance_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Written by `make run` (manage.py runstack): the settings of the Wharf running from",
        "# this folder. manage.py and celery read it, so commands in another terminal talk to",
        "# the same stack; variables set in the shell win. Delete it to forget the instance.",
        *(f"{key}={value}" for key, value in sorted(values.items())),
    ]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)
    return path
