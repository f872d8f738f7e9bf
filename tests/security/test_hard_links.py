"""Hard links on lab storage. A hard link is a second name for the same bytes: one placed
inside a storage root can make a file from outside it look like lab data, and nothing in
the path shows it (a symlink does). So a regular file with more than one link is refused
unless the lab allows hard links (Lab.allow_hard_links, off by default), when it is added
and again at every read."""

import os

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from datasets import publishing, staging, storage
from datasets.api.tokens import token_create
from datasets.services.errors import ServiceError
from tests.builders import Team

pytestmark = pytest.mark.django_db

SECRET = "HARD-LINKED-SECRET-FROM-OUTSIDE"


@pytest.fixture
def team(tmp_path):
    return Team(tmp_path / "storage")


@pytest.fixture
def outside(tmp_path):
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.csv").write_text(f"id,value\n1,{SECRET}\n")
    return folder


def web(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def allow_hard_links(team, allowed=True):
    team.lab.allow_hard_links = allowed
    team.lab.save(update_fields=["allow_hard_links"])


def test_hard_links_are_refused_by_default(team):
    assert team.lab.allow_hard_links is False


def test_a_hard_link_to_a_file_outside_the_root_is_refused_by_the_service(team, outside):
    os.link(outside / "secret.csv", team.storage / "innocent.csv")
    dataset = team.dataset(source="storage")
    with pytest.raises(ServiceError) as refused:
        team.add_storage(dataset, "innocent.csv")
    assert "2 hard links" in refused.value.message and "cp, not ln" in refused.value.message
    assert not dataset.files.exists()


def test_a_hard_linked_file_is_refused_on_the_web_and_by_the_api(team, outside):
    os.link(outside / "secret.csv", team.storage / "innocent.csv")
    dataset = team.dataset(source="storage")
    response = web(team.ada).post(
        reverse("datasets:file_add_storage", args=[dataset.pk]),
        {"storage_root": team.root.pk, "relpath": "innocent.csv", "path": "", "description": ""},
    )
    text = response.content.decode()
    assert response.status_code in (200, 400) and "hard links" in text and SECRET not in text
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_create(team.ada, 'x')[1]}")
    response = client.post(
        reverse("api:files", args=[dataset.pk]), {"storage_path": "innocent.csv"}, format="json"
    )
    assert response.status_code == 400 and "hard links" in response.content.decode()
    assert not dataset.files.exists()


def test_two_links_both_inside_the_root_are_refused_too(team):
    # Wharf cannot tell where "the other name" is, so every extra link counts.
    (team.storage / "a.csv").write_text("1\n")
    os.link(team.storage / "a.csv", team.storage / "b.csv")
    with pytest.raises(ServiceError):
        team.add_storage(team.dataset(source="storage"), "a.csv")


def test_a_folder_holding_a_hard_link_is_refused(team, outside):
    (team.storage / "survey" / "deep").mkdir(parents=True)
    (team.storage / "survey" / "a.csv").write_text("1\n")
    os.link(outside / "secret.csv", team.storage / "survey" / "deep" / "b.csv")
    dataset = team.dataset(source="storage")
    with pytest.raises(ServiceError) as refused:
        team.add_storage(dataset, "survey")
    assert "deep/b.csv" in refused.value.message and "hard links" in refused.value.message


def test_the_storage_browser_does_not_pick_a_hard_linked_file(team, outside):
    os.link(outside / "secret.csv", team.storage / "innocent.csv")
    dataset = team.dataset(source="storage")
    text = (
        web(team.ada)
        .get(
            reverse("datasets:storage_browse", args=[dataset.pk]),
            {"root": team.root.pk, "path": "innocent.csv"},
        )
        .content.decode()
    )
    assert "hard links" in text and SECRET not in text


def test_a_lab_that_allows_hard_links_may_add_them(team, outside):
    allow_hard_links(team)
    os.link(outside / "secret.csv", team.storage / "linked.csv")
    (team.storage / "folder").mkdir()
    os.link(outside / "secret.csv", team.storage / "folder" / "linked.csv")
    dataset = team.dataset(source="storage")
    assert team.add_storage(dataset, "linked.csv").size > 0
    assert team.add_storage(dataset, "folder").entry_count == 1


def test_a_hard_link_made_after_adding_is_refused_at_submission(team, outside):
    (team.storage / "later.csv").write_text("1\n")
    dataset = team.dataset(source="storage")
    team.add_storage(dataset, "later.csv")
    os.link(team.storage / "later.csv", outside / "another-name.csv")
    with pytest.raises(ServiceError) as refused:
        team.submit(dataset)
    assert "hard links" in refused.value.message


def test_staging_refuses_a_file_that_gained_a_link_after_approval(team, outside):
    (team.storage / "later.csv").write_text("1\n")
    dataset = team.dataset(source="storage")
    team.add_storage(dataset, "later.csv")
    submission = team.submit(dataset)
    team.approve(submission)
    (entry,) = submission.files
    os.link(team.storage / "later.csv", outside / "another-name.csv")
    with pytest.raises(staging.StagingError) as refused:
        publishing._source_of(entry, lab_id=team.lab.pk)
    assert refused.value.code == "unsafe_path" and "hard links" in refused.value.message


def test_staging_refuses_a_folder_member_that_gained_a_link(team, outside):
    (team.storage / "survey").mkdir()
    (team.storage / "survey" / "a.csv").write_text("1\n")
    dataset = team.dataset(source="storage")
    team.add_storage(dataset, "survey")
    submission = team.submit(dataset)
    team.approve(submission)
    (entry,) = submission.files
    os.link(team.storage / "survey" / "a.csv", outside / "a-again.csv")
    with pytest.raises(staging.StagingError):
        publishing._source_of(entry, lab_id=team.lab.pk)


def test_the_scanner_does_not_read_a_hard_linked_file(team, outside):
    from datasets.scanning import Scan

    (team.storage / "later.csv").write_text("id\n1\n")
    dataset = team.dataset(source="storage")
    team.add_storage(dataset, "later.csv")
    submission = team.submit(dataset)
    os.unlink(team.storage / "later.csv")
    os.link(outside / "secret.csv", team.storage / "later.csv")
    result = Scan(budget=1 << 20, open_upload=lambda name: pytest.fail(name)).run(submission.files)
    assert result.files_scanned == 0 and SECRET not in repr(result.findings)


def test_walk_folder_follows_the_policy_of_the_resolved_path(team, outside):
    (team.storage / "f").mkdir()
    os.link(outside / "secret.csv", team.storage / "f" / "x.csv")
    with pytest.raises(storage.UnsafePath):
        list(storage.walk_folder(team.storage / "f"))  # a plain path: the safe default
    allow_hard_links(team)
    resolved = storage.resolve_under_root(team.root.path, "f")
    assert [e.relpath for e in storage.walk_folder(resolved)] == ["x.csv"]
    allow_hard_links(team, False)
    with pytest.raises(storage.UnsafePath):
        list(storage.walk_folder(storage.resolve_under_root(team.root.path, "f")))
