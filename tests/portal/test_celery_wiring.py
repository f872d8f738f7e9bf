import pytest

from datasets.models import Lab
from portal.celery import app
from tests.conftest import wait_until
from tests.factories import LabFactory


def test_celery_is_json_only_with_late_acks_and_a_publish_queue():
    conf = app.conf
    assert conf.accept_content == ["json"]
    assert conf.task_serializer == "json"
    assert conf.task_acks_late is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_routes["datasets.tasks.job_*"] == {"queue": "publish"}
    visibility = conf.broker_transport_options["visibility_timeout"]
    assert visibility > conf.task_time_limit > conf.task_soft_time_limit


@pytest.mark.integration
def test_a_task_sent_through_redis_runs_on_a_real_worker(transactional_db, celery_worker):
    lab = LabFactory()
    app.send_task("tests.stamp_lab", args=[lab.pk, "seen by the worker"])
    wait_until(
        lambda: Lab.objects.get(pk=lab.pk).description == "seen by the worker",
        timeout=30,
        message="the worker never wrote the row",
    )
