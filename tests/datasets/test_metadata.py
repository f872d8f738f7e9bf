"""The metadata field list is declared once (datasets.metadata) and everything else
follows it: the form, the services, the API, the snapshot and the review diff."""

import pytest

from datasets.api.serializers.datasets import DatasetInputSerializer, DatasetSerializer
from datasets.forms import DatasetForm
from datasets.metadata import (
    API_FIELDS,
    EDITABLE_FIELDS,
    FOLDER_CONTENTS,
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
    assert set(API_FIELDS) - {"kaggle_account"} <= accepted
    assert "owner_slug" in accepted
    assert set(PUBLIC_FIELDS) <= set(DatasetSerializer.Meta.fields)


def test_the_snapshot_freezes_every_snapshot_field(team):
    dataset = team.dataset()
    snapshot = dataset_snapshot(dataset)
    # Every metadata field, and the mark of how Kaggle is told about folder contents.
    assert set(snapshot) == {*SNAPSHOT_FIELDS, FOLDER_CONTENTS}
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


# --- Provenance, cadence, collaborators -----------------------------------------------


def _kaggle_user(user, username):
    from datasets.models import Profile

    Profile.objects.update_or_create(user=user, defaults={"kaggle_username": username})


def test_sources_and_frequency_reach_the_kaggle_metadata(team):
    from datasets.metadata import dataset_kaggle_metadata

    dataset = team.dataset(
        user_specified_sources="Buoy array B, https://example.org/paper",
        expected_update_frequency="weekly",
    )
    body = dataset_kaggle_metadata(dataset)
    assert body["userSpecifiedSources"] == "Buoy array B, https://example.org/paper"
    assert body["expectedUpdateFrequency"] == "weekly"


@pytest.mark.parametrize(
    ("interval", "cron", "word"),
    [
        (30, "", "hourly"),
        (1440, "", "daily"),
        (None, "0 3 * * 1", "weekly"),
        (None, "0 3 1 * *", "monthly"),
        (None, "15 * * * *", "hourly"),
    ],
)
def test_the_frequency_comes_from_the_schedule_when_not_said(team, interval, cron, word):
    from datasets.models import DatasetSchedule

    dataset = team.dataset()
    DatasetSchedule.objects.create(dataset=dataset, interval_minutes=interval, cron=cron)
    assert dataset_snapshot(dataset)["expected_update_frequency"] == word
    dataset.expected_update_frequency = "never"
    assert dataset_snapshot(dataset)["expected_update_frequency"] == "never"


def test_lab_members_with_a_kaggle_username_become_collaborators(team):
    from datasets.metadata import dataset_kaggle_metadata

    _kaggle_user(team.grace, "grace-k")
    dataset = team.dataset()
    form = DatasetForm(
        {
            "kaggle_account": team.account.pk,
            "slug": dataset.slug,
            "title": dataset.title,
            "license": "CC-BY-4.0",
            "is_private": "on",
            "source": "upload",
            "folder_packaging": "zip",
            "collaborators": ["grace-k:writer"],
        },
        instance=dataset,
        user=team.ada,
        labs=Lab.objects.filter(pk=team.lab.pk),
    )
    assert form.is_valid(), form.errors
    assert form.cleaned_data["collaborators"] == [{"username": "grace-k", "role": "writer"}]
    fields = {k: v for k, v in form.cleaned_data.items() if k != "lab"}
    dataset = dataset_services.dataset_update(dataset, actor=team.ada, **fields)
    body = dataset_kaggle_metadata(dataset)
    assert body["collaborators"] == [{"username": "grace-k", "role": "writer"}]


def test_a_stranger_cannot_be_made_a_collaborator_through_the_api(team):
    from rest_framework.test import APIClient

    dataset = team.dataset()
    client = APIClient()
    client.force_authenticate(team.ada)
    response = client.patch(
        f"/api/v1/datasets/{dataset.pk}/",
        {"collaborators": [{"username": "mallory", "role": "writer"}]},
        format="json",
    )
    assert response.status_code == 400
    assert "not the Kaggle username of a member" in response.json()["collaborators"][0]
    dataset.refresh_from_db()
    assert dataset.collaborators == []


def test_an_orcid_with_a_wrong_check_digit_is_refused(team):
    from datasets.forms import ProfileForm
    from datasets.models import Profile

    profile, _ = Profile.objects.get_or_create(user=team.ada)
    bad = ProfileForm({"orcid": "0000-0002-1825-0098"}, instance=profile)
    assert not bad.is_valid() and "last digit" in bad.errors["orcid"][0]
    good = ProfileForm({"orcid": "https://orcid.org/0000-0002-1825-0097"}, instance=profile)
    assert good.is_valid() and good.cleaned_data["orcid"] == "0000-0002-1825-0097"
