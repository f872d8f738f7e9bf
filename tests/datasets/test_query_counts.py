"""Pages issue a fixed number of queries whatever the volume (seed_volume's history)."""

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
    "dataset_detail": 8,  # + its submissions, their jobs, the files and the timeline
    "history": 6,
    "dashboard": 6,
    "job_detail": 5,
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
    assert busy.n > 500 > quiet.n
    budget = BUDGET["dataset_detail"]
    counts = [
        _count(django_assert_max_num_queries, engineer_client, f"/datasets/{d.pk}/{q}", budget)
        for d in (busy, quiet)
        for q in ("", "?events=20")
    ]
    # Deep timeline pages cost what the first does (no COUNT over thousands of events).
    assert counts[0] == counts[1] and counts[2] == counts[3]


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


def test_the_job_page_stays_within_its_budget(engineer_client, django_assert_max_num_queries):
    job = PublishJob.objects.filter(dataset__lab__slug="volume-0").first()
    _count(django_assert_max_num_queries, engineer_client, f"/jobs/{job.pk}/", BUDGET["job_detail"])


def test_a_user_of_another_lab_sees_none_of_the_volume(client, volume):
    client.force_login(UserFactory())
    assert b"volume-0" not in client.get("/history/").content
