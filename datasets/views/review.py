"""Submitting a version and reviewing it: the queue, the review page, and the actions
(approve, return, comment, withdraw), each a POST to one service."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.views.generic import DetailView, FormView, ListView

from datasets.changes import unchanged_since_published
from datasets.forms import ApproveForm, CommentForm, ReturnForm, SubmitForm
from datasets.metadata import (
    FIELD_LABELS,
    SNAPSHOT_FIELDS,
    dataset_kaggle_metadata,
    kaggle_metadata,
)
from datasets.models import ScanState, Submission, SubmissionState
from datasets.scanning import findings_quote
from datasets.scanning import gaps as scan_gaps
from datasets.selectors import (
    is_engineer,
    labs_where_engineer,
    previous_review,
    review_queue,
    submission_diff,
)
from datasets.services.errors import ServiceError
from datasets.services.review import (
    comment_add,
    files_changed_since,
    submission_approve,
    submission_return,
    submission_submit,
    submission_withdraw,
)
from datasets.services.scans import scan_for, scan_rerun, submission_content_changes

from .datasets import metadata_json, readonly_reason
from .files import EditableDatasetMixin
from .mixins import (
    LabScopedMixin,
    MemberRequiredMixin,
    ServiceActionView,
    add_service_error,
    error_message,
)


class SubmissionCreateView(EditableDatasetMixin, FormView):
    template_name = "datasets/submission_form.html"
    form_class = SubmitForm

    def get_context_data(self, **kwargs):
        dataset = self.get_dataset()
        files = list(dataset.files.all())
        kwargs.update(
            files=files,
            total_bytes=sum(f.size for f in files),
            next_version=(dataset.latest_version or 0) + 1,
            metadata_json=metadata_json(dataset_kaggle_metadata(dataset)),
            # Warned before review, not after: publishing it would change nothing on Kaggle.
            unchanged_since=unchanged_since_published(dataset),
        )
        return super().get_context_data(**kwargs)

    def form_valid(self, form):
        dataset = self.get_dataset()
        try:
            submission = submission_submit(
                dataset,
                actor=self.request.user,
                version_notes=form.cleaned_data["version_notes"],
                delete_old_versions=form.cleaned_data.get("delete_old_versions", False),
            )
        except (ServiceError, ValidationError) as exc:
            add_service_error(form, exc)
            return self.form_invalid(form)
        messages.success(
            self.request,
            f"Submitted version {submission.number} for review "
            f"({submission.file_count} files, {filesizeformat(submission.total_bytes)}). "
            "The lab's data engineers have been told.",
        )
        return redirect("datasets:dataset_detail", dataset.pk)


class SubmissionScopedMixin(LabScopedMixin):
    model = Submission
    lab_path = "dataset__lab"

    def get_queryset(self):
        return super().get_queryset().select_related("dataset__lab", "submitted_by", "reviewed_by")


class ReviewQueueView(MemberRequiredMixin, ListView):
    template_name = "datasets/review_list.html"
    context_object_name = "submissions"

    def get_queryset(self):
        return review_queue(self.request.user)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["recent"] = (
            self.get_recent()
            .exclude(state=SubmissionState.PENDING_REVIEW)
            .order_by("-reviewed_at", "-id")[:10]
        )
        return context

    def get_recent(self):
        return Submission.objects.filter(
            dataset__lab__in=labs_where_engineer(self.request.user)
        ).select_related("dataset", "submitted_by", "reviewed_by")


def review_context(request, submission: Submission, **forms) -> dict:
    """Everything the engineer needs to decide, for the review page and its forms."""
    dataset = submission.dataset
    engineer = is_engineer(request.user, dataset.lab)
    pending = submission.state == SubmissionState.PENDING_REVIEW
    snapshot = submission.metadata
    context = {
        "submission": submission,
        "dataset": dataset,
        "is_engineer": engineer,
        "pending": pending,
        "fields": [
            {"name": name, "label": FIELD_LABELS.get(name, name), "value": snapshot.get(name)}
            for name in SNAPSHOT_FIELDS
            if name != "description"
        ],
        "metadata_json": metadata_json(kaggle_metadata(snapshot, submission.files)),
        "diff": submission_diff(submission),
        "previous": previous_review(submission),
        "changed_files": (
            list(
                dict.fromkeys(
                    files_changed_since(submission) + submission_content_changes(submission)
                )
            )
            if pending
            else []
        ),
        "comments": submission.comments.select_related("author"),
        "comment_form": forms.get("comment_form") or CommentForm(),
        "can_withdraw": pending and (submission.submitted_by_id == request.user.pk or engineer),
        "self_submitted": submission.submitted_by_id == request.user.pk,
        "jobs": submission.jobs.all(),
    }
    context.update(scan_context(submission))
    if engineer and pending:
        findings = context["scan_findings"]
        # Files the scan could not read are acknowledged like findings (issue 18).
        acknowledge = bool(findings or context["scan_gaps"])
        context["approve_form"] = forms.get("approve_form") or ApproveForm(findings=acknowledge)
        # With findings, the reason starts out quoting them (masked), ready to send back.
        initial = {"reason": findings_quote(findings)} if findings else {}
        context["return_form"] = forms.get("return_form") or ReturnForm(initial=initial)
    return context


def scan_context(submission: Submission) -> dict:
    """The content scan as the review page shows it (issue 9)."""
    scan = scan_for(submission)
    done = scan is not None and scan.state == ScanState.DONE
    gaps = scan_gaps(scan.not_scanned) if done else []
    return {
        "scan": scan,
        "scan_findings": scan.findings if done else [],
        "scan_partial": [s for s in scan.not_scanned if s.get("code") == "partial"] if done else [],
        # Listed only (binary formats by name); the gaps below are acknowledged.
        "scan_skipped": [s for s in scan.not_scanned if s not in gaps] if done else [],
        "scan_gaps": gaps,
        # Approval waits for a finished scan.
        "scan_blocks": not done,
    }


class ReviewView(SubmissionScopedMixin, DetailView):
    template_name = "datasets/review_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(review_context(self.request, self.object))
        return context


class ReviewFormActionView(SubmissionScopedMixin, FormView):
    """A form posted from the review page. Invalid input re-renders that page with what
    was typed; a refusal from the service comes back as a message."""

    template_name = "datasets/review_detail.html"
    form_context_name = "form"
    engineer_only = True
    engineer_what = "review submissions"

    def check_access(self):
        self.object = self.get_object()
        if self.engineer_only:
            self.require_engineer(self.object.dataset.lab, self.engineer_what)

    def get(self, request, *args, **kwargs):
        return redirect("datasets:review", self.object.pk)

    def get_context_data(self, **kwargs):
        form = kwargs.pop("form", None)
        context = super().get_context_data(**kwargs)
        context.update(review_context(self.request, self.object, **{self.form_context_name: form}))
        return context

    def form_valid(self, form):
        try:
            message = self.perform(form.cleaned_data)
        except ServiceError as exc:
            if exc.field in form.fields:
                add_service_error(form, exc)
                return self.form_invalid(form)
            messages.error(self.request, error_message(exc))
        except ValidationError as exc:
            add_service_error(form, exc)
            return self.form_invalid(form)
        else:
            messages.success(self.request, message)
        return redirect(self.get_success_url())

    def get_success_url(self):
        return reverse("datasets:review", args=[self.object.pk])


class SubmissionApproveView(ReviewFormActionView):
    form_class = ApproveForm
    form_context_name = "approve_form"
    engineer_what = "approve submissions"

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        scan = scan_context(self.object)
        kwargs["findings"] = bool(scan["scan_findings"] or scan["scan_gaps"])
        return kwargs

    def perform(self, data):
        job = submission_approve(
            self.object,
            actor=self.request.user,
            note=data["note"],
            acknowledge_findings=data.get("acknowledge_findings", False),
        )
        return (
            f"Approved version {self.object.number} of {self.object.dataset.ref}. "
            f"Publish job #{job.pk} is {job.get_state_display().lower()}."
        )


class SubmissionReturnView(ReviewFormActionView):
    form_class = ReturnForm
    form_context_name = "return_form"
    engineer_what = "return submissions"

    def perform(self, data):
        submission_return(self.object, actor=self.request.user, reason=data["reason"])
        return (
            f"Returned version {self.object.number} to "
            f"{self.object.submitted_by or 'the researcher'} with your reason."
        )


class SubmissionScanRerunView(SubmissionScopedMixin, ServiceActionView):
    engineer_only = True
    engineer_what = "re-run the content scan"

    def perform(self, obj):
        return scan_rerun(obj, actor=self.request.user)

    def success_message(self, obj, result):
        if result.state == ScanState.DONE:
            n = len(result.findings)
            return f"Scanned version {obj.number} again: {n} finding{'s' if n != 1 else ''}."
        if result.state == ScanState.FAILED:
            return f"Scanned version {obj.number} again, but the scan failed: {result.error}"
        return f"The scan of version {obj.number} is queued; reload the page in a moment."

    def get_success_url(self):
        return reverse("datasets:review", args=[self.object.pk]) + "#scan"


class CommentAddView(ReviewFormActionView):
    form_class = CommentForm
    form_context_name = "comment_form"
    engineer_only = False

    def perform(self, data):
        comment_add(self.object, actor=self.request.user, text=data["text"])
        return "Comment added."

    def get_success_url(self):
        return super().get_success_url() + "#comments"


class SubmissionWithdrawView(SubmissionScopedMixin, ServiceActionView):
    def perform(self, obj):
        submission_withdraw(obj, actor=self.request.user)

    def success_message(self, obj, result):
        reason = readonly_reason(obj.dataset)
        tail = "" if reason else " The dataset can be edited again."
        return f"Withdrew version {obj.number}.{tail}"

    def get_success_url(self):
        return reverse("datasets:dataset_detail", args=[self.object.dataset_id])
