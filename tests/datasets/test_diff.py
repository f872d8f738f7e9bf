"""The review diff inside folders: entry by entry, and by content (the sha256 frozen at
submission), not by size alone."""

import os

import pytest
from django.urls import reverse

from datasets import selectors
from tests.builders import Team
from tests.datasets.test_versions import publish_by_hand

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(tmp_path):
    return Team(tmp_path / "storage")


def rewrite_keeping_size_and_mtime(path, content: bytes):
    stat = path.stat()
    assert len(content) == stat.st_size
    path.write_bytes(content)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


@pytest.fixture
def survey(team):
    folder = team.storage / "survey" / "raw"
    folder.mkdir(parents=True)
    (folder / "part1.csv").write_text("a,b\n1,2\n" * 6)  # 48 bytes
    (folder / "part2.csv").write_text("a,b\n3,4\n")
    (folder / "part4.csv").write_text("a,b\n5,6\n")
    (team.storage / "readme.md").write_text("# Survey\n")
    dataset = team.dataset()
    team.add_storage(dataset, "survey")
    team.add_storage(dataset, "readme.md")
    publish_by_hand(team, dataset, kaggle_version=1)
    return dataset


def test_a_folders_diff_names_each_entry(team, survey):
    raw = team.storage / "survey" / "raw"
    (raw / "part1.csv").write_text("a,b\n1,2\n" * 6 + "7,8\n")  # 48 → 52 bytes
    rewrite_keeping_size_and_mtime(raw / "part2.csv", b"a,b\n9,9\n")
    (raw / "part4.csv").unlink()
    (raw / "q2").mkdir()
    (raw / "q2" / "part3.csv").write_text("a,b\n1,1\n")
    diff = selectors.submission_diff(team.submit(survey, notes="Q2"))

    (inside,) = diff["entries_changed"]
    assert inside["path"] == "survey"
    assert inside["added"] == [{"path": "raw/q2/part3.csv", "size": 8}]
    assert inside["removed"] == [{"path": "raw/part4.csv", "size": 8}]
    assert inside["changed"] == [
        {"path": "raw/part1.csv", "old_size": 48, "new_size": 52},
        {"path": "raw/part2.csv", "old_size": 8, "new_size": 8},
    ]
    assert [f["path"] for f in diff["files_changed"]] == ["survey"]


def test_the_review_page_shows_the_entries(client, team, survey):
    raw = team.storage / "survey" / "raw"
    (raw / "part1.csv").write_text("a,b\n1,2\n" * 6 + "7,8\n")
    (raw / "q2").mkdir()
    (raw / "q2" / "part3.csv").write_text("a,b\n1,1\n")
    submission = team.submit(survey, notes="Q2")
    client.force_login(team.grace)
    page = client.get(reverse("datasets:review", args=[submission.pk])).content.decode()
    assert "survey/raw/q2/part3.csv added" in page
    assert "survey/raw/part1.csv changed: 48\xa0bytes → 52\xa0bytes" in page


def test_a_same_size_rewrite_of_a_file_is_a_change(team, survey):
    rewrite_keeping_size_and_mtime(team.storage / "readme.md", b"# Survez\n")
    diff = selectors.submission_diff(team.submit(survey, notes="Typo"))
    assert diff["files_changed"] == [{"path": "readme.md", "old_size": 9, "new_size": 9}]
    assert diff["entries_changed"] == []


def test_nothing_changed_is_no_entry_change(team, survey):
    diff = selectors.submission_diff(team.submit(survey, notes="Again"))
    assert diff["files_changed"] == [] and diff["entries_changed"] == []


def test_a_long_list_of_entries_is_cut_and_counted(team, survey):
    raw = team.storage / "survey" / "raw"
    for i in range(selectors.DIFF_ENTRIES_SHOWN + 7):
        (raw / f"new-{i:03d}.csv").write_text("a\n1\n")
    diff = selectors.submission_diff(team.submit(survey, notes="Many"))
    (inside,) = diff["entries_changed"]
    assert len(inside["added"]) == selectors.DIFF_ENTRIES_SHOWN
    assert inside["more"] == 7


def test_a_retyped_column_of_a_folders_table_is_in_the_diff(team, survey):
    from datasets.services import files

    folder = survey.files.get(path="survey")
    columns = folder.entry_columns["raw/part2.csv"]
    assert [(c["name"], c["type"]) for c in columns] == [("a", "integer"), ("b", "integer")]
    edits = [{"type": "string" if c["name"] == "b" else c["type"]} for c in columns]
    files.file_update(folder, actor=team.ada, entry_columns={"raw/part2.csv": edits})
    diff = selectors.submission_diff(team.submit(survey, notes="b is a code"))
    assert diff["columns_changed"] == [
        {
            "path": "survey/raw/part2.csv",
            "added": [],
            "removed": [],
            "retyped": [{"name": "b", "old": columns[1]["type"], "new": "string"}],
        }
    ]
