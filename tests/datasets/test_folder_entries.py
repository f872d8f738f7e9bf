"""A folder's entries listed a page at a time on the review, submit and dataset pages
(datasets.views.entries, datasets.folder_entries): frozen in a version, or live from lab
storage."""

import shutil

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from datasets.folder_entries import ENTRIES_PER_PAGE
from datasets.models import DatasetFile
from tests.builders import Team, make_survey
from tests.factories import LabFactory, member

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def team(tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return Team(tmp_path / "storage")


@pytest.fixture
def dataset(team):
    make_survey(team.storage)
    dataset = team.dataset()
    team.add_storage(dataset, "survey", "Survey answers, one file per part.")
    return dataset


def paths_listed(response) -> list[str]:
    return [row["path"] for row in response.context["page"].rows]


def test_the_review_page_lists_a_versions_frozen_entries_a_page_at_a_time(client, team, dataset):
    submission = team.submit(dataset)
    client.force_login(team.grace)
    page = client.get(reverse("datasets:review", args=[submission.pk])).content.decode()
    url = reverse("datasets:submission_entries", args=[submission.pk]) + "?folder=survey"
    assert f'hx-get="{url}"' in page and f'href="{url}"' in page
    assert "List the 60 files in survey" in page

    first = client.get(url, **HTMX)
    assert first.status_code == 200
    html = first.content.decode()
    assert "<html" not in html  # htmx gets the list alone
    assert paths_listed(first)[:2] == ["answers.csv", "raw/part000.txt"]
    assert len(paths_listed(first)) == ENTRIES_PER_PAGE
    assert "60 files, 1–50 shown" in html and "as frozen when this version was submitted" in html
    # The inferred columns of a tabular entry are shown with it.
    assert 'id</span> <span class="text-body-secondary">(integer)' in html
    assert f'hx-get="{url}&amp;page=2"' in html

    second = client.get(url + "&page=2", **HTMX)
    assert paths_listed(second) == [f"raw/part{i:03}.txt" for i in range(49, 59)]
    assert "Previous" in second.content.decode() and "Next" not in second.content.decode()


def test_what_was_frozen_is_listed_even_when_storage_changed_since(client, team, dataset):
    submission = team.submit(dataset)
    files = submission.files
    files[0]["entries"][0]["sha256"] = "ab" * 32  # as the content scan records it
    submission.files = files
    submission.save(update_fields=["files"])
    shutil.rmtree(team.storage / "survey")
    client.force_login(team.ada)
    response = client.get(
        reverse("datasets:submission_entries", args=[submission.pk]) + "?folder=survey", **HTMX
    )
    assert paths_listed(response)[0] == "answers.csv"
    assert f'title="{"ab" * 32}">abababababab…' in response.content.decode()


def test_without_javascript_the_link_is_a_page_of_its_own(client, team, dataset):
    submission = team.submit(dataset)
    client.force_login(team.ada)
    url = reverse("datasets:submission_entries", args=[submission.pk]) + "?folder=survey"
    response = client.get(url + "&page=2")
    html = response.content.decode()
    assert "<html" in html and "Files in the folder survey" in html
    assert f"Back to Version {submission.number}" in html
    assert paths_listed(response)[-1] == "raw/part058.txt"
    assert f'href="{url}&amp;page=1"' in html


def test_the_dataset_and_submit_pages_list_the_folder_as_it_is_on_storage_now(
    client, team, dataset
):
    folder = DatasetFile.objects.get(dataset=dataset, path="survey")
    url = reverse("datasets:file_entries", args=[folder.pk])
    client.force_login(team.ada)
    detail = client.get(reverse("datasets:dataset_detail", args=[dataset.pk])).content.decode()
    submit = client.get(reverse("datasets:submission_create", args=[dataset.pk])).content.decode()
    for page in (detail, submit):
        assert f'hx-get="{url}"' in page and "List the 60 files in survey" in page

    (team.storage / "survey" / "aaa-new.csv").write_text("a\n1\n")
    response = client.get(url, **HTMX)
    assert paths_listed(response)[0] == "aaa-new.csv"
    assert response.context["page"].count == 61
    assert "as on lab storage now" in response.content.decode()


def test_a_folder_gone_from_storage_is_said_not_a_500(client, team, dataset):
    folder = DatasetFile.objects.get(dataset=dataset, path="survey")
    shutil.rmtree(team.storage / "survey")
    client.force_login(team.ada)
    response = client.get(reverse("datasets:file_entries", args=[folder.pk]), **HTMX)
    assert response.status_code == 200
    assert "Wharf cannot list this folder on lab storage now" in response.content.decode()
    assert "does not exist" in response.context["error"]


def test_a_page_past_the_end_points_back_to_the_last_one(client, team, dataset):
    folder = DatasetFile.objects.get(dataset=dataset, path="survey")
    url = reverse("datasets:file_entries", args=[folder.pk])
    client.force_login(team.ada)
    response = client.get(url + "?page=9", **HTMX)
    html = response.content.decode()
    assert "No files on page 9: the folder has fewer now." in html
    assert f'href="{url}?page=2"' in html
    assert client.get(url + "?page=nonsense", **HTMX).context["page"].number == 1


def test_the_entries_are_seen_only_by_whoever_may_see_the_page(client, team, dataset):
    submission = team.submit(dataset)
    folder = DatasetFile.objects.get(dataset=dataset, path="survey")
    file_url = reverse("datasets:file_entries", args=[folder.pk])
    frozen_url = reverse("datasets:submission_entries", args=[submission.pk]) + "?folder=survey"

    assert client.get(file_url).status_code == 302  # to the login page
    client.force_login(member(LabFactory()))
    assert client.get(file_url, **HTMX).status_code == 404
    assert client.get(frozen_url, **HTMX).status_code == 404

    client.force_login(team.ada)
    missing = reverse("datasets:submission_entries", args=[submission.pk]) + "?folder=nope"
    assert client.get(missing).status_code == 404


def test_a_plain_file_has_no_entries(client, team):
    dataset = team.dataset()
    plain = team.upload(dataset, "notes.txt", b"hello")
    client.force_login(team.ada)
    assert client.get(reverse("datasets:file_entries", args=[plain.pk])).status_code == 404


def test_folders_add_no_query_to_the_dataset_pages_first_render(client, team, dataset):
    other = team.dataset(slug="three-folders")
    for name in ("survey", "more-a", "more-b"):
        if name != "survey":
            (team.storage / name).mkdir()
            (team.storage / name / "x.txt").write_text("x")
        team.add_storage(other, name)
    client.force_login(team.ada)
    counts = {}
    for each in (dataset, other):
        url = reverse("datasets:dataset_detail", args=[each.pk])
        client.get(url)  # the session and the like, read once
        with CaptureQueriesContext(connection) as queries:
            html = client.get(url).content.decode()
        counts[html.count('class="folder-entries')] = len(queries)
    assert counts.keys() == {1, 3}
    assert counts[1] == counts[3]
