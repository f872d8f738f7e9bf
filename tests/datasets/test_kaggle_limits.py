"""A version Kaggle would refuse (too many files) or fail at processing (too large) is
refused at submission, with a message naming the limit, before anything is uploaded."""

import os

import pytest

from datasets import rules
from datasets.models import Submission
from datasets.services.errors import ServiceError
from tests.builders import Team

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(tmp_path):
    return Team(tmp_path / "storage")


def test_a_folder_over_kaggles_file_count_is_refused_at_submission(team):
    folder = team.storage / "many"
    folder.mkdir()
    for i in range(rules.KAGGLE_MAX_FILES + 1):
        (folder / f"part-{i:04d}.csv").write_text("a\n1\n")
    dataset = team.dataset()
    team.add_storage(dataset, "many")
    with pytest.raises(ServiceError) as refused:
        team.submit(dataset)
    assert refused.value.code == "too_many_files"
    assert "1,001 files" in refused.value.message
    assert "at most 1,000" in refused.value.message
    assert not Submission.objects.filter(dataset=dataset).exists()


def test_exactly_the_limit_is_accepted(team):
    folder = team.storage / "enough"
    folder.mkdir()
    for i in range(rules.KAGGLE_MAX_FILES - 1):
        (folder / f"part-{i:04d}.csv").write_text("a\n1\n")
    dataset = team.dataset()
    team.add_storage(dataset, "enough")
    team.upload(dataset, "readme.md", b"# About\n")
    assert team.submit(dataset).file_count == 2


def test_a_version_over_kaggles_size_is_refused_at_submission(team, settings):
    big = team.storage / "big.bin"
    with open(big, "wb") as out:  # sparse: the size without the disk
        out.truncate(rules.KAGGLE_MAX_DATASET_BYTES + 1)
    assert os.path.getsize(big) > rules.KAGGLE_MAX_DATASET_BYTES
    dataset = team.dataset()
    team.add_storage(dataset, "big.bin")
    with pytest.raises(ServiceError) as refused:
        team.submit(dataset)
    assert refused.value.code == "too_large"
    assert "6.0" in refused.value.message or "5.6" in refused.value.message
    assert not Submission.objects.filter(dataset=dataset).exists()


def test_counting_follows_what_kaggle_unpacks():
    files = [
        {"path": "a.csv", "kind": "file", "size": 1},
        {"path": "f", "kind": "folder", "size": 2, "entries": [{"path": "x"}, {"path": "y"}]},
    ]
    assert rules.published_file_count(files) == 3


def test_a_file_added_before_the_name_rule_is_refused_at_submission(team):
    dataset = team.dataset()
    item = team.upload(dataset, "data.csv", b"a\n1\n")
    type(item).objects.filter(pk=item.pk).update(path="datapackage.json")  # an older row
    with pytest.raises(ServiceError) as refused:
        team.submit(dataset)
    assert refused.value.code == "file_name_kaggle_reserved"
    assert "never uploads" in refused.value.message


def test_a_folder_that_gained_a_git_folder_since_it_was_added_is_refused(team):
    folder = team.storage / "survey"
    folder.mkdir()
    (folder / "q1.csv").write_text("a\n1\n")
    dataset = team.dataset()
    team.add_storage(dataset, "survey")
    (folder / ".git").mkdir()
    (folder / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    with pytest.raises(ServiceError) as refused:
        team.submit(dataset)
    assert refused.value.code == "folder_kaggle_ignored"
