"""Registering and describing datasets."""

from django.db import IntegrityError, transaction

from datasets import rules
from datasets.metadata import EDITABLE_FIELDS
from datasets.models import Dataset, DatasetStatus, KaggleAccount, Lab

from .errors import Conflict, Forbidden, ServiceError
from .events import event_record
from .lifecycle import dataset_was_public, public_to_private_refusal
from .roles import require_member


def _check_account(lab: Lab, account: KaggleAccount | None) -> None:
    if account is not None and account.lab_id != lab.pk:
        raise ServiceError("That Kaggle account belongs to another lab.", field="kaggle_account")


def _check_unique_slug(owner_slug: str, slug: str, exclude_pk: int | None = None) -> None:
    clash = Dataset.objects.filter(owner_slug=owner_slug, slug__iexact=slug)
    if exclude_pk:
        clash = clash.exclude(pk=exclude_pk)
    if clash.exists():
        raise ServiceError(
            f"{owner_slug}/{slug} is already registered in Wharf; choose another slug.",
            code="slug_taken",
            field="slug",
        )


def _check_title_free(owner_slug: str, title: str, exclude_pk: int | None = None) -> None:
    """Kaggle keeps the title of a dataset it deleted: so does Wharf (the archived row)."""
    clash = Dataset.objects.filter(
        owner_slug=owner_slug, title__iexact=(title or "").strip(), status=DatasetStatus.ARCHIVED
    )
    if exclude_pk:
        clash = clash.exclude(pk=exclude_pk)
    if clash.exists():
        raise ServiceError(
            f"The title “{title}” stays reserved on Kaggle by {owner_slug}'s dataset that was "
            "removed; choose another title.",
            code="title_taken",
            field="title",
        )


def _validate(fields: dict) -> dict:
    """Kaggle's rules, again: forms and the API check first, this is the backstop."""
    checks = {
        "title": rules.check_title,
        "subtitle": rules.check_subtitle,
        "slug": rules.check_slug,
        "license": rules.check_license,
    }
    for name, check in checks.items():
        if name in fields:
            try:
                check(fields[name])
            except Exception as exc:
                raise ServiceError(
                    " ".join(getattr(exc, "messages", [str(exc)])), field=name
                ) from None
    if "description" in fields:
        rules.check_no_control_characters(fields["description"].replace("\r", ""), "The text")
    if "keywords" in fields:
        fields["keywords"] = rules.clean_keywords(fields["keywords"] or [])
    return fields


def dataset_create(*, actor, lab: Lab, **fields) -> Dataset:
    require_member(actor, lab)
    if lab.archived_at is not None:
        raise Conflict(f"{lab.name} is archived: it takes no new datasets.", code="archived")
    fields = _validate(fields)
    account = fields.get("kaggle_account")
    _check_account(lab, account)
    if account is None:
        raise ServiceError("Choose the Kaggle account to publish under.", field="kaggle_account")
    owner_slug = account.owner_slug
    _check_unique_slug(owner_slug, fields["slug"])
    _check_title_free(owner_slug, fields.get("title", ""))
    try:
        with transaction.atomic():
            dataset = Dataset.objects.create(
                lab=lab,
                owner_slug=owner_slug,
                created_by=actor,
                **{k: v for k, v in fields.items() if k in EDITABLE_FIELDS},
            )
            event_record(
                "dataset.created",
                dataset=dataset,
                actor=actor,
                data={"ref": dataset.ref, "title": dataset.title},
            )
    except IntegrityError:
        raise ServiceError(
            f"{owner_slug}/{fields['slug']} was registered a moment ago; choose another slug.",
            field="slug",
        ) from None
    return dataset


def ensure_editable(dataset: Dataset) -> None:
    if not dataset.is_editable:
        reason = {
            DatasetStatus.IN_REVIEW: "it is in review; withdraw the submission to edit it",
            DatasetStatus.APPROVED: "an approved version is about to be published",
            DatasetStatus.PUBLISHING: "a version is being published",
        }.get(dataset.status, f"it is {dataset.get_status_display().lower()}")
        raise Conflict(f"The dataset cannot be changed now: {reason}.", code="not_editable")


def dataset_update(dataset: Dataset, *, actor, **fields) -> Dataset:
    require_member(actor, dataset.lab)
    fields = _validate({k: v for k, v in fields.items() if k in EDITABLE_FIELDS})
    with transaction.atomic():
        dataset = Dataset.objects.select_for_update().get(pk=dataset.pk)
        ensure_editable(dataset)
        if "kaggle_account" in fields:
            _check_account(dataset.lab, fields["kaggle_account"])
            if dataset.latest_version and fields["kaggle_account"] != dataset.kaggle_account:
                raise Conflict("The Kaggle owner of a published dataset cannot change.")
            if fields["kaggle_account"] is not None:
                dataset.owner_slug = fields["kaggle_account"].owner_slug
        if "slug" in fields and dataset.latest_version and fields["slug"] != dataset.slug:
            raise Conflict("The slug of a published dataset cannot change.", code="slug_fixed")
        if "slug" in fields or "kaggle_account" in fields:
            _check_unique_slug(dataset.owner_slug, fields.get("slug", dataset.slug), dataset.pk)
        if fields.get("is_private") and dataset.latest_version and dataset_was_public(dataset):
            raise public_to_private_refusal()
        if "title" in fields and fields["title"] != dataset.title:
            _check_title_free(dataset.owner_slug, fields["title"], dataset.pk)
        changed = {}
        for name, value in fields.items():
            old = getattr(dataset, name)
            if old != value:
                changed[name] = str(value.pk if hasattr(value, "pk") else value)[:200]
                setattr(dataset, name, value)
        if not changed:
            return dataset
        dataset.save()
        event_record(
            "dataset.updated", dataset=dataset, actor=actor, data={"fields": sorted(changed)}
        )
    return dataset


def dataset_delete_check(dataset: Dataset, *, actor) -> None:
    """Raises what dataset_delete would refuse, so the delete page can say so up front
    instead of offering a button that fails."""
    role = require_member(actor, dataset.lab)
    if dataset.latest_version or dataset.jobs.exists():
        raise Conflict("A dataset with publish history cannot be deleted; its history stays.")
    if dataset.status == DatasetStatus.IN_REVIEW:
        raise Conflict("Withdraw the submission before deleting the dataset.")
    if role != "engineer" and dataset.created_by_id != actor.pk:
        raise Forbidden("Only the researcher who registered it or an engineer may delete it.")


def dataset_delete(dataset: Dataset, *, actor) -> None:
    dataset_delete_check(dataset, actor=actor)
    uploads = [f.upload.name for f in dataset.files.all() if f.upload]
    with transaction.atomic():
        event_record(
            "dataset.deleted",
            lab=dataset.lab,
            actor=actor,
            data={"ref": dataset.ref, "title": dataset.title},
        )
        dataset.delete()
        transaction.on_commit(lambda: _delete_uploads(uploads))


def _delete_uploads(names: list[str]) -> None:
    from django.core.files.storage import default_storage

    for name in names:
        default_storage.delete(name)
