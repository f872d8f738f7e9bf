"""First impressions (issue 20): a home page for each role, navigation that shows each
role what it can use, timelines that read as sentences, and no page that offers an
action it will then refuse."""

import pytest
from django.urls import reverse
from django.utils import timezone

from datasets.models import DatasetStatus, JobState, PublishJob
from datasets.selectors import previous_review
from datasets.services.review import submission_return
from tests.builders import Team

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.STORAGE_ROOTS_ALLOWED_UNDER = [str(tmp_path)]
    return Team(tmp_path / "storage")


def publish_by_hand(team, dataset, number=1, submission=None):
    """A published version without a worker: the rows a finished job leaves."""
    job = team.approve(submission or team.submit(dataset, notes="First."))
    PublishJob.objects.filter(pk=job.pk).update(
        state=JobState.PUBLISHED, finished_at=timezone.now(), kaggle_version=number
    )
    type(dataset).objects.filter(pk=dataset.pk).update(
        status=DatasetStatus.PUBLISHED, latest_version=number
    )
    dataset.refresh_from_db()
    return job


def test_a_researcher_home_shows_their_datasets_and_what_came_back(client, team):
    draft = team.dataset(slug="draft-data", title="Draft readings")
    returned = team.dataset(slug="returned-data", title="Returned readings")
    team.upload(returned, "a.csv", b"a\n1\n")
    submission_return(team.submit(returned), actor=team.grace, reason="Describe the columns.")
    client.force_login(team.ada)
    page = client.get("/").content.decode()
    assert "Draft readings" in page and "Returned readings" in page
    assert "Returned to you" in page and "Describe the columns." in page
    assert "Review queue" not in page  # neither the panel nor the navigation link
    assert reverse("datasets:dashboard") not in page
    assert draft.title in page


def test_an_engineer_home_shows_the_queue_and_the_navigation_has_it(client, team):
    waiting = team.dataset(slug="waiting-data", title="Waiting readings")
    team.upload(waiting, "a.csv", b"a\n1\n")
    submission = team.submit(waiting)
    client.force_login(team.grace)
    page = client.get("/").content.decode()
    assert "Review queue" in page
    assert reverse("datasets:review", args=[submission.pk]) in page
    assert reverse("datasets:dashboard") in page
    assert "Publishing now" in page


def test_recent_publishes_of_my_labs_are_on_the_home_page(client, team):
    dataset = team.dataset(slug="published-data", title="Published readings")
    team.upload(dataset, "a.csv", b"a\n1\n")
    job = publish_by_hand(team, dataset)
    client.force_login(team.ada)
    page = client.get("/").content.decode()
    assert "Published lately in my labs" in page
    assert reverse("datasets:job_detail", args=[job.pk]) in page


def test_the_delete_page_of_a_published_dataset_offers_no_delete(client, team):
    dataset = team.dataset(slug="kept-data")
    team.upload(dataset, "a.csv", b"a\n1\n")
    publish_by_hand(team, dataset)
    client.force_login(team.grace)
    page = client.get(reverse("datasets:dataset_delete", args=[dataset.pk])).content.decode()
    assert "cannot be deleted" in page and "publish history" in page
    assert 'type="submit" class="btn btn-danger"' not in page


def test_the_delete_page_of_a_draft_offers_delete(client, team):
    dataset = team.dataset(slug="draft-to-delete")
    client.force_login(team.ada)
    page = client.get(reverse("datasets:dataset_delete", args=[dataset.pk])).content.decode()
    assert 'type="submit" class="btn btn-danger"' in page


def test_a_version_returned_before_a_published_one_is_not_repeated_on_later_reviews(team):
    dataset = team.dataset(slug="long-history")
    team.upload(dataset, "a.csv", b"a\n1\n")
    first = team.submit(dataset)
    submission_return(first, actor=team.grace, reason="Old reason.")
    second = team.submit(dataset)
    assert previous_review(second) == first  # right after a return: shown
    publish_by_hand(team, dataset, submission=second)
    third = team.submit(dataset, notes="More buoys.")
    assert previous_review(third) is None


def test_the_timeline_reads_as_sentences_with_codes_behind_a_toggle(client, team):
    dataset = team.dataset(slug="sentences")
    client.force_login(team.ada)
    page = client.get(reverse("datasets:dataset_detail", args=[dataset.pk])).content.decode()
    who = team.ada.get_full_name() or team.ada.username
    assert f"{who} registered the dataset." in page
    assert 'class="event-code' in page and "Show event codes" in page
