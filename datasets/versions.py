"""How a version is named, everywhere (pages, feeds, e-mails, webhooks, CSV, API).

Wharf's number and Kaggle's drift apart (a processing that failed on Kaggle consumes a
Kaggle number, a metadata-only publish consumes none), so both are shown side by side:
"v3 · Kaggle v4". A skipped publish (nothing changed) consumes no number at all: it is
named for the version it repeats, never with a number of its own."""

from datasets.models import JobState


def version_label(number: int | None, kaggle_number: int | None = None) -> str:
    """ "v3 · Kaggle v4"; just "v3" while Kaggle's number is not known; "" for none."""
    if not number:
        return ""
    if kaggle_number:
        return f"v{number} · Kaggle v{kaggle_number}"
    return f"v{number}"


def dataset_version_label(dataset) -> str:
    """The latest published version of a dataset ("" before the first)."""
    return version_label(dataset.latest_version, dataset.kaggle_version)


def job_version_label(job) -> str:
    """The version a publish job made (or proposes, while it runs or after it failed)."""
    if job.state == JobState.SKIPPED:
        return "no new version (nothing changed)"
    number = job.submission.number
    if job.state == JobState.PUBLISHED:
        return version_label(number, job.kaggle_version)
    return version_label(number)


def submission_version_label(submission) -> str:
    """A submission names the version it would become: its Kaggle number is known only
    once a job of it is published."""
    return version_label(submission.number)


def version_numbers(job) -> dict:
    """The machine-readable pair, for the API, webhooks and the CSV export."""
    skipped = job.state == JobState.SKIPPED
    return {
        "wharf_version": None if skipped else job.submission.number,
        "kaggle_version": job.kaggle_version if job.state == JobState.PUBLISHED else None,
        "version_label": job_version_label(job),
    }
