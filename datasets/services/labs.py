"""A lab's people: creating labs (superusers), members and their roles, invitations by
e-mail (engineers of the lab, superusers). Every change is an event in the lab's history;
a membership row is only the current state."""

import hashlib
import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from datasets.models import Invitation, Lab, Membership, Role

from .errors import Conflict, Forbidden, ServiceError
from .events import event_record
from .roles import require_engineer

log = logging.getLogger(__name__)

INVITATION_DAYS = 7
# Lab addresses live beside these pages (/labs/new/).
RESERVED_SLUGS = {"new"}
MEMBERS = "manage its members"


def _check_role(role: str) -> str:
    if role not in Role.values:
        choices = ", ".join(Role.values)
        raise ServiceError(f"Choose a role: {choices}.", field="role")
    return role


def _person(user) -> dict:
    return {"user_id": user.pk, "username": user.get_username()}


# --- labs ------------------------------------------------------------------------------


def lab_create(*, actor, name: str, slug: str = "", description: str = "") -> Lab:
    if not (actor.is_authenticated and actor.is_superuser):
        raise Forbidden("Only administrators (superusers) may create labs.")
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise ServiceError("Name the lab (up to 120 characters).", field="name")
    slug = slugify(slug or name)[:60]
    if not slug or slug in RESERVED_SLUGS:
        raise ServiceError("Give the lab a short name of letters and digits.", field="slug")
    try:
        with transaction.atomic():
            lab = Lab.objects.create(name=name, slug=slug, description=description or "")
            event_record("lab.created", lab=lab, actor=actor, data={"name": name, "slug": slug})
    except IntegrityError:
        raise ServiceError(
            f"A lab named {name} (or with the short name {slug}) exists already.", field="name"
        ) from None
    return lab


def lab_archive(lab: Lab, *, actor) -> Lab:
    """What is done instead of deleting a lab with a history (administrators): the lab,
    its datasets and its events stay readable; it takes no new datasets."""
    if not (actor.is_authenticated and actor.is_superuser):
        raise Forbidden("Only administrators (superusers) may archive labs.")
    with transaction.atomic():
        if not Lab.objects.filter(pk=lab.pk, archived_at__isnull=True).update(
            archived_at=timezone.now()
        ):
            raise Conflict(f"{lab.name} is archived already.", code="archived")
        lab.refresh_from_db(fields=["archived_at"])
        event_record("lab.archived", lab=lab, actor=actor, data={"name": lab.name})
    return lab


# --- members ---------------------------------------------------------------------------


def member_add(lab: Lab, *, actor, user, role: str) -> Membership:
    require_engineer(actor, lab, MEMBERS)
    _check_role(role)
    if not user.is_active:
        raise ServiceError(f"{user.get_username()}'s account is disabled.", field="username")
    try:
        with transaction.atomic():
            membership = Membership.objects.create(lab=lab, user=user, role=role)
            event_record("member.added", lab=lab, actor=actor, data={**_person(user), "role": role})
    except IntegrityError:
        raise ServiceError(
            f"{user.get_username()} is already a member of {lab.name}.", field="username"
        ) from None
    return membership


def member_add_by_username(lab: Lab, *, actor, username: str, role: str) -> Membership:
    require_engineer(actor, lab, MEMBERS)
    user = get_user_model().objects.filter(username__iexact=(username or "").strip()).first()
    if user is None:
        raise ServiceError(
            f"Nobody is called {username!r} here. Invite them by e-mail instead.",
            field="username",
        )
    return member_add(lab, actor=actor, user=user, role=role)


def _lock_engineers(lab: Lab) -> None:
    # Row locks on the lab's engineers (FOR UPDATE cannot take an aggregate).
    list(
        Membership.objects.select_for_update()
        .filter(lab=lab, role=Role.ENGINEER)
        .values_list("pk", flat=True)
    )


def _engineers_left(lab: Lab, without: Membership) -> bool:
    return Membership.objects.filter(lab=lab, role=Role.ENGINEER).exclude(pk=without.pk).exists()


def member_set_role(membership: Membership, *, actor, role: str) -> Membership:
    lab = membership.lab
    require_engineer(actor, lab, MEMBERS)
    _check_role(role)
    if role == membership.role:
        return membership
    with transaction.atomic():
        # Locked, so two engineers demoting each other cannot leave the lab without one.
        _lock_engineers(lab)
        if role != Role.ENGINEER and not _engineers_left(lab, membership):
            raise Conflict(
                f"{membership.user.get_username()} is the last data engineer of {lab.name}: "
                "make someone else an engineer first."
            )
        before = membership.role
        updated = Membership.objects.filter(pk=membership.pk, role=before).update(role=role)
        if not updated:
            raise Conflict("Someone changed this role a moment ago; reload and try again.")
        event_record(
            "member.role_changed",
            lab=lab,
            actor=actor,
            data={**_person(membership.user), "from": before, "to": role},
        )
    membership.role = role
    return membership


def member_remove(membership: Membership, *, actor) -> None:
    lab = membership.lab
    require_engineer(actor, lab, MEMBERS)
    with transaction.atomic():
        _lock_engineers(lab)
        if membership.role == Role.ENGINEER and not _engineers_left(lab, membership):
            raise Conflict(
                f"{membership.user.get_username()} is the last data engineer of {lab.name}: "
                "make someone else an engineer first."
            )
        deleted, _ = Membership.objects.filter(pk=membership.pk).delete()
        if not deleted:
            raise Conflict("This person was removed a moment ago.")
        event_record(
            "member.removed",
            lab=lab,
            actor=actor,
            data={**_person(membership.user), "role": membership.role},
        )


# --- invitations -----------------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_url(token: str) -> str:
    return settings.WHARF_BASE_URL.rstrip("/") + reverse("datasets:invitation_accept", args=[token])


def invitation_create(lab: Lab, *, actor, email: str, role: str) -> tuple[Invitation, str]:
    """Writes the invitation and e-mails its one-time link; returns it with the token
    (shown to the engineer once, in case the mail goes astray)."""
    require_engineer(actor, lab, "invite people")
    _check_role(role)
    email = (email or "").strip()
    try:
        validate_email(email)
    except ValidationError:
        raise ServiceError("Give an e-mail address, e.g. ada@lab.example.", field="email") from None
    if Membership.objects.filter(lab=lab, user__email__iexact=email).exists():
        raise ServiceError(f"Someone with {email} is already a member.", field="email")
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        invitation = Invitation.objects.create(
            lab=lab,
            email=email,
            role=role,
            token_hash=_token_hash(token),
            invited_by=actor,
            expires_at=timezone.now() + timedelta(days=INVITATION_DAYS),
        )
        event_record(
            "member.invited",
            lab=lab,
            actor=actor,
            data={"email": email, "role": role, "invitation_id": invitation.pk},
        )
        url = invitation_url(token)
        body = render_to_string(
            "datasets/email/invitation.txt",
            {"lab": lab, "invitation": invitation, "url": url, "actor": actor},
        )
        transaction.on_commit(lambda: _mail(invitation, body))
    return invitation, token


def _mail(invitation: Invitation, body: str) -> None:
    from datasets.notifications import notify_send
    from portal.celery import enqueue

    subject = f"You are invited to {invitation.lab.name} on Wharf"
    if enqueue(notify_send, subject, body, [invitation.email]) is None:
        log.warning("invitation %s: the e-mail could not be queued", invitation.pk)


def invitation_find(token: str) -> Invitation:
    invitation = (
        Invitation.objects.select_related("lab", "invited_by")
        .filter(token_hash=_token_hash(token or ""))
        .first()
    )
    if invitation is None:
        raise ServiceError("This invitation link is not valid. Ask for a new one.")
    if invitation.accepted_at is not None:
        raise Conflict("This invitation was used already; it works once. Log in instead.")
    if invitation.revoked_at is not None:
        raise Conflict("This invitation was withdrawn. Ask the lab's engineer for a new one.")
    if invitation.expires_at <= timezone.now():
        raise Conflict("This invitation has expired. Ask the lab's engineer for a new one.")
    return invitation


def invitation_accept(token: str, *, user) -> Membership:
    """The invited person joins the lab. Once: the first acceptance wins."""
    invitation = invitation_find(token)
    lab = invitation.lab
    now = timezone.now()
    with transaction.atomic():
        used = Invitation.objects.filter(
            pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True
        ).update(accepted_at=now, accepted_by=user)
        if not used:
            raise Conflict("This invitation was used already; it works once.")
        membership, created = Membership.objects.get_or_create(
            lab=lab, user=user, defaults={"role": invitation.role}
        )
        event_record(
            "member.joined",
            lab=lab,
            actor=user,
            data={
                **_person(user),
                "role": membership.role,
                "invitation_id": invitation.pk,
                "already_member": not created,
            },
        )
    return membership


def invitation_accept_new_user(token: str, *, username: str, password: str, name: str = ""):
    """Someone without an account: the account is made with the invited address, then
    joins. The password is checked by Django's validators like any other."""
    from django.contrib.auth.password_validation import validate_password

    invitation = invitation_find(token)
    User = get_user_model()
    username = (username or "").strip()
    if not username or len(username) > 150:
        raise ServiceError("Choose a user name.", field="username")
    if User.objects.filter(username__iexact=username).exists():
        raise ServiceError(f"{username} is taken: choose another.", field="username")
    candidate = User(username=username, email=invitation.email, first_name=(name or "")[:150])
    try:
        validate_password(password, candidate)
    except ValidationError as exc:
        raise ServiceError(" ".join(exc.messages), field="password1") from None
    with transaction.atomic():
        candidate.set_password(password)
        try:
            candidate.save()
        except IntegrityError:
            raise ServiceError(f"{username} is taken: choose another.", field="username") from None
        membership = invitation_accept(token, user=candidate)
    return candidate, membership


def invitation_revoke(invitation: Invitation, *, actor) -> None:
    require_engineer(actor, invitation.lab, "withdraw invitations")
    with transaction.atomic():
        updated = Invitation.objects.filter(
            pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True
        ).update(revoked_at=timezone.now())
        if not updated:
            raise Conflict("This invitation was used or withdrawn already.")
        event_record(
            "member.invitation_withdrawn",
            lab=invitation.lab,
            actor=actor,
            data={"email": invitation.email, "invitation_id": invitation.pk},
        )
