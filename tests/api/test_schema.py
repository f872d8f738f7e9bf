import io

import pytest
from django.core.management import call_command

from .conftest import api_client

pytestmark = pytest.mark.django_db


def test_the_schema_renders_without_warnings_or_errors():
    # --fail-on-warn raises on any warning or error drf-spectacular reports.
    out = io.StringIO()
    call_command("spectacular", "--fail-on-warn", "--validate", "--format", "openapi-json",
                 stdout=out)  # fmt: skip
    assert '"/api/v1/datasets/{id}/kaggle-metadata/"' in out.getvalue()


def test_the_schema_endpoint_answers_without_a_login(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    assert b"openapi: 3" in response.content
    assert b"/api/v1/submissions/{id}/approve/" in response.content


def test_the_docs_page_lists_every_endpoint(client, team):
    client.force_login(team.ada)
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/api/v1/auth/token/" in html and "/api/v1/jobs/{id}/retry/" in html
    assert '<script src="http' not in html  # nothing from elsewhere (CSP)


def test_the_browsable_api_renders_for_a_logged_in_user(client, team):
    client.force_login(team.ada)
    response = client.get("/api/v1/datasets/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200


def test_options_and_unknown_methods_do_not_fail(team):
    client = api_client(team.ada)
    assert client.options("/api/v1/datasets/").status_code == 200
    assert client.put("/api/v1/labs/", {}).status_code == 405


def test_the_docs_page_is_public(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert "/api/v1/datasets/" in response.content.decode()
