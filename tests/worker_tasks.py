"""Tasks only the test worker loads (`celery worker --include tests.worker_tasks`)."""

from celery import shared_task

from datasets.models import Lab


@shared_task(name="tests.stamp_lab")
def stamp_lab(lab_id: int, text: str) -> None:
    Lab.objects.filter(pk=lab_id).update(description=text)
