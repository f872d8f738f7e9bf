"""A lab's Kaggle accounts and storage roots: engineers only."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from datasets import crypto, rules
from datasets.models import CredentialKind, KaggleAccount, Lab, StorageRoot

from .errors import Conflict, ServiceError
from .events import event_record
from .roles import require_engineer


def _check_secret(kind: str, secret: str) -> str:
    secret = (secret or "").strip()
    if kind not in CredentialKind.values:
        raise ServiceError("Choose a key or an access token.", field="credential_kind")
    if len(secret) < 8 or len(secret) > 500 or any(c.isspace() for c in secret):
        raise ServiceError(
            "Paste the key or token exactly as Kaggle shows it (no spaces).", field="secret"
        )
    return secret


def kaggle_account_create(
    lab: Lab, *, actor, owner_slug: str, username: str, credential_kind: str, secret: str
) -> KaggleAccount:
    require_engineer(actor, lab)
    for value, field in ((owner_slug, "owner_slug"), (username, "username")):
        try:
            rules.check_owner_slug(value)
        except Exception as exc:
            raise ServiceError(exc.messages[0], field=field) from None
    secret = _check_secret(credential_kind, secret)
    try:
        with transaction.atomic():
            account = KaggleAccount.objects.create(
                lab=lab,
                owner_slug=owner_slug,
                username=username,
                credential_kind=credential_kind,
                **crypto.sealed(secret),
                created_by=actor,
            )
            event_record(
                "account.created",
                lab=lab,
                actor=actor,
                data={"owner_slug": owner_slug, "username": username, "kind": credential_kind},
            )
    except IntegrityError:
        raise ServiceError(
            f"{lab.name} already has an account for {owner_slug}.", field="owner_slug"
        ) from None
    return account


def kaggle_account_set_secret(
    account: KaggleAccount, *, actor, credential_kind: str, secret: str
) -> KaggleAccount:
    require_engineer(actor, account.lab)
    secret = _check_secret(credential_kind, secret)
    with transaction.atomic():
        account.credential_kind = credential_kind
        for field, value in crypto.sealed(secret).items():
            setattr(account, field, value)
        account.last_tested_at = account.last_test_ok = None
        account.last_test_message = ""
        account.save()
        event_record(
            "account.secret_changed",
            lab=account.lab,
            actor=actor,
            data={"owner_slug": account.owner_slug},
        )
    return account


def kaggle_account_delete(account: KaggleAccount, *, actor) -> None:
    require_engineer(actor, account.lab)
    if account.datasets.exists():
        raise Conflict("Datasets publish under this account; move or delete them first.")
    with transaction.atomic():
        event_record(
            "account.deleted", lab=account.lab, actor=actor, data={"owner_slug": account.owner_slug}
        )
        account.delete()


def kaggle_account_test(account: KaggleAccount, *, actor) -> tuple[bool, str]:
    """Checks the credentials through the official client (bounded by a timeout)."""
    from datasets.kaggle import test_connection

    require_engineer(actor, account.lab)
    ok, message = test_connection(account)
    with transaction.atomic():
        KaggleAccount.objects.filter(pk=account.pk).update(
            last_tested_at=timezone.now(), last_test_ok=ok, last_test_message=message[:300]
        )
        event_record(
            "account.tested",
            lab=account.lab,
            actor=actor,
            data={"owner_slug": account.owner_slug, "ok": ok, "message": message},
        )
    return ok, message


def credentials_rotate_key() -> int:
    """Re-encrypts every stored secret with the newest WHARF_CREDENTIALS_KEY."""
    count = 0
    with transaction.atomic():
        for account in KaggleAccount.objects.select_for_update():
            account.secret_encrypted = crypto.rotate(account.secret_encrypted)
            account.save(update_fields=["secret_encrypted"])
            count += 1
    return count


def _service_error(exc: ValidationError) -> ServiceError:
    field, messages = next(iter(exc.message_dict.items()), ("path", exc.messages))
    if field == "__all__":  # the (lab, name) and (lab, path) unique constraints
        field = "path"
    return ServiceError(messages[0], code="storage_root", field=field)


def storage_root_create(lab: Lab, *, actor, name: str, path: str) -> StorageRoot:
    """Registers a root. The rules are the model's (StorageRoot.clean: an existing folder
    where roots may be, apart from every other lab's roots), so the admin and any form
    apply the same ones."""
    require_engineer(actor, lab)
    name = (name or "").strip()
    if not name or len(name) > 80:
        raise ServiceError("Name the root (up to 80 characters).", field="name")
    root = StorageRoot(lab=lab, name=name, path=(path or "").strip(), created_by=actor)
    try:
        with transaction.atomic():
            # Two labs registering overlapping roots at the same moment: locking every lab
            # row serialises registrations, so the second one sees the first.
            list(Lab.objects.select_for_update().order_by("pk").values_list("pk", flat=True))
            root.full_clean(exclude=["created_by"])
            root.save()
            event_record(
                "storage_root.created",
                lab=lab,
                actor=actor,
                data={"name": name, "path": root.path},
            )
    except ValidationError as exc:
        raise _service_error(exc) from None
    except IntegrityError:
        raise ServiceError(
            "The lab already has a root with that name or path.", field="path"
        ) from None
    return root


def storage_root_delete(root: StorageRoot, *, actor) -> None:
    require_engineer(actor, root.lab)
    if root.files.exists():
        raise Conflict("Dataset files point into this root; remove them first.")
    with transaction.atomic():
        event_record(
            "storage_root.deleted",
            lab=root.lab,
            actor=actor,
            data={"name": root.name, "path": root.path},
        )
        root.delete()
