"""Every model is in the admin, and every changelist and add page renders."""

import pytest
from django.contrib import admin
from django.urls import reverse

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_every_wharf_model_is_registered():
    from django.apps import apps

    missing = [m.__name__ for m in apps.get_app_config("datasets").get_models()
               if m not in admin.site._registry]  # fmt: skip
    assert missing == []


@pytest.mark.parametrize("model", [m for m in admin.site._registry if m._meta.app_label in
                                   ("datasets", "auth")], ids=lambda m: m.__name__)  # fmt: skip
def test_the_admin_pages_render(client, model):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    meta = model._meta
    assert (
        client.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")).status_code
        == 200
    )
