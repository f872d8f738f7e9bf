"""The Celery application. Configuration lives in Django settings (CELERY_* names)."""

import os

from celery import Celery
from celery.signals import setup_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.demo")

app = Celery("wharf")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def use_django_logging(**kwargs):
    # Without this receiver Celery installs its own handlers; with it, the worker logs
    # through the LOGGING dict like the web process does.
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
