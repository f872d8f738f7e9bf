"""Labs stay apart on lab storage: no lab's storage root may overlap another lab's
(inside it, around it, the same folder, reached through a symlink or '..'), whoever
registers it (service, web, API, admin, any ModelForm); an overlap made before the rule
is reported by `manage.py check` and the admin; and every read (storage browser, file
add, submission, scanning, staging) re-checks that the file lies under a root of the
dataset's own lab and nowhere another lab's root reaches."""

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.forms import modelform_factory
from django.test import Client
from django.urls import reverse

from datasets import publishing, staging, storage
from datasets.models import StorageRoot
from datasets.models.labs import check_storage_roots_apart
from datasets.services import accounts
from datasets.services.errors import ServiceError
from tests.builders import Team
from tests.security.clients import api, web

pytestmark = pytest.mark.django_db

THEIRS = "THE-OTHER-LABS-UNPUBLISHED-DATA"


@pytest.fixture(autouse=True)
def _roots_anywhere_in_the_test_folder(settings, tmp_path):
    settings.STORAGE_ROOTS_ALLOWED_UNDER = [str(tmp_path)]


@pytest.fixture
def team(tmp_path):
    team = Team(tmp_path / "storage")
    (team.storage / "private").mkdir()
    (team.storage / "private" / "theirs.csv").write_text(f"id,value\n1,{THEIRS}\n")
    (team.storage / "plain.csv").write_text(f"id,value\n1,{THEIRS}\n")
    return team


@pytest.fixture
def rival(tmp_path):
    return Team(tmp_path / "rival-storage", owner="rival-lab", username="rival", key="rival-key")


def legacy_root(lab, name, path) -> StorageRoot:
    """A root registered before the rule existed: written without any validation."""
    return StorageRoot.objects.create(lab=lab, name=name, path=str(path))


# --- registering: the rule on the model ------------------------------------------------


def _overlapping_paths(team, rival, tmp_path) -> dict[str, str]:
    (tmp_path / "link-to-team").symlink_to(team.storage, target_is_directory=True)
    return {
        "inside": str(team.storage / "private"),
        "same": str(team.storage),
        "around": str(tmp_path),
        "symlink": str(tmp_path / "link-to-team"),
        "symlink-inside": str(tmp_path / "link-to-team" / "private"),
        "dot-dot": f"{rival.storage}/../storage/private",
        "trailing-slash": str(team.storage) + "/",
    }


OVERLAPS = ["inside", "same", "around", "symlink", "symlink-inside", "dot-dot", "trailing-slash"]


@pytest.mark.parametrize("how", OVERLAPS)
def test_a_root_overlapping_another_labs_is_refused_by_the_service(team, rival, tmp_path, how):
    path = _overlapping_paths(team, rival, tmp_path)[how]
    with pytest.raises(ServiceError) as refused:
        accounts.storage_root_create(rival.lab, actor=rival.grace, name="Sneaky", path=path)
    assert refused.value.field == "path"
    assert team.lab.name in refused.value.message and "must not overlap" in refused.value.message
    assert not StorageRoot.objects.filter(name="Sneaky").exists()


@pytest.mark.parametrize("how", ["inside", "same", "symlink", "dot-dot"])
def test_a_root_overlapping_another_labs_is_refused_on_the_web(team, rival, tmp_path, how):
    path = _overlapping_paths(team, rival, tmp_path)[how]
    url = reverse("datasets:storageroot_add", args=[rival.lab.slug])
    response = web(rival.grace).post(url, {"name": "Sneaky", "path": path})
    assert response.status_code in (200, 400)
    assert "must not overlap" in response.content.decode()
    assert not StorageRoot.objects.filter(name="Sneaky").exists()


@pytest.mark.parametrize("how", ["inside", "around", "symlink-inside"])
def test_a_root_overlapping_another_labs_is_refused_by_the_api(team, rival, tmp_path, how):
    path = _overlapping_paths(team, rival, tmp_path)[how]
    response = api(rival.grace).post(
        reverse("api:lab_storage_roots", args=[rival.lab.pk]),
        {"name": "Sneaky", "path": path},
        format="json",
    )
    assert response.status_code == 400, response.content
    assert "must not overlap" in response.json()["path"][0]
    assert not StorageRoot.objects.filter(name="Sneaky").exists()


def test_a_root_overlapping_another_labs_is_refused_in_the_admin(team, rival):
    User = get_user_model()
    admin = User.objects.create_superuser("root-admin", "a@example.org", "pw-irrelevant-1")
    client = Client()
    client.force_login(admin)
    response = client.post(
        reverse("admin:datasets_storageroot_add"),
        {"lab": rival.lab.pk, "name": "Sneaky", "path": str(team.storage / "private")},
    )
    assert response.status_code == 200  # the form again, with the reason
    assert "must not overlap" in response.content.decode()
    assert not StorageRoot.objects.filter(name="Sneaky").exists()


def test_any_model_form_applies_the_rule(team, rival):
    Form = modelform_factory(StorageRoot, fields=["lab", "name", "path"])
    form = Form({"lab": rival.lab.pk, "name": "Sneaky", "path": str(team.storage)})
    assert not form.is_valid()
    assert "must not overlap" in form.errors["path"][0]
    root = StorageRoot(lab=rival.lab, name="Sneaky", path=str(team.storage / "private"))
    with pytest.raises(ValidationError):
        root.full_clean()


def test_roots_apart_from_each_other_and_a_labs_own_nested_roots_are_fine(team, rival, tmp_path):
    (tmp_path / "storage-2").mkdir()  # a sibling whose name starts like the team's root
    accounts.storage_root_create(
        rival.lab, actor=rival.grace, name="Beside", path=str(tmp_path / "storage-2")
    )
    own = accounts.storage_root_create(
        team.lab, actor=team.grace, name="Own subfolder", path=str(team.storage / "private")
    )
    assert own.path == str(team.storage / "private")
    assert check_storage_roots_apart() == []


def test_a_stored_root_path_is_the_resolved_folder(team, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    root = accounts.storage_root_create(
        team.lab, actor=team.grace, name="Alias", path=f"{tmp_path}/alias/../elsewhere"
    )
    assert root.path == str((tmp_path / "elsewhere").resolve())


# --- overlaps made before the rule: reported ---------------------------------------------


def test_manage_py_check_reports_an_existing_overlap(team, rival):
    call_command("check")  # nothing to report yet
    legacy_root(rival.lab, "Grabbed", team.storage / "private")
    with pytest.raises(SystemCheckError) as reported:
        call_command("check")
    assert "wharf.E001" in str(reported.value)
    assert team.lab.name in str(reported.value) and rival.lab.name in str(reported.value)


def test_an_overlap_made_later_on_disk_is_reported(team, rival, tmp_path):
    # Apart when registered; then someone turns the rival's folder into a symlink.
    rival_root = rival.root.path
    Path(rival_root).rmdir()
    Path(rival_root).symlink_to(team.storage, target_is_directory=True)
    errors = check_storage_roots_apart()
    assert len(errors) == 1 and errors[0].id == "wharf.E001"
    assert "is the same folder as" in errors[0].msg


def test_the_admin_lists_existing_overlaps(team, rival):
    legacy_root(rival.lab, "Grabbed", team.storage)
    User = get_user_model()
    admin = User.objects.create_superuser("root-admin", "a@example.org", "pw-irrelevant-1")
    client = Client()
    client.force_login(admin)
    text = client.get(reverse("admin:datasets_storageroot_changelist")).content.decode()
    assert "Grabbed" in text and "overlaps" in text


# --- every read re-checks ----------------------------------------------------------------


def test_a_legacy_overlapping_root_reads_nothing_of_the_other_lab(team, rival):
    grabbed = legacy_root(rival.lab, "Grabbed", team.storage / "private")
    dataset = rival.dataset(source="storage")
    with pytest.raises(ServiceError) as refused:
        from datasets.services.files import file_add_storage

        file_add_storage(dataset, actor=rival.ada, storage_root=grabbed, relpath="theirs.csv")
    assert "overlaps a storage root of" in refused.value.message
    assert not dataset.files.exists()


def test_the_storage_browser_of_an_overlapping_root_shows_nothing(team, rival):
    grabbed = legacy_root(rival.lab, "Grabbed", team.storage / "private")
    dataset = rival.dataset(source="storage")
    url = reverse("datasets:storage_browse", args=[dataset.pk])
    for path in ("", "theirs.csv"):
        text = web(rival.ada).get(url, {"root": grabbed.pk, "path": path}).content.decode()
        assert "theirs.csv" not in text.replace("path=theirs.csv", "")
        assert "overlaps" in text


def test_the_web_and_api_file_add_refuse_the_overlap(team, rival):
    grabbed = legacy_root(rival.lab, "Grabbed", team.storage / "private")
    dataset = rival.dataset(source="storage")
    response = web(rival.ada).post(
        reverse("datasets:file_add_storage", args=[dataset.pk]),
        {"storage_root": grabbed.pk, "relpath": "theirs.csv", "path": "", "description": ""},
    )
    assert response.status_code in (200, 400) and "overlaps" in response.content.decode()
    response = api(rival.ada).post(
        reverse("api:files", args=[dataset.pk]),
        {"storage_path": str(team.storage / "private" / "theirs.csv")},
        format="json",
    )
    assert response.status_code == 400, response.content
    assert not dataset.files.exists()


def test_a_file_added_before_the_overlap_is_refused_at_submission(team, rival):
    dataset = rival.dataset(source="storage")
    (rival.storage / "ours.csv").write_text("1\n")
    rival.add_storage(dataset, "ours.csv")
    # Then an overlap appears: the team's root is re-pointed over the rival's folder.
    StorageRoot.objects.filter(pk=team.root.pk).update(path=str(rival.storage))
    with pytest.raises(ServiceError) as refused:
        rival.submit(dataset)
    assert "overlaps" in refused.value.message


def test_staging_refuses_a_file_once_roots_overlap(team, rival):
    dataset = team.dataset(source="storage")
    team.add_storage(dataset, "plain.csv")
    submission = team.submit(dataset)
    team.approve(submission)
    (entry,) = submission.files
    assert (
        publishing._source_of(entry, lab_id=team.lab.pk)[0].name == "plain.csv"
    )  # readable while apart
    legacy_root(rival.lab, "Grabbed", team.storage)
    with pytest.raises(staging.StagingError) as refused:
        publishing._source_of(entry, lab_id=team.lab.pk)
    assert refused.value.code == "unsafe_path"


def test_staging_refuses_a_root_that_is_no_longer_registered(team, tmp_path):
    dataset = team.dataset(source="storage")
    team.add_storage(dataset, "plain.csv")
    submission = team.submit(dataset)
    team.approve(submission)
    (entry,) = submission.files
    (tmp_path / "moved").mkdir()
    StorageRoot.objects.filter(pk=team.root.pk).update(path=str(tmp_path / "moved"))
    with pytest.raises(staging.StagingError) as refused:
        publishing._source_of(entry, lab_id=team.lab.pk)
    assert "not a storage root" in str(refused.value)


def test_the_scanner_does_not_read_where_roots_overlap(team, rival):
    from datasets.scanning import Scan

    dataset = team.dataset(source="storage")
    team.add_storage(dataset, "plain.csv")
    submission = team.submit(dataset)
    legacy_root(rival.lab, "Grabbed", team.storage)
    result = Scan(budget=1 << 20, open_upload=lambda name: pytest.fail(name)).run(submission.files)
    assert result.files_scanned == 0
    assert THEIRS not in repr(result.findings)
    assert [item["file"] for item in result.not_scanned] == ["plain.csv"]


def test_resolving_for_another_lab_is_refused(team, rival):
    real = storage.resolve_under_root(team.root.path, "plain.csv", lab_id=team.lab.pk)
    assert real.name == "plain.csv"
    with pytest.raises(storage.UnsafePath):
        storage.resolve_under_root(team.root.path, "plain.csv", lab_id=rival.lab.pk)


def test_a_folder_holding_another_labs_root_is_not_read(team, rival):
    legacy_root(rival.lab, "Nested", team.storage / "private")
    with pytest.raises(storage.UnsafePath):
        storage.resolve_under_root(team.root.path, ".", lab_id=team.lab.pk)
    with pytest.raises(storage.UnsafePath):
        storage.resolve_under_root(team.root.path, "private", lab_id=team.lab.pk)
    # A file beside it, in no other lab's root, still reads.
    assert storage.resolve_under_root(team.root.path, "plain.csv", lab_id=team.lab.pk)
