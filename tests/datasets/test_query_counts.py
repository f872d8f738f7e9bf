"""Pages issue a fixed number of queries whatever the volume (seed_volume's history)."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db.models import Count

from datasets.models import Dataset, PublishJob
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

# Session, user, the user's labs with roles and review counts (one query, shared by the
# navigation, the scoping and the role checks), then the page's own queries. Issue 21:
# every page <= 6.
BUDGET = {
    "dataset_list": 6,
    # + the dataset, its versions with their newest jobs, its files; the timeline page
    # (events are append-only) is read once per new event, then kept.
    "dataset_detail": 6,
    "history": 6,
    "dashboard": 6,
    "job_detail": 5,
    "home": 6,  # + my datasets with their count, the versions, the jobs
}


@pytest.fixture
def volume(django_db_blocker):
    call_command("seed_volume", datasets=300, events=4000, jobs=200, labs=2, quiet=True)


@pytest.fixture
def engineer_client(client, volume):
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.get(username="volume-engineer-0"))
    return client


def _count(django_assert_max_num_queries, client, url, budget):
    with django_assert_max_num_queries(budget) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(captured.captured_queries)


def test_the_dataset_page_costs_the_same_for_a_busy_and_a_quiet_dataset(
    engineer_client, django_assert_max_num_queries
):
    lab0 = Dataset.objects.filter(lab__slug="volume-0").annotate(n=Count("events"))
    busy, quiet = lab0.order_by("-n").first(), lab0.order_by("n").first()
    published = lab0.filter(jobs__state="published").first()
    assert busy.n > 500 > quiet.n and published is not None
    budget = BUDGET["dataset_detail"]
    counts = []
    for dataset in (busy, quiet, published):
        for query in ("", "?events=20"):
            url = f"/datasets/{dataset.pk}/{query}"
            # The first view reads the timeline page; the next ones have it.
            first = _count(django_assert_max_num_queries, engineer_client, url, budget + 1)
            counts.append(_count(django_assert_max_num_queries, engineer_client, url, budget))
            assert counts[-1] == first - 1
    # Deep timeline pages cost what the first does (no COUNT over thousands of events),
    # and versions with publish jobs cost no query of their own.
    assert len(set(counts)) == 1


def test_a_new_event_shows_on_the_dataset_page_at_once(engineer_client):
    from datasets.services.events import event_record

    dataset = Dataset.objects.filter(lab__slug="volume-0").first()
    url = f"/datasets/{dataset.pk}/"
    assert b"hecked lab storage for changes" not in engineer_client.get(url).content
    event_record("dataset.checked", dataset=dataset)
    assert b"hecked lab storage for changes" in engineer_client.get(url).content


def test_the_versions_table_shows_each_versions_newest_job(engineer_client):
    job = PublishJob.objects.filter(dataset__lab__slug="volume-0").order_by("-id").first()
    older = PublishJob.objects.create(
        dataset=job.dataset,
        submission=job.submission,
        state="failed",
        created_at=job.created_at,
    )
    PublishJob.objects.filter(pk=older.pk).update(created_at=job.created_at - timedelta(days=1))
    newest = job.submission.jobs.order_by("-created_at", "-id").first()
    page = engineer_client.get(f"/datasets/{job.dataset_id}/").content.decode()
    assert newest != older and f"job #{newest.pk}</a>:" in page
    assert f"job #{older.pk}</a>" not in page


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("dataset_list", "/datasets/"),
        ("dataset_list", "/datasets/?page=5"),
        ("history", "/history/?state=failed"),
        ("history", "/history/?page=2"),
        ("dashboard", "/dashboard/"),
    ],
)
def test_list_pages_stay_within_their_query_budget(
    engineer_client, django_assert_max_num_queries, name, url
):
    _count(django_assert_max_num_queries, engineer_client, url, BUDGET[name])


def test_the_home_page_stays_within_its_budget(engineer_client, django_assert_max_num_queries):
    _count(django_assert_max_num_queries, engineer_client, "/", BUDGET["home"])


def test_the_job_page_stays_within_its_budget(engineer_client, django_assert_max_num_queries):
    job = PublishJob.objects.filter(dataset__lab__slug="volume-0").first()
    _count(django_assert_max_num_queries, engineer_client, f"/jobs/{job.pk}/", BUDGET["job_detail"])


def test_a_user_of_another_lab_sees_none_of_the_volume(client, volume):
    client.force_login(UserFactory())
    assert b"volume-0" not in client.get("/history/").content
