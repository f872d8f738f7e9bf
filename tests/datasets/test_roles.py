"""The role checks every service starts with, and their one home."""

import ast
from pathlib import Path

import pytest
from django.contrib.auth.models import AnonymousUser

from datasets.models import Role
from datasets.services.errors import Forbidden
from datasets.services.roles import require_engineer, require_member
from tests.factories import LabFactory, UserFactory, member

pytestmark = pytest.mark.django_db
SERVICES = Path(__file__).resolve().parents[2] / "datasets" / "services"


@pytest.fixture
def lab():
    return LabFactory(name="Ocean Lab")


def test_an_engineer_and_an_administrator_pass_the_engineer_check(lab):
    require_engineer(member(lab, Role.ENGINEER), lab, "approve a submission")
    require_engineer(UserFactory(is_superuser=True), lab)


@pytest.mark.parametrize("who", ["researcher", "outsider", "anonymous"])
def test_everyone_else_is_refused_with_what_they_may_not_do(lab, who):
    actor = {
        "researcher": lambda: member(lab, Role.RESEARCHER),
        "outsider": lambda: member(LabFactory(), Role.ENGINEER),
        "anonymous": AnonymousUser,
    }[who]()
    with pytest.raises(Forbidden, match=r"^Only data engineers of Ocean Lab may approve it\.$"):
        require_engineer(actor, lab, "approve it")
    with pytest.raises(Forbidden, match=r"^Only data engineers of Ocean Lab may do this\.$"):
        require_engineer(actor, lab)


def test_the_member_check_returns_the_role(lab):
    assert require_member(member(lab, Role.RESEARCHER), lab) == Role.RESEARCHER
    assert require_member(member(lab, Role.ENGINEER), lab) == Role.ENGINEER


def test_an_outsider_is_not_a_member(lab):
    with pytest.raises(Forbidden, match=r"^You are not a member of Ocean Lab\.$"):
        require_member(member(LabFactory(), Role.ENGINEER), lab)
    with pytest.raises(Forbidden):
        require_member(AnonymousUser(), lab)


def test_a_service_refusal_reaches_the_caller_as_the_shared_wording(lab):
    from datasets.services.labs import invitation_create

    with pytest.raises(Forbidden, match=r"^Only data engineers of Ocean Lab may invite people\.$"):
        invitation_create(
            lab, actor=member(lab, Role.RESEARCHER), email="x@lab.example", role=Role.RESEARCHER
        )


def test_no_service_writes_its_own_role_check():
    own = [
        f"{path.name}: {node.name}"
        for path in sorted(SERVICES.glob("*.py"))
        if path.name != "roles.py"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef)
        and ("require_engineer" in node.name or "require_member" in node.name)
    ]
    assert own == [], "use datasets.services.roles: " + ", ".join(own)


def _forbidden_wording(node) -> str:
    """The leading text of `raise Forbidden("…")` / `raise Forbidden(f"…")`, else ""."""
    call = node.exc
    if not (isinstance(call, ast.Call) and getattr(call.func, "id", "") == "Forbidden"):
        return ""
    first = call.args[0] if call.args else None
    if isinstance(first, ast.JoinedStr) and first.values:
        first = first.values[0]
    return first.value if isinstance(first, ast.Constant) else ""


def test_no_service_words_the_role_refusal_itself():
    inline = [
        f"{path.name} line {node.lineno}"
        for path in sorted(SERVICES.glob("*.py"))
        if path.name != "roles.py"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Raise)
        and _forbidden_wording(node).startswith(
            ("Only data engineers", "Only the lab's data engineers", "You are not a member")
        )
    ]
    assert inline == [], "use datasets.services.roles: " + ", ".join(inline)
