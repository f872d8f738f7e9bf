"""The dataset pages: list, detail, create/edit with their rules, metadata download."""

import json

import pytest
from django.urls import reverse

from datasets.models import Dataset, DatasetStatus, Role
from datasets.services import review
from tests.builders import Team
from tests.factories import LabFactory, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return Team(tmp_path / "storage")


def form_data(team, **overrides):
    data = {
        "lab": team.lab.pk,
        "kaggle_account": team.account.pk,
        "slug": "dawn-chorus",
        "title": "Dawn chorus",
        "subtitle": "Bird song at first light, twelve sites",
        "description": "Recordings from **twelve** sites.",
        "license": "CC-BY-4.0",
        "keywords": "birds, audio",
        "is_private": "on",
        "source": "upload",
        "folder_packaging": "zip",
    }
    data.update(overrides)
    return data


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get(reverse("datasets:dataset_list"))
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_the_list_shows_only_my_labs_and_filters(client, team, tmp_path):
    ocean = team.dataset("ocean-temps")
    team.dataset("river-flows", title="River flows")
    rival = Team(tmp_path / "rival", owner="rival-lab")
    rival.dataset("secret-data", title="Rival secrets")
    client.force_login(team.ada)

    html = client.get(reverse("datasets:dataset_list")).content.decode()
    assert "Ocean temperatures" in html and "River flows" in html
    assert "Rival secrets" not in html

    found = client.get(reverse("datasets:dataset_list"), {"q": "river"}).content.decode()
    assert "River flows" in found and "Ocean temperatures" not in found

    Dataset.objects.filter(pk=ocean.pk).update(status=DatasetStatus.RETURNED)
    by_status = client.get(reverse("datasets:dataset_list"), {"status": "returned"})
    assert [d.pk for d in by_status.context["datasets"]] == [ocean.pk]

    # Another lab's id in the filter is a form error, not a peek.
    other = client.get(reverse("datasets:dataset_list"), {"lab": rival.lab.pk})
    assert other.status_code == 200
    assert "Rival secrets" not in other.content.decode()


def test_another_labs_dataset_is_not_found_on_every_page(client, team, tmp_path):
    rival = Team(tmp_path / "rival", owner="rival-lab")
    theirs = rival.dataset("secret-data")
    item = rival.upload(theirs, "a.csv", b"x,y\n")
    submission = rival.submit(theirs)
    client.force_login(team.ada)
    urls = [
        reverse("datasets:dataset_detail", args=[theirs.pk]),
        reverse("datasets:dataset_edit", args=[theirs.pk]),
        reverse("datasets:dataset_metadata", args=[theirs.pk]),
        reverse("datasets:dataset_delete", args=[theirs.pk]),
        reverse("datasets:file_upload", args=[theirs.pk]),
        reverse("datasets:file_add_storage", args=[theirs.pk]),
        reverse("datasets:storage_browse", args=[theirs.pk]),
        reverse("datasets:submission_create", args=[theirs.pk]),
        reverse("datasets:file_edit", args=[item.pk]),
        reverse("datasets:review", args=[submission.pk]),
    ]
    for url in urls:
        assert client.get(url).status_code == 404, url
    posts = [
        reverse("datasets:file_delete", args=[item.pk]),
        reverse("datasets:submission_withdraw", args=[submission.pk]),
        reverse("datasets:comment_add", args=[submission.pk]),
        reverse("datasets:dataset_delete", args=[theirs.pk]),
    ]
    for url in posts:
        assert client.post(url, {"text": "hi"}).status_code == 404, url
    assert Dataset.objects.filter(pk=theirs.pk).exists()


def test_registering_a_dataset_redirects_to_its_page(client, team):
    client.force_login(team.ada)
    response = client.post(reverse("datasets:dataset_create"), form_data(team))
    dataset = Dataset.objects.get(slug="dawn-chorus")
    assert response.status_code == 302
    assert response["Location"] == reverse("datasets:dataset_detail", args=[dataset.pk])
    assert dataset.owner_slug == team.account.owner_slug
    assert dataset.keywords == ["birds", "audio"]
    assert dataset.is_private is True
    assert dataset.created_by == team.ada


def test_a_create_with_errors_keeps_what_was_typed(client, team):
    client.force_login(team.ada)
    response = client.post(
        reverse("datasets:dataset_create"),
        form_data(
            team,
            title="Bird",
            slug="dawn chorus!",
            subtitle="too short",
            description="My *long* notes",
            keywords="birds, audio",
        ),
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert "6–50 characters" in form.errors["title"][0]
    assert "letters, digits" in form.errors["slug"][0]
    assert "20–80" in form.errors["subtitle"][0]
    html = response.content.decode()
    assert 'value="dawn chorus!"' in html
    assert "My *long* notes" in html
    assert 'value="birds, audio"' in html
    assert "Everything you typed is kept" in html
    assert not Dataset.objects.exists()


def test_a_slug_taken_by_the_owner_is_refused_on_the_slug_field(client, team):
    team.dataset("dawn-chorus")
    client.force_login(team.ada)
    response = client.post(reverse("datasets:dataset_create"), form_data(team, slug="Dawn-Chorus"))
    assert response.status_code == 200
    assert "already registered" in response.context["form"].errors["slug"][0]


def test_look_alike_characters_and_nul_bytes_are_refused(client, team):
    client.force_login(team.ada)
    response = client.post(
        reverse("datasets:dataset_create"),
        form_data(team, slug="dawn-сhorus", description="bad\x00byte"),  # Cyrillic с
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "look-alike" in errors["slug"][0]
    assert "description" in errors or "__all__" in errors


def test_another_labs_kaggle_account_is_refused(client, team, tmp_path):
    rival = Team(tmp_path / "rival", owner="rival-lab")
    client.force_login(team.ada)
    response = client.post(
        reverse("datasets:dataset_create"), form_data(team, kaggle_account=rival.account.pk)
    )
    assert response.status_code == 200
    assert "kaggle_account" in response.context["form"].errors
    assert not Dataset.objects.exists()


def test_html_in_text_fields_is_shown_inert(client, team):
    dataset = team.dataset(
        title="<b>Bold</b> title",
        description="<script>alert(1)</script>[x](javascript:alert(2)) **ok**",
    )
    client.force_login(team.ada)
    html = client.get(reverse("datasets:dataset_detail", args=[dataset.pk])).content.decode()
    assert "&lt;b&gt;Bold&lt;/b&gt; title" in html
    assert "<script>alert(1)" not in html
    assert "javascript:alert" not in html.split('id="h-description"')[1].split("</section>")[0]
    assert "<strong>ok</strong>" in html


def test_the_markdown_preview_is_sanitised(client, team):
    client.force_login(team.ada)
    response = client.post(
        reverse("datasets:markdown_preview"),
        {"description": "# Hi\n<script>x()</script><img src=x onerror=alert(1)>"},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "<h1>Hi</h1>" in html
    assert "<script" not in html and "onerror" not in html


def test_the_detail_page_shows_files_metadata_and_history(client, team):
    dataset = team.dataset()
    team.upload(dataset, "readings.csv", b"t,temp\n" * 1000, description="Hourly readings")
    client.force_login(team.ada)
    response = client.get(reverse("datasets:dataset_detail", args=[dataset.pk]))
    html = response.content.decode()
    assert "readings.csv" in html and "Hourly readings" in html
    assert "6.8\xa0KB" in html  # 7000 bytes
    assert "&quot;isPrivate&quot;: true" in html
    assert "Submit version 1" in html
    assert team.ada.username in html and "registered the dataset" in html
    assert "added a file" in html


def test_the_metadata_download_is_the_exact_json(client, team):
    dataset = team.dataset(is_private=False)
    team.upload(dataset, "readings.csv", b"1,2\n", description="Readings")
    client.force_login(team.ada)
    response = client.get(reverse("datasets:dataset_metadata", args=[dataset.pk]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert 'filename="dataset-metadata.json"' in response["Content-Disposition"]
    body = json.loads(response.content)
    assert body["id"] == dataset.ref
    assert body["isPrivate"] is False
    assert body["licenses"] == [{"name": "CC-BY-4.0"}]
    assert body["resources"] == [
        {
            "path": "readings.csv",
            "description": "Readings",
            # A header without rows: its columns are read, typed as Kaggle's default.
            "schema": {
                "fields": [
                    {"name": "1", "type": "string", "description": ""},
                    {"name": "2", "type": "string", "description": ""},
                ]
            },
        }
    ]


def test_editing_saves_and_keeps_the_history(client, team):
    dataset = team.dataset()
    client.force_login(team.ada)
    url = reverse("datasets:dataset_edit", args=[dataset.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert 'value="Ocean temperatures"' in page.content.decode()
    data = form_data(team, slug=dataset.slug, title="Ocean temperatures 2")
    response = client.post(url, data)
    assert response.status_code == 302
    dataset.refresh_from_db()
    assert dataset.title == "Ocean temperatures 2"
    assert dataset.events.filter(action="dataset.updated").exists()


def test_a_dataset_in_review_is_read_only_and_says_why(client, team):
    dataset = team.dataset()
    team.upload(dataset, "readings.csv", b"1,2\n")
    team.submit(dataset)
    client.force_login(team.ada)
    response = client.get(reverse("datasets:dataset_edit", args=[dataset.pk]), follow=True)
    html = response.content.decode()
    assert "it is in review" in html
    assert "Read-only" in html
    assert "Submit version" not in html
    post = client.post(
        reverse("datasets:dataset_edit", args=[dataset.pk]), form_data(team, slug="ocean-temps")
    )
    assert post.status_code == 302
    dataset.refresh_from_db()
    assert dataset.title == "Ocean temperatures"


def test_the_return_reason_is_shown_on_the_dataset_page(client, team):
    dataset = team.dataset()
    team.upload(dataset, "readings.csv", b"1,2\n")
    submission = team.submit(dataset)
    review.submission_return(submission, actor=team.grace, reason="Add units to <the> columns.")
    client.force_login(team.ada)
    html = client.get(reverse("datasets:dataset_detail", args=[dataset.pk])).content.decode()
    assert "Returned by the reviewer" in html
    assert "Add units to &lt;the&gt; columns." in html
    assert "Submit version 1" in html


def test_deleting_a_draft(client, team):
    dataset = team.dataset()
    client.force_login(team.ada)
    url = reverse("datasets:dataset_delete", args=[dataset.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, follow=True)
    assert "Deleted" in response.content.decode()
    assert not Dataset.objects.filter(pk=dataset.pk).exists()


def test_a_researcher_cannot_delete_a_colleagues_dataset(client, team):
    dataset = team.dataset()
    colleague = member(team.lab, Role.RESEARCHER)
    client.force_login(colleague)
    response = client.post(reverse("datasets:dataset_delete", args=[dataset.pk]), follow=True)
    assert "Only the researcher who registered it" in response.content.decode()
    assert Dataset.objects.filter(pk=dataset.pk).exists()


def test_a_user_without_labs_is_told_so(client):
    user = member(LabFactory())
    user.memberships.all().delete()
    client.force_login(user)
    html = client.get(reverse("datasets:dataset_create")).content.decode()
    assert "not a member of any lab" in html


def test_the_create_page_has_tabs_a_live_preview_and_the_license_help(client, team):
    client.force_login(team.ada)
    html = client.get(reverse("datasets:dataset_create")).content.decode()
    assert "1. Basics" in html and "2. Description" in html and "3. Publishing" in html
    assert f'hx-post="{reverse("datasets:markdown_preview")}"' in html
    assert "CC-BY-4.0 — Anyone may use and adapt it" in html
    page = client.get(reverse("datasets:dataset_create"))
    assert page.context["form"]["is_private"].value() is True


def test_the_navigation_links_the_dataset_pages(client, team):
    client.force_login(team.ada)
    html = client.get("/").content.decode()
    for name in ("dataset_list", "lab_list", "profile"):
        assert f'href="{reverse(f"datasets:{name}")}"' in html
    # A researcher is not shown what only engineers use (issue 20).
    for name in ("review_queue", "dashboard"):
        assert f'href="{reverse(f"datasets:{name}")}"' not in html
    client.force_login(team.grace)
    html = client.get("/").content.decode()
    for name in ("review_queue", "dashboard"):
        assert f'href="{reverse(f"datasets:{name}")}"' in html
