import pytest
from django.contrib.auth.models import AnonymousUser

from datasets.models import Membership, Role
from datasets.selectors import access_of, is_engineer, labs_of, role_in, scope_to_user
from datasets.services import review
from tests.builders import Team
from tests.factories import LabFactory, UserFactory, member

pytestmark = pytest.mark.django_db


def test_users_see_only_their_labs_and_superusers_see_all():
    lab_a, lab_b = LabFactory(), LabFactory()
    ada = member(lab_a)
    root = UserFactory(is_superuser=True)
    assert list(labs_of(ada)) == [lab_a]
    assert set(labs_of(root)) == {lab_a, lab_b}
    assert list(labs_of(AnonymousUser())) == []


def test_scope_to_user_follows_a_lab_path():
    lab_a, lab_b = LabFactory(), LabFactory()
    ada = member(lab_a)
    member(lab_b)
    scoped = scope_to_user(Membership.objects.all(), ada)
    assert {m.lab for m in scoped} == {lab_a}


def test_roles_are_per_lab():
    lab_a, lab_b = LabFactory(), LabFactory()
    grace = member(lab_a, Role.ENGINEER)
    Membership.objects.create(user=grace, lab=lab_b, role=Role.RESEARCHER)
    assert is_engineer(grace, lab_a)
    assert not is_engineer(grace, lab_b)
    assert role_in(UserFactory(), lab_a) is None


def test_access_reads_labs_roles_and_pending_reviews_in_one_query(
    tmp_path, settings, django_assert_num_queries
):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    team = Team(tmp_path / "storage")
    other = LabFactory()
    member(other, Role.RESEARCHER, username="grace-elsewhere")
    Membership.objects.create(user=team.grace, lab=other, role=Role.RESEARCHER)
    dataset = team.dataset()
    team.upload(dataset, "sites.csv", b"a,b\n1,2\n")
    review.submission_submit(dataset, actor=team.ada)
    grace = type(team.grace).objects.get(pk=team.grace.pk)  # as a request loads it
    with django_assert_num_queries(1):
        access = access_of(grace)
        # Everything after the first read comes from it.
        assert access_of(grace) is access
        assert is_engineer(grace, team.lab) and not is_engineer(grace, other)
        assert role_in(grace, other) == Role.RESEARCHER
    assert access.pending_reviews == 1  # only the lab where grace reviews counts
    # A date as the ORM gives it, whatever the database (SQLite hands back text).
    assert access.oldest_pending == dataset.submissions.get().submitted_at
    assert set(labs_of(grace)) == {team.lab, other}
    assert {m.lab for m in scope_to_user(Membership.objects.all(), grace)} == {team.lab, other}


def test_access_of_a_researcher_counts_no_reviews_and_anonymous_has_none():
    lab = LabFactory()
    ada = member(lab, Role.RESEARCHER)
    access = access_of(ada)
    assert not access.is_engineer_anywhere and access.pending_reviews == 0
    assert access.lab_ids == [lab.pk]
    assert access_of(AnonymousUser()).labs == []


def test_roles_read_without_access_are_never_stale():
    # Services (and tests) keep user objects across changes: only a request caches.
    lab = LabFactory()
    ada = member(lab, Role.RESEARCHER)
    assert not is_engineer(ada, lab)
    Membership.objects.filter(user=ada, lab=lab).update(role=Role.ENGINEER)
    assert is_engineer(ada, lab)
