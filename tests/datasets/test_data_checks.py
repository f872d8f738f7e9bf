"""Data checks at review: each tabular file of a submission gets a Frictionless report
(ragged rows, values that do not fit the type, headers, encoding), with row and column,
read within a per-file budget; the lab decides whether errors block approval."""

import pytest
from django.urls import reverse

from datasets import tabular
from datasets.models import Submission
from datasets.services import data_checks
from datasets.services import files as file_services
from datasets.services.errors import Conflict
from tests.builders import Team

pytestmark = pytest.mark.django_db

GOOD = b"station,temp\nOSL,-4.5\nBGO,3\n"
# Row 3 is ragged (a cell short), row 4 has a non-numeric temperature.
BAD = b"station,temp\n" + b"OSL,1.5\n" * 30 + b"BGO\nTRD,warm\n"


@pytest.fixture
def team(tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return Team(tmp_path / "storage")


def reports(submission) -> dict:
    submission.refresh_from_db()
    assert submission.data_checks["state"] == "done"
    return {f["path"]: f for f in submission.data_checks["files"]}


def test_a_ragged_row_and_a_non_numeric_value_are_reported_with_row_and_column(team):
    dataset = team.dataset()
    team.upload(dataset, "readings.csv", BAD)
    report = reports(team.submit(dataset))["readings.csv"]
    assert not report["valid"] and report["error_count"] == 2
    found = [(e["type"], e["row_number"], e.get("field_name")) for e in report["errors"]]
    assert found == [("missing-cell", 32, "temp"), ("type-error", 33, "temp")]
    assert all("warm" not in e["message"] for e in report["errors"])  # no cell is quoted


def test_a_valid_file_passes_and_other_files_are_not_checked(team):
    dataset = team.dataset()
    team.upload(dataset, "readings.csv", GOOD)
    team.upload(dataset, "notes.txt", b"hello")
    found = reports(team.submit(dataset))
    assert list(found) == ["readings.csv"]
    assert found["readings.csv"]["valid"] and found["readings.csv"]["rows"] == 2


def test_the_corrected_type_is_what_values_are_checked_against(team):
    dataset = team.dataset()
    item = team.upload(dataset, "readings.csv", GOOD)
    edits = [{"type": "string", "description": ""}, {"type": "integer", "description": ""}]
    file_services.file_update(item, actor=team.ada, columns=edits)
    report = reports(team.submit(dataset))["readings.csv"]
    assert [(e["type"], e["row_number"]) for e in report["errors"]] == [("type-error", 2)]


def test_blank_and_duplicate_headers_and_bad_encoding_are_reported(team):
    dataset = team.dataset()
    team.upload(dataset, "headers.csv", b"a,,a\n1,2,3\n")
    team.upload(dataset, "latin.csv", b"name\ncaf\xe9\n")
    found = reports(team.submit(dataset))
    assert [e["type"] for e in found["headers.csv"]["errors"]] == [
        "blank-label",
        "duplicate-label",
    ]
    assert [e["type"] for e in found["latin.csv"]["errors"]] == ["encoding-error"]


def test_tabular_entries_of_a_folder_are_checked(team):
    (team.storage / "survey" / "q").mkdir(parents=True)
    (team.storage / "survey" / "q" / "part1.csv").write_bytes(BAD)
    (team.storage / "survey" / "readme.md").write_text("hi")
    dataset = team.dataset()
    team.add_storage(dataset, "survey")
    found = reports(team.submit(dataset))
    assert list(found) == ["survey/q/part1.csv"] and found["survey/q/part1.csv"]["error_count"] == 2


def test_a_large_file_is_checked_only_up_to_the_budget(team, settings):
    settings.WHARF_DATA_CHECK_MAX_BYTES_PER_FILE = 1000
    settings.WHARF_DATA_CHECK_INLINE_MAX_BYTES = 10**9
    (team.storage / "big.csv").write_bytes(b"n,x\n" + b"1,2\n" * 100_000 + b"oops\n")
    dataset = team.dataset()
    team.add_storage(dataset, "big.csv")
    report = reports(team.submit(dataset))["big.csv"]
    assert report["truncated"] and report["valid"]
    assert 1000 <= report["bytes_checked"] < 1100 and report["rows"] < 300


def test_a_big_submission_is_checked_by_the_worker_task(
    team, settings, django_capture_on_commit_callbacks, monkeypatch
):
    settings.WHARF_DATA_CHECK_INLINE_MAX_BYTES = 10
    queued = []
    monkeypatch.setattr(data_checks, "_enqueue", queued.append)
    dataset = team.dataset()
    team.upload(dataset, "readings.csv", BAD)
    with django_capture_on_commit_callbacks(execute=True):
        submission = team.submit(dataset)
    assert queued == [submission.pk]
    assert submission.data_checks == {"state": "pending", "files": []}
    assert data_checks.data_checks_run(submission.pk) == "done"
    assert data_checks.data_checks_run(submission.pk) == "nothing to do"  # safe twice
    assert reports(submission)["readings.csv"]["error_count"] == 2


def test_errors_only_warn_unless_the_lab_blocks(team):
    dataset = team.dataset()
    team.upload(dataset, "readings.csv", BAD)
    submission = team.submit(dataset)
    team.lab.data_checks_block = True
    team.lab.save()
    with pytest.raises(Conflict, match="fail their data checks"):
        team.approve(Submission.objects.get(pk=submission.pk))
    team.lab.data_checks_block = False
    team.lab.save()
    job = team.approve(Submission.objects.get(pk=submission.pk))
    assert job.pk


def test_a_blocking_lab_waits_for_unfinished_checks(team):
    team.lab.data_checks_block = True
    team.lab.save()
    dataset = team.dataset()
    team.upload(dataset, "readings.csv", GOOD)
    submission = team.submit(dataset)
    Submission.objects.filter(pk=submission.pk).update(data_checks={"state": "pending"})
    with pytest.raises(Conflict, match="still running"):
        team.approve(Submission.objects.get(pk=submission.pk))


def test_the_review_page_shows_each_file_and_its_first_errors(team, client):
    dataset = team.dataset()
    team.upload(dataset, "readings.csv", BAD)
    submission = team.submit(dataset)
    client.force_login(team.grace)
    page = client.get(reverse("datasets:review", args=[submission.pk])).content.decode()
    assert "Data checks of tabular files" in page
    assert "row 32, column temp: the row has fewer cells than the header" in page
    assert "row 33, column temp: the value does not fit the column&#x27;s type" in page


def test_budgeted_reading_never_goes_past_the_budget_and_the_line(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"a,b\n" + b"1,2\n" * 1000)
    report = tabular.validate_table(path, "csv", [], budget=10)
    assert report["truncated"] and report["bytes_checked"] == 12 and report["rows"] == 2


def test_the_review_page_folds_the_files_without_errors_under_the_ones_that_need_a_look(
    team, client
):
    """A folder of many tables: the one with errors is a row of its own; the others are
    one folded line ("12 files with no errors") that still names each of them."""
    folder = team.storage / "survey"
    folder.mkdir()
    for i in range(12):
        (folder / f"part{i:02}.csv").write_bytes(GOOD)
    (folder / "part99.csv").write_bytes(BAD)
    dataset = team.dataset()
    team.add_storage(dataset, "survey")
    submission = team.submit(dataset)
    client.force_login(team.grace)
    page = client.get(reverse("datasets:review", args=[submission.pk])).content.decode()
    checks = page[page.index('id="data-checks"') :]
    assert checks.index("survey/part99.csv") < checks.index("12 files with no errors")
    assert "<details>" in checks  # folded: more than ten
    assert all(f"survey/part{i:02}.csv" in checks for i in range(12))
    assert checks.count('class="table-warning"') == 1
