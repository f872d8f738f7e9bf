import pytest
from django.contrib.auth.models import AnonymousUser

from datasets.models import Membership, Role
from datasets.selectors import is_engineer, labs_of, role_in, scope_to_user
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
