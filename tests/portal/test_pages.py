import pytest

from datasets.models import Role
from tests.factories import PASSWORD, LabFactory, member

pytestmark = pytest.mark.django_db


def test_login_page_renders_with_local_bootstrap(client):
    response = client.get("/login/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/vendor/bootstrap/bootstrap.min.css" in html
    assert "cdn" not in html.lower()


def test_a_member_logs_in_and_sees_their_labs_with_roles(client):
    lab = LabFactory(name="Neuro Lab")
    other = LabFactory(name="Secret Lab")
    user = member(lab, Role.ENGINEER, username="eve")
    member(other, Role.RESEARCHER)
    response = client.post("/login/", {"username": "eve", "password": PASSWORD}, follow=True)
    html = response.content.decode()
    assert response.status_code == 200
    assert "Neuro Lab" in html and "Data engineer" in html
    assert "Secret Lab" not in html
    assert response.context["user"] == user


def test_wrong_password_shows_a_message_and_keeps_the_username(client):
    lab = LabFactory()
    member(lab, username="sam")
    response = client.post("/login/", {"username": "sam", "password": "nope"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Please enter a correct username and password" in html
    assert 'value="sam"' in html


def test_logout_is_a_post_and_ends_the_session(client):
    lab = LabFactory()
    user = member(lab)
    client.force_login(user)
    response = client.post("/logout/")
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session


def test_pages_send_a_content_security_policy(client):
    response = client.get("/login/")
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "object-src 'none'" in policy
