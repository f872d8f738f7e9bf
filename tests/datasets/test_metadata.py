"""The metadata field list is declared once (datasets.metadata) and everything else
follows it: the form, the services, the API, the snapshot and the review diff."""

import pytest

from datasets.api.serializers.datasets import DatasetInputSerializer, DatasetSerializer
from datasets.forms import DatasetForm
from datasets.metadata import (
    EDITABLE_FIELDS,
    METADATA_FIELDS,
    PUBLIC_FIELDS,
    SNAPSHOT_FIELDS,
    dataset_snapshot,
)
from datasets.models import Lab
from datasets.selectors import DIFF_FIELDS
from datasets.services import datasets as dataset_services
from tests.builders import Team

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(tmp_path):
    return Team(tmp_path / "storage")


def _layout_names(layout) -> set[str]:
    names = set()
    for item in getattr(layout, "fields", []):
        if isinstance(item, str):
            names.add(item)
        else:
            names |= _layout_names(item)
    return names


def test_every_editable_field_is_in_the_dataset_form_and_on_a_tab(team):
    form = DatasetForm(user=team.ada, labs=Lab.objects.filter(pk=team.lab.pk))
    assert set(EDITABLE_FIELDS) <= set(form.fields)
    assert set(EDITABLE_FIELDS) <= _layout_names(form.helper.layout)


def test_the_api_accepts_every_editable_field_and_shows_every_public_one():
    accepted = set(DatasetInputSerializer().fields)
    # The account is named by its Kaggle owner in the API.
    assert set(EDITABLE_FIELDS) - {"kaggle_account"} <= accepted
    assert "owner_slug" in accepted
    assert set(PUBLIC_FIELDS) <= set(DatasetSerializer.Meta.fields)


def test_the_snapshot_freezes_every_snapshot_field(team):
    dataset = team.dataset()
    snapshot = dataset_snapshot(dataset)
    assert set(snapshot) == set(SNAPSHOT_FIELDS)
    assert snapshot["subtitle"] == "Daily sea surface readings from buoys"


def test_the_review_diff_compares_every_snapshot_field_but_the_identity():
    assert set(DIFF_FIELDS) == set(SNAPSHOT_FIELDS) - {"owner_slug", "slug"}


def test_the_update_service_changes_only_declared_editable_fields(team):
    dataset = team.dataset()
    dataset_services.dataset_update(
        dataset, actor=team.ada, subtitle="A subtitle long enough for Kaggle", status="published"
    )
    dataset.refresh_from_db()
    assert dataset.subtitle == "A subtitle long enough for Kaggle"
    assert dataset.status == "draft"  # not a metadata field: ignored


def test_every_declared_field_is_a_dataset_column():
    from datasets.models import Dataset

    columns = {f.name for f in Dataset._meta.get_fields()}
    assert {f.name for f in METADATA_FIELDS} <= columns
