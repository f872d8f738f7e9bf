"""Submitting and reviewing through the pages: the whole round trip, and the rules."""

import pytest
from django.urls import reverse

from datasets.models import (
    Comment,
    DatasetStatus,
    Event,
    PublishJob,
    Role,
    Submission,
    SubmissionState,
)
from datasets.services import review
from tests.builders import Team
from tests.factories import member

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return Team(tmp_path / "storage")


@pytest.fixture
def dataset(team):
    dataset = team.dataset()
    team.upload(dataset, "readings.csv", b"t,temp\n1,12.5\n")
    return dataset


def submit(client, dataset, notes=""):
    return client.post(
        reverse("datasets:submission_create", args=[dataset.pk]), {"version_notes": notes}
    )


def test_submit_return_resubmit_approve_round_trip(client, team, dataset):
    ada, grace = team.ada, team.grace

    # ada submits v1 with notes.
    client.force_login(ada)
    page = client.get(reverse("datasets:submission_create", args=[dataset.pk]))
    assert "Submit version 1" in page.content.decode()
    response = submit(client, dataset, "First cut.")
    assert response.status_code == 302
    submission = Submission.objects.get(dataset=dataset)
    assert (submission.number, submission.version_notes) == (1, "First cut.")
    dataset.refresh_from_db()
    assert dataset.status == DatasetStatus.IN_REVIEW

    # grace sees it in her queue (and the count in the navigation), reads it, returns it.
    client.force_login(grace)
    queue = client.get(reverse("datasets:review_queue"))
    assert list(queue.context["submissions"]) == [submission]
    html = queue.content.decode()
    assert 'badge rounded-pill text-bg-warning">1<' in html
    page = client.get(reverse("datasets:review", args=[submission.pk]))
    html = page.content.decode()
    assert "First version" in html and "readings.csv" in html
    assert "<strong>twelve</strong>" in html  # the rendered description
    assert "&quot;isPrivate&quot;: true" in html
    assert "Approve and publish" in html
    empty = client.post(reverse("datasets:submission_return", args=[submission.pk]), {})
    assert empty.status_code == 200
    assert "reason" in empty.context["return_form"].errors
    client.post(
        reverse("datasets:submission_return", args=[submission.pk]),
        {"reason": "Please add units."},
    )
    submission.refresh_from_db()
    assert submission.state == SubmissionState.RETURNED

    # ada sees the reason, edits, resubmits.
    client.force_login(ada)
    detail = client.get(reverse("datasets:dataset_detail", args=[dataset.pk])).content.decode()
    assert "Please add units." in detail
    edit = client.post(
        reverse("datasets:dataset_edit", args=[dataset.pk]),
        {
            "kaggle_account": team.account.pk,
            "slug": dataset.slug,
            "title": dataset.title,
            "subtitle": dataset.subtitle,
            "description": "Readings in °C from **twelve** buoys.",
            "license": "CC-BY-4.0",
            "keywords": "oceans",
            "is_private": "on",
            "source": "upload",
            "folder_packaging": "zip",
        },
    )
    assert edit.status_code == 302
    assert submit(client, dataset, "Units added.").status_code == 302
    second = Submission.objects.get(dataset=dataset, state=SubmissionState.PENDING_REVIEW)
    assert second.number == 1  # nothing was published yet: still version 1

    # grace approves: a job is queued.
    client.force_login(grace)
    response = client.post(
        reverse("datasets:submission_approve", args=[second.pk]), {"note": "Looks good."},
        follow=True,
    )  # fmt: skip
    assert "Approved version 1" in response.content.decode()
    second.refresh_from_db()
    assert second.state == SubmissionState.APPROVED and second.review_note == "Looks good."
    job = PublishJob.objects.get(submission=second)
    assert job.state == "queued"

    # The history shows every step with its actor.
    client.force_login(ada)
    detail = client.get(reverse("datasets:dataset_detail", args=[dataset.pk])).content.decode()
    for label in ("submitted a version", "returned a version", "approved a version"):
        assert label in detail
    assert grace.username in detail
    assert "Queued" in detail  # the job's state, as text


def test_researchers_cannot_approve_or_return(client, team, dataset):
    submission = team.submit(dataset)
    colleague = member(team.lab, Role.RESEARCHER)
    client.force_login(colleague)
    approve = client.post(reverse("datasets:submission_approve", args=[submission.pk]))
    assert approve.status_code == 403
    assert "Only data engineers" in approve.content.decode()
    back = client.post(
        reverse("datasets:submission_return", args=[submission.pk]), {"reason": "no"}
    )
    assert back.status_code == 403
    page = client.get(reverse("datasets:review", args=[submission.pk])).content.decode()
    assert "Approve and publish" not in page
    submission.refresh_from_db()
    assert submission.state == SubmissionState.PENDING_REVIEW
    assert not PublishJob.objects.exists()


def test_an_engineer_cannot_approve_their_own_submission(client, team, dataset):
    submission = review.submission_submit(dataset, actor=team.grace, version_notes="")
    client.force_login(team.grace)
    page = client.get(reverse("datasets:review", args=[submission.pk])).content.decode()
    assert "another engineer" in page
    response = client.post(
        reverse("datasets:submission_approve", args=[submission.pk]), follow=True
    )
    assert "another engineer must approve it" in response.content.decode()
    submission.refresh_from_db()
    assert submission.state == SubmissionState.PENDING_REVIEW


def test_approving_twice_makes_one_job_and_says_so(client, team, dataset):
    submission = team.submit(dataset)
    client.force_login(team.grace)
    url = reverse("datasets:submission_approve", args=[submission.pk])
    client.post(url)
    again = client.post(url, follow=True)
    assert "only a pending one can be approved" in again.content.decode()
    assert PublishJob.objects.count() == 1


def test_approving_a_withdrawn_submission_is_refused(client, team, dataset):
    submission = team.submit(dataset)
    client.force_login(team.ada)
    response = client.post(
        reverse("datasets:submission_withdraw", args=[submission.pk]), follow=True
    )
    assert "Withdrew version 1" in response.content.decode()
    dataset.refresh_from_db()
    assert dataset.status == DatasetStatus.DRAFT
    client.force_login(team.grace)
    refused = client.post(reverse("datasets:submission_approve", args=[submission.pk]), follow=True)
    assert "withdrawn" in refused.content.decode()
    assert not PublishJob.objects.exists()


def test_only_the_submitter_or_an_engineer_may_withdraw(client, team, dataset):
    submission = team.submit(dataset)
    client.force_login(member(team.lab, Role.RESEARCHER))
    response = client.post(
        reverse("datasets:submission_withdraw", args=[submission.pk]), follow=True
    )
    assert "Only the researcher who submitted it" in response.content.decode()
    submission.refresh_from_db()
    assert submission.state == SubmissionState.PENDING_REVIEW


def test_a_storage_file_that_changed_size_blocks_approval(client, team):
    dataset = team.dataset()
    (team.storage / "data.csv").write_text("1,2\n")
    team.add_storage(dataset, "data.csv")
    submission = team.submit(dataset)
    (team.storage / "data.csv").write_text("1,2\n3,4\n")
    client.force_login(team.grace)
    page = client.get(reverse("datasets:review", args=[submission.pk])).content.decode()
    assert "Files changed on storage since this version was submitted" in page
    assert "disabled" in page.split("Approve and publish")[0].rsplit("<button", 1)[1]
    response = client.post(
        reverse("datasets:submission_approve", args=[submission.pk]), follow=True
    )
    assert "must submit again" in response.content.decode()
    assert not PublishJob.objects.exists()


def test_submitting_needs_files_and_says_so(client, team):
    dataset = team.dataset()
    client.force_login(team.ada)
    response = submit(client, dataset, "notes kept")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Add at least one file" in html and "notes kept" in html
    assert not Submission.objects.exists()


def test_version_notes_with_control_characters_are_refused(client, team, dataset):
    client.force_login(team.ada)
    response = submit(client, dataset, "bad\x07bell")
    assert response.status_code == 200
    assert "control" in response.context["form"].errors["version_notes"][0]


def test_comments_on_both_sides(client, team, dataset):
    submission = team.submit(dataset)
    url = reverse("datasets:comment_add", args=[submission.pk])
    client.force_login(team.grace)
    client.post(url, {"text": "Which <b>units</b>?"})
    client.force_login(team.ada)
    empty = client.post(url, {"text": ""})
    assert empty.status_code == 200
    assert "text" in empty.context["comment_form"].errors
    client.post(url, {"text": "Celsius."})
    assert list(Comment.objects.values_list("text", flat=True)) == [
        "Which <b>units</b>?",
        "Celsius.",
    ]
    page = client.get(reverse("datasets:review", args=[submission.pk])).content.decode()
    assert "Which &lt;b&gt;units&lt;/b&gt;?" in page and "Celsius." in page
    assert Event.objects.filter(action="submission.commented").count() == 2


def test_the_queue_is_oldest_first_and_counted_for_engineers_only(client, team):
    first, second = team.dataset("first-set"), team.dataset("second-set")
    for d in (second, first):
        team.upload(d, "a.csv", b"1\n")
        team.submit(d)
    client.force_login(team.grace)
    queue = client.get(reverse("datasets:review_queue"))
    assert [s.dataset for s in queue.context["submissions"]] == [second, first]
    html = queue.content.decode()
    assert 'text-bg-warning">2<' in html
    assert "2 files" not in html  # file count column, not prose
    client.force_login(team.ada)
    researcher = client.get(reverse("datasets:review_queue"))
    assert list(researcher.context["submissions"]) == []
    assert "text-bg-warning" not in researcher.content.decode()


def test_the_review_page_shows_a_diff_against_the_published_version(client, team, dataset):
    first = team.submit(dataset)
    job = team.approve(first)
    PublishJob.objects.filter(pk=job.pk).update(state="published")
    dataset.refresh_from_db()
    dataset.__class__.objects.filter(pk=dataset.pk).update(
        latest_version=1, status=DatasetStatus.PUBLISHED
    )
    dataset.refresh_from_db()
    team.upload(dataset, "extra.csv", b"9,9\n")
    second = team.submit(dataset, notes="More data.")
    client.force_login(team.grace)
    html = client.get(reverse("datasets:review", args=[second.pk])).content.decode()
    assert "Against version 1" in html
    assert "added extra.csv" in html


def test_a_resubmitted_version_shows_why_it_was_returned_before(client, tmp_path):
    from datasets.services import review as review_services
    from tests.builders import Team

    team = Team(tmp_path / "storage")
    dataset = team.dataset(slug="returned-before")
    team.upload(dataset, "a.csv", b"a,b\n1,2\n")
    first = team.submit(dataset)
    review_services.submission_return(first, actor=team.grace, reason="Add the units, please.")
    second = team.submit(dataset)
    client.force_login(team.grace)
    page = client.get(f"/review/{second.pk}/").content.decode()
    assert "was returned" in page and "Add the units, please." in page
