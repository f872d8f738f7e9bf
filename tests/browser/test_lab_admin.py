"""A lab run from the portal, and the first minute of each role (issue 20): the home
page per role, an engineer adding a member, an invitation, a storage root and a Kaggle
account without the admin, and the invited person joining through the link."""

import re

import pytest
from django.core import mail
from playwright.sync_api import expect

from datasets.models import Invitation, KaggleAccount, Membership, Role, StorageRoot
from datasets.services.review import submission_return
from tests.factories import UserFactory

from .helpers import label, nav

pytestmark = [
    pytest.mark.integration,
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]


def test_each_role_lands_on_a_home_page_of_its_own(quiet_team, visit):
    team = quiet_team
    returned = team.dataset(slug="seabird-counts", title="Seabird colony counts")
    team.upload(returned, "counts.csv", b"colony,count\nRunde,1200\n")
    submission_return(team.submit(returned), actor=team.grace, reason="Describe the columns.")
    waiting = team.dataset(slug="buoy-temps", title="Buoy sea temperatures")
    team.upload(waiting, "temps.csv", b"buoy,temp\nB1,7.9\n")
    pending = team.submit(waiting)

    ada = visit(team.ada)
    page = ada.log_in(team.password)
    expect(page.get_by_role("heading", name="Returned to you")).to_be_visible()
    expect(page.get_by_text("Describe the columns.")).to_be_visible()
    expect(page.get_by_role("heading", name="Waiting for review")).to_be_visible()
    expect(nav(page).get_by_role("link", name=re.compile("^Review queue"))).to_have_count(0)
    expect(nav(page).get_by_role("link", name="Dashboard")).to_have_count(0)
    ada.screenshot("home-researcher", readme=True)

    grace = visit(team.grace)
    page = grace.log_in(team.password)
    queue = page.get_by_role("heading", name="Review queue")
    expect(queue).to_be_visible()
    page.get_by_role("link", name=f"Buoy sea temperatures, version {pending.number}").click()
    grace.arrived("Review")
    grace.page.go_back()
    grace.arrived("Home")
    expect(nav(grace.page).get_by_role("link", name="Dashboard")).to_be_visible()
    grace.screenshot("home-engineer", readme=True)


def test_an_engineer_runs_the_lab_from_its_page(quiet_team, visit, tmp_path, settings):
    team = quiet_team
    storage = tmp_path / "lab-storage" / "seabirds"
    storage.mkdir(parents=True)
    settings.STORAGE_ROOTS_ALLOWED_UNDER = [str(tmp_path / "lab-storage")]
    UserFactory(username="katherine", first_name="Katherine", last_name="Johnson")

    grace = visit(team.grace)
    grace.log_in(team.password)
    page = grace.page
    nav(page).get_by_role("link", name="Labs").click()
    grace.arrived("Labs")
    page.get_by_role("link", name=re.compile(team.lab.name)).click()
    page = grace.arrived(f"{team.lab.name} settings")

    # A member who has an account.
    page.get_by_text("Add someone who has an account").click()
    page.get_by_label(label("User name")).fill("katherine")
    page.get_by_role("button", name="Add member").click()
    grace.arrived(f"{team.lab.name} settings")
    expect(page.get_by_role("alert")).to_contain_text("Added katherine")
    katherine = Membership.objects.get(lab=team.lab, user__username="katherine")
    assert katherine.role == Role.RESEARCHER

    # Her role, from the members table.
    page.get_by_label("Role of katherine").select_option(Role.ENGINEER)
    page.get_by_role("row", name=re.compile("katherine")).get_by_role(
        "button", name="Change role"
    ).click()
    grace.arrived(f"{team.lab.name} settings")
    expect(page.get_by_role("alert")).to_contain_text("katherine is now data engineer")
    katherine.refresh_from_db()
    assert katherine.role == Role.ENGINEER

    # An invitation by e-mail.
    page.get_by_text("Invite by e-mail").click()
    page.get_by_label(label("E-mail address")).fill("mary@lab.example")
    page.get_by_role("button", name="Send invitation").click()
    grace.arrived(f"{team.lab.name} settings")
    expect(page.get_by_role("alert")).to_contain_text("Invited mary@lab.example")
    assert Invitation.objects.filter(lab=team.lab, email="mary@lab.example").exists()

    # A storage root and a Kaggle account.
    page.get_by_text("Register a storage root").click()
    page.get_by_label(label("Name")).first.fill("Seabird project")
    page.get_by_label(label("Path")).fill(str(storage))
    page.get_by_role("button", name="Register root").click()
    grace.arrived(f"{team.lab.name} settings")
    assert StorageRoot.objects.filter(lab=team.lab, name="Seabird project").exists()

    page.get_by_text("Add a Kaggle account").click()
    page.get_by_label(label("Owner slug")).fill("seabird-lab")
    page.get_by_label(label("Username")).fill("grace-k")
    page.get_by_label(label("API key or token")).fill("kaggle-key-1234567890")
    page.get_by_role("button", name="Add account").click()
    grace.arrived(f"{team.lab.name} settings")
    assert KaggleAccount.objects.filter(lab=team.lab, owner_slug="seabird-lab").exists()
    expect(page.get_by_text("kaggle-key-1234567890")).to_have_count(0)

    # Every change is in the lab's history, as sentences.
    history = page.locator("#h-lab-history").locator("..")
    expect(history).to_contain_text("added katherine as researcher.")
    expect(history).to_contain_text("made katherine data engineer.")
    expect(history).to_contain_text("invited mary@lab.example as researcher.")
    page.locator("#members").scroll_into_view_if_needed()
    grace.screenshot("lab-admin", readme=True)


def test_an_invited_person_joins_through_the_one_time_link(quiet_team, visit, live_server):
    team = quiet_team
    grace = visit(team.grace)
    grace.log_in(team.password)
    grace.open("datasets:lab_settings", team.lab.slug, title=f"{team.lab.name} settings")
    grace.page.get_by_text("Invite by e-mail").click()
    grace.page.get_by_label(label("E-mail address")).fill("mary@lab.example")
    grace.page.get_by_role("button", name="Send invitation").click()
    message = grace.page.get_by_role("alert")
    expect(message).to_contain_text("one-time link")
    link = re.search(r"(/invitations/accept/[^/\s]+/)", message.inner_text()).group(1)

    mary = visit()
    mary.page.goto(live_server.url + link)
    page = mary.arrived("Invitation")
    expect(page.get_by_role("heading", name=f"Join {team.lab.name}")).to_be_visible()
    page.get_by_label(label("Your name")).fill("Mary Jackson")
    page.get_by_label(label("User name")).fill("mary")
    page.get_by_label(label("Password"), exact=True).fill("tide-gauge-2026")
    page.get_by_label(label("Password again")).fill("tide-gauge-2026")
    mary.screenshot("invitation", readme=True)
    page.get_by_role("button", name="Create my account and join").click()
    page = mary.arrived("Home")
    expect(page.get_by_role("alert")).to_contain_text(f"Welcome to {team.lab.name}")
    assert Membership.objects.get(lab=team.lab, user__username="mary").role == Role.RESEARCHER

    # The link works once.
    again = visit()
    again.page.goto(live_server.url + link)
    expect(again.arrived("Invitation").get_by_text("works once")).to_be_visible()
    assert not mail.outbox or mail.outbox[0].to == ["mary@lab.example"]
