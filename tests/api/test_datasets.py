import pytest
from django.urls import NoReverseMatch, reverse

from datasets.models import Dataset, DatasetStatus, Event
from datasets.services import accounts

from .conftest import api_client

pytestmark = pytest.mark.django_db


def payload(team, **fields):
    return {
        "lab": team.lab.pk,
        "slug": "bird-song-recordings",
        "title": "Bird song recordings",
        "subtitle": "Dawn chorus recordings from twelve sites",
        "description": "Recorded with **care**.",
        "license": "CC-BY-4.0",
        "keywords": ["Birds", "audio", "birds"],
        **fields,
    }


def test_a_researcher_registers_a_dataset_under_the_labs_only_account(team):
    response = api_client(team.ada).post("/api/v1/datasets/", payload(team))
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["owner_slug"] == "ocean-lab"
    assert body["ref"] == "ocean-lab/bird-song-recordings"
    assert body["status"] == "draft"
    assert body["is_private"] is True
    assert body["keywords"] == ["birds", "audio"]
    assert body["latest_version"] is None and body["kaggle_url"] == ""
    assert Event.objects.filter(dataset_id=body["id"], action="dataset.created").exists()


def test_the_dataset_links_to_its_page_in_the_portal(team):
    dataset = team.dataset()
    body = api_client(team.ada).get(f"/api/v1/datasets/{dataset.pk}/").json()
    try:
        expected = reverse("datasets:dataset_detail", args=[dataset.pk])
    except NoReverseMatch:
        pytest.fail("the portal has no datasets:dataset_detail page yet")
    assert body["web_url"] == f"http://testserver{expected}"


def test_the_owner_is_named_when_the_lab_has_several_accounts(team):
    accounts.kaggle_account_create(
        team.lab, actor=team.grace, owner_slug="second-owner", username="second",
        credential_kind="key", secret="another-key-5678",
    )  # fmt: skip
    client = api_client(team.ada)
    response = client.post("/api/v1/datasets/", payload(team))
    assert response.status_code == 400
    assert "say which one" in response.json()["owner_slug"][0]
    response = client.post("/api/v1/datasets/", payload(team, owner_slug="nobody"))
    assert "has no Kaggle account 'nobody'" in response.json()["owner_slug"][0]
    response = client.post("/api/v1/datasets/", payload(team, owner_slug="second-owner"))
    assert response.status_code == 201
    assert response.json()["owner_slug"] == "second-owner"


def test_lists_are_paginated_filtered_and_scoped_to_your_labs(team, rival):
    team.dataset("ocean-temps")
    team.dataset("river-levels", title="River levels")
    rival.dataset("rival-data1")
    client = api_client(team.ada)
    body = client.get("/api/v1/datasets/").json()
    assert body["count"] == 2 and {"next", "previous", "results"} <= body.keys()
    assert {d["slug"] for d in body["results"]} == {"ocean-temps", "river-levels"}
    assert client.get("/api/v1/datasets/?q=river").json()["count"] == 1
    assert client.get("/api/v1/datasets/?status=draft").json()["count"] == 2
    assert client.get("/api/v1/datasets/?status=published").json()["count"] == 0
    assert client.get(f"/api/v1/datasets/?lab={team.lab.pk}").json()["count"] == 2
    assert client.get("/api/v1/datasets/?page_size=1").json()["next"]


def test_bad_filters_answer_400_and_another_labs_filter_404(team, rival):
    client = api_client(team.ada)
    assert client.get("/api/v1/datasets/?status=nonsense").status_code == 400
    assert client.get("/api/v1/datasets/?lab=abc").status_code == 400
    assert client.get("/api/v1/datasets/?q=a%00b").status_code == 400
    assert client.get(f"/api/v1/datasets/?lab={rival.lab.pk}").status_code == 404


def test_another_labs_datasets_are_not_found(team, rival):
    theirs = rival.dataset("rival-data1")
    client = api_client(team.ada)
    for url in (
        f"/api/v1/datasets/{theirs.pk}/",
        f"/api/v1/datasets/{theirs.pk}/files/",
        f"/api/v1/datasets/{theirs.pk}/kaggle-metadata/",
        f"/api/v1/datasets/{theirs.pk}/history/",
        f"/api/v1/datasets/{theirs.pk}/submissions/",
        f"/api/v1/datasets/{2**70}/",
    ):
        assert client.get(url).status_code == 404, url
    assert client.patch(f"/api/v1/datasets/{theirs.pk}/", {"title": "Mine now"}).status_code == 404
    assert client.delete(f"/api/v1/datasets/{theirs.pk}/").status_code == 404
    assert Dataset.objects.filter(pk=theirs.pk, title="Ocean temperatures").exists()


def test_creating_in_another_labs_id_is_not_found(team, rival):
    client = api_client(team.ada)
    assert client.post("/api/v1/datasets/", payload(team, lab=rival.lab.pk)).status_code == 404
    assert client.post("/api/v1/datasets/", payload(team, lab=2**70)).status_code == 400
    assert not Dataset.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"title": "x" * 51}, "title", "6–50 characters long on Kaggle; it has 51"),
        ({"title": ""}, "title", "it has 0"),
        ({"title": "Bird\x00song data"}, "title", "Null characters are not allowed."),
        ({"subtitle": "Dawn chorus \x07recordings, twelve sites"}, "subtitle", "control"),
        ({"subtitle": "Too short"}, "subtitle", "20–80 characters"),
        ({"description": "Line one\x1b[31m red"}, "description", "control"),
        ({"description": "x" * 50_001}, "description", "under 50,000 characters"),
        ({"slug": "bird-sоng-data"}, "slug", "look-alike"),  # a Cyrillic o
        ({"slug": "ｂｉｒｄ-song"}, "slug", "look-alike"),  # full-width letters
        ({"slug": "bird--song"}, "slug", "single hyphens"),
        ({"slug": "../../etc"}, "slug", "letters, digits"),
        ({"license": "MIT"}, "license", "not one of Kaggle's licenses"),
        ({"keywords": ["ok"] * 5 + [f"k{i}" for i in range(25)]}, "keywords", "at most 20"),
        ({"keywords": "birds"}, "keywords", "list"),
        ({"keywords": ["x" * 51]}, "keywords", "longer than 50"),
        ({"is_private": "perhaps"}, "is_private", "valid boolean"),
        ({"source": "ftp"}, "source", "not a valid choice"),
        ({"lab": "abc"}, "lab", "valid integer"),
        ({"title": ["a list"]}, "title", "Not a valid string."),
    ],
)
def test_bad_input_is_refused_with_a_message_for_the_field(team, fields, field, message):
    response = api_client(team.ada).post("/api/v1/datasets/", payload(team, **fields))
    assert response.status_code == 400, response.content
    assert message in " ".join(map(str, response.json()[field]))
    assert not Dataset.objects.exists()


def test_missing_fields_and_unreadable_bodies_answer_400(team):
    client = api_client(team.ada)
    response = client.post("/api/v1/datasets/", {"lab": team.lab.pk})
    assert response.status_code == 400
    assert {"slug", "title", "license"} <= response.json().keys()
    response = client.post("/api/v1/datasets/", "{not json", content_type="application/json")
    assert response.status_code == 400
    response = client.post("/api/v1/datasets/", [1, 2], format="json")
    assert response.status_code == 400
    assert "non_field_errors" in response.json()


def test_html_is_stored_as_text(team):
    script = "<script>alert('x')</script> and <b>bold</b>"
    client = api_client(team.ada)
    response = client.post(
        "/api/v1/datasets/", payload(team, description=script, title="<b>Birds</b> & songs")
    )
    assert response.status_code == 201
    assert response["Content-Type"] == "application/json"
    body = client.get(f"/api/v1/datasets/{response.json()['id']}/").json()
    assert body["description"] == script
    assert body["title"] == "<b>Birds</b> & songs"


def test_a_slug_is_unique_per_owner(team):
    team.dataset("bird-song-recordings")
    response = api_client(team.ada).post(
        "/api/v1/datasets/", payload(team, slug="Bird-Song-Recordings")
    )
    assert response.status_code == 400
    assert "already registered" in response.json()["slug"][0]


def test_editing_changes_only_the_given_fields(team):
    dataset = team.dataset(is_private=False, source="storage")
    client = api_client(team.ada)
    response = client.patch(f"/api/v1/datasets/{dataset.pk}/", {"title": "Ocean temps daily"})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["title"] == "Ocean temps daily"
    assert body["is_private"] is False and body["source"] == "storage"  # no defaults applied
    response = client.patch(f"/api/v1/datasets/{dataset.pk}/", {"subtitle": "short"})
    assert response.status_code == 400 and "subtitle" in response.json()


def test_a_dataset_stays_in_its_lab(team, rival):
    dataset = team.dataset()
    response = api_client(team.ada).patch(f"/api/v1/datasets/{dataset.pk}/", {"lab": rival.lab.pk})
    assert response.status_code == 400
    assert "another lab" in response.json()["lab"][0]


def test_a_dataset_in_review_cannot_be_edited_or_deleted(team):
    submission = team.submitted()
    client = api_client(team.ada)
    url = f"/api/v1/datasets/{submission.dataset_id}/"
    response = client.patch(url, {"title": "Changed title"})
    assert response.status_code == 409
    assert "in review" in response.json()["detail"]
    assert client.delete(url).status_code == 409
    assert client.put(url, payload(team)).status_code == 405


def test_deleting_a_draft(team):
    dataset = team.dataset()
    client = api_client(team.ada)
    assert client.delete(f"/api/v1/datasets/{dataset.pk}/").status_code == 204
    assert not Dataset.objects.filter(pk=dataset.pk).exists()


def test_only_its_creator_or_an_engineer_deletes_a_draft(team):
    from tests.factories import member

    dataset = team.dataset()
    other = member(team.lab)
    response = api_client(other).delete(f"/api/v1/datasets/{dataset.pk}/")
    assert response.status_code == 403
    assert api_client(team.grace).delete(f"/api/v1/datasets/{dataset.pk}/").status_code == 204


def test_the_kaggle_metadata_is_what_wharf_would_send(team):
    dataset = team.dataset()
    team.upload(dataset, "readings.csv")
    body = api_client(team.ada).get(f"/api/v1/datasets/{dataset.pk}/kaggle-metadata/").json()
    assert body == {
        "title": "Ocean temperatures",
        "id": "ocean-lab/ocean-temps",
        "licenses": [{"name": "CC-BY-4.0"}],
        "isPrivate": True,
        "keywords": ["oceans"],
        "resources": [
            {
                "path": "readings.csv",
                "description": "",
                # The columns inferred when the CSV was added (datasets.tabular).
                "schema": {
                    "fields": [
                        {"name": "t", "type": "integer", "description": ""},
                        {"name": "temp", "type": "number", "description": ""},
                    ]
                },
            }
        ],
        "subtitle": "Daily sea surface readings from buoys",
        "description": "Readings from **twelve** buoys.",
    }


def test_the_history_is_newest_first(team):
    dataset = team.dataset()
    team.upload(dataset)
    body = api_client(team.ada).get(f"/api/v1/datasets/{dataset.pk}/history/").json()
    assert [e["action"] for e in body["results"]] == ["file.added", "dataset.created"]
    assert body["results"][0]["actor"] == team.ada.username
    assert Dataset.objects.get(pk=dataset.pk).status == DatasetStatus.DRAFT


def test_an_oversized_body_or_a_lone_surrogate_is_refused_not_a_500(team):
    client = api_client(team.ada)
    huge = payload(team, description="x" * 3_000_000)
    assert client.post("/api/v1/datasets/", huge).status_code == 413
    body = '{"lab": %d, "slug": "abcdef", "title": "\\ud800 broken", "license": "CC0-1.0"}'
    response = client.post("/api/v1/datasets/", body % team.lab.pk, content_type="application/json")
    assert response.status_code == 400
    assert "title" in response.json()
