"""The role checks every service starts with: one wording, one exception type.

Views and the API check roles too, to hide what a user may not do; these are the checks
that hold whatever the caller (web, API, a task, the shell)."""

from datasets.models import Lab
from datasets.selectors import is_engineer, role_in

from .errors import Forbidden


def require_engineer(actor, lab: Lab, what: str = "do this") -> None:
    """Forbidden unless `actor` is a data engineer of `lab` (superusers are everywhere).
    `what` finishes the sentence "Only data engineers of <lab> may ..."."""
    if not is_engineer(actor, lab):
        raise Forbidden(f"Only data engineers of {lab.name} may {what}.")


def require_member(actor, lab: Lab) -> str:
    """The actor's role in `lab`; Forbidden when they have none."""
    role = role_in(actor, lab)
    if role is None:
        raise Forbidden(f"You are not a member of {lab.name}.")
    return role
