"""Registering, describing, listing and viewing datasets."""

import json
from dataclasses import dataclass
from pathlib import Path

from django.contrib import messages
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import FilteredRelation, OuterRef, Q, Subquery
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views import View
from django.views.generic import DetailView, FormView, ListView, TemplateView

from datasets import citation, cover, rules, storage
from datasets.forms import DatasetFilterForm, DatasetForm
from datasets.metadata import (
    MetadataError,
    datapackage,
    dataset_kaggle_metadata,
    dataset_snapshot,
    descriptor_read,
    file_entries,
    initial_from_descriptor,
    kaggle_metadata,
    shown_metadata,
)
from datasets.models import (
    Dataset,
    JobState,
    Profile,
    PublishJob,
    StorageRoot,
    Submission,
    SubmissionState,
)
from datasets.selectors import access_of, datasets_for, labs_of, role_in, scope_to_user
from datasets.services.datasets import (
    dataset_create,
    dataset_delete,
    dataset_delete_check,
    dataset_update,
    ensure_editable,
)
from datasets.services.errors import Conflict, Forbidden, ServiceError

from .mixins import (
    DatasetChildMixin,
    LabScopedMixin,
    MemberRequiredMixin,
    add_service_error,
    filter_form_key,
)


def readonly_reason(dataset: Dataset) -> str:
    """Why the dataset cannot be changed now, in the services' own words ('' if it can)."""
    try:
        ensure_editable(dataset)
    except Conflict as exc:
        return exc.message
    return ""


def back_if_readonly(request, dataset: Dataset):
    """For pages that change a dataset: None when it can be changed, else a redirect to
    its page with the reason as a message."""
    reason = readonly_reason(dataset)
    if not reason:
        return None
    messages.warning(request, reason)
    return redirect("datasets:dataset_detail", dataset.pk)


def metadata_json(metadata: dict) -> str:
    """kaggle_metadata as pages show and download it (shown_metadata)."""
    return json.dumps(shown_metadata(metadata), indent=2, ensure_ascii=False)


LIST_ROW_FIELDS = (
    "title", "owner_slug", "slug", "status", "latest_version", "kaggle_version",
    "updated_at", "lab__name",
)  # fmt: skip


class DatasetListView(MemberRequiredMixin, ListView):
    template_name = "datasets/dataset_list.html"
    context_object_name = "datasets"
    paginate_by = 25

    def get_queryset(self):
        labs = labs_of(self.request.user)
        self.filter_form = DatasetFilterForm(self.request.GET or None, labs=labs)
        datasets = datasets_for(self.request.user)
        if self.filter_form.is_valid():
            data = self.filter_form.cleaned_data
            if data["lab"]:
                datasets = datasets.filter(lab=data["lab"])
            if data["status"]:
                datasets = datasets.filter(status=data["status"])
            if data["q"].strip():
                q = data["q"].strip()
                datasets = datasets.filter(
                    Q(title__icontains=q) | Q(slug__icontains=q) | Q(owner_slug__icontains=q)
                )
        # What a row shows: the descriptions, keywords and collaborator lists stay in the
        # database (25 rows of them were a good part of the page).
        return datasets.select_related(None).select_related("lab").only(*LIST_ROW_FIELDS)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        query = self.request.GET.copy()
        query.pop("page", None)
        # The lab select lists the labs the request already read (access_of); a chosen
        # lab is still validated by the form.
        labs = [(a.lab.pk, a.lab.name) for a in access_of(self.request.user).labs]
        field = self.filter_form.fields["lab"]
        field.widget.choices = [("", field.empty_label), *labs]
        context.update(
            filter_form=self.filter_form,
            filter_key=filter_form_key(self.request, labs),
            query=query.urlencode(),
        )
        return context


EVENTS_PER_PAGE = 25
# A timeline page is kept as long as its rendered lines are (event_timeline.html): an
# actor's renamed display name shows within five minutes.
TIMELINE_CACHE_SECONDS = 300
# Columns of the dataset page's versions table that it never shows.
VERSIONS_UNSHOWN = (
    "metadata", "files", "data_checks",
    "newest_job__manifest", "newest_job__upload_sessions", "newest_job__phases",
)  # fmt: skip


class DatasetDetailView(LabScopedMixin, DetailView):
    template_name = "datasets/dataset_detail.html"
    context_object_name = "dataset"

    def get_queryset(self):
        # The schedule: shown, and the update frequency sent to Kaggle follows it. The
        # viewer's feed token comes with the row (for the Atom link), not in a query of its own.
        token = Profile.objects.filter(user=self.request.user.pk).values("feed_token")[:1]
        return (
            datasets_for(self.request.user)
            .select_related("schedule")
            .annotate(viewer_feed_token=Subquery(token))
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        dataset = self.object
        submissions = self.versions(dataset)
        files = list(dataset.files.select_related("storage_root"))
        # Jobs belong to submissions, so the newest job is the first one found going
        # down the (newest first) submissions: no query of its own.
        latest_job = next((s.newest_job for s in submissions if s.newest_job), None)
        context.update(
            role=role_in(self.request.user, dataset.lab),
            files=files,
            readonly_reason=readonly_reason(dataset),
            metadata_json=metadata_json(
                kaggle_metadata(dataset_snapshot(dataset), file_entries(files))
            ),
            events_page=self.events_page(dataset),
            submissions=submissions,
            open_submission=next(
                (s for s in submissions if s.state == SubmissionState.PENDING_REVIEW), None
            ),
            latest_job=latest_job,
            active_job_states=JobState.active(),
            next_version=(dataset.latest_version or 0) + 1,
            can_delete=not dataset.latest_version and latest_job is None,
        )
        context["events"] = context["events_page"].events
        # Feed readers cannot log in: the feed's address carries the user's own token.
        # Only read here (a GET writes nothing); without one the page offers to make it.
        token = dataset.viewer_feed_token
        context["feed_url"] = token and self.request.build_absolute_uri(
            reverse("datasets:feed_dataset", args=[token, dataset.pk])
        )
        return context

    def versions(self, dataset) -> list[Submission]:
        """The 20 newest submissions, each with its newest publish job (`newest_job`, or
        None) joined in the same query; the JSON columns the table does not show (the
        frozen metadata and file lists, the jobs' manifests and upload sessions) stay in
        the database."""
        newest = (
            PublishJob.objects.filter(submission=OuterRef("pk"))
            .order_by("-created_at", "-id")
            .values("id")[:1]
        )
        submissions = list(
            dataset.submissions.annotate(
                newest_job=FilteredRelation("jobs", condition=Q(jobs__id=Subquery(newest)))
            )
            .select_related("submitted_by", "reviewed_by", "newest_job")
            .defer(*VERSIONS_UNSHOWN)
            .order_by("-submitted_at", "-id")[:20]
        )
        for submission in submissions:
            # (A submission without a job comes back without the attribute.)
            submission.newest_job = job = getattr(submission, "newest_job", None)
            if job is not None:
                # The job's version label reads its submission's number: the row at hand.
                PublishJob.submission.field.set_cached_value(job, submission)
        return submissions

    def events_page(self, dataset) -> "EventsPage":
        """The timeline a page at a time, newest first, without counting a busy
        dataset's thousands of events: one row more than the page says if there is an
        older page."""
        try:
            number = max(1, int(self.request.GET.get("events", 1)))
        except ValueError:
            number = 1
        # Events are append-only and every one moves the dataset's last_event_at: a page
        # counted from the newest is the same until the next event, so it is read once.
        last = dataset.last_event_at.timestamp() if dataset.last_event_at else ""
        key = f"dataset-timeline:{dataset.pk}:{dataset.created_at.timestamp()}:{last}:{number}"
        rows = cache.get(key)
        if rows is None:
            start = (number - 1) * EVENTS_PER_PAGE
            rows = list(
                dataset.events.select_related("actor").order_by("-at", "-id")[
                    start : start + EVENTS_PER_PAGE + 1
                ]
            )
            cache.set(key, rows, TIMELINE_CACHE_SECONDS)
        return EventsPage(number, rows[:EVENTS_PER_PAGE], len(rows) > EVENTS_PER_PAGE)


@dataclass
class EventsPage:
    number: int
    events: list
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1


class DatasetFormMixin(MemberRequiredMixin):
    template_name = "datasets/dataset_form.html"
    form_class = DatasetForm

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs.update(user=self.request.user, labs=labs_of(self.request.user))
        return kwargs

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        labs = labs_of(self.request.user)
        context.update(
            storage_roots=StorageRoot.objects.filter(lab__in=labs).select_related("lab"),
            has_labs=labs.exists(),
            labs_without_accounts=labs.filter(kaggle_accounts__isnull=True),
            licenses=rules.LICENSES,
        )
        return context

    def save(self, form):
        raise NotImplementedError

    def form_valid(self, form):
        try:
            dataset = self.save(form)
        except (ServiceError, ValidationError) as exc:
            add_service_error(form, exc)
            return self.form_invalid(form)
        return redirect("datasets:dataset_detail", dataset.pk)


class DatasetCreateView(DatasetFormMixin, FormView):
    def get_initial(self):
        """?from_root=<id>&from_path=<path>: prefilled from a datapackage.json or
        dataset-metadata.json on lab storage."""
        initial = super().get_initial()
        root_id, relpath = self.request.GET.get("from_root"), self.request.GET.get("from_path")
        if self.request.method != "GET" or not (root_id and relpath):
            return initial
        roots = StorageRoot.objects.filter(lab__in=labs_of(self.request.user))
        root = roots.filter(pk=root_id).first() if root_id.isdigit() else None
        try:
            if root is None:
                raise MetadataError("No such storage root in your labs.")
            relpath = relpath.strip().removeprefix(root.path.rstrip("/") + "/")
            real = storage.resolve_under_root(root.path, relpath)
            found = initial_from_descriptor(descriptor_read(real))
        except (MetadataError, storage.UnsafePath) as exc:
            messages.warning(self.request, f"Nothing was prefilled from {relpath[:200]}: {exc}")
            return initial
        initial.update(found, lab=root.lab)
        messages.info(
            self.request,
            f"Prefilled {len(found)} field(s) from {Path(relpath).name}: check them, then "
            "register. Nothing reaches Kaggle before a version is reviewed.",
        )
        return initial

    def save(self, form):
        fields = dict(form.cleaned_data)
        lab = fields.pop("lab")
        dataset = dataset_create(actor=self.request.user, lab=lab, **fields)
        messages.success(
            self.request, f"Registered {dataset.ref}. Add its files, then submit version 1."
        )
        return dataset


class DatasetUpdateView(DatasetChildMixin, DatasetFormMixin, FormView):
    def check_access(self):
        return back_if_readonly(self.request, self.get_dataset())

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        # A copy of its own: the form writes what was typed onto its instance.
        kwargs["instance"] = Dataset.objects.get(pk=self.get_dataset().pk)
        return kwargs

    def save(self, form):
        fields = dict(form.cleaned_data)
        fields.pop("lab", None)
        dataset = dataset_update(self.get_dataset(), actor=self.request.user, **fields)
        messages.success(self.request, "Saved.")
        return dataset


class DatasetDeleteView(DatasetChildMixin, TemplateView):
    """GET asks to confirm; POST deletes through the service."""

    template_name = "datasets/dataset_confirm_delete.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        try:
            dataset_delete_check(self.get_dataset(), actor=self.request.user)
        except ServiceError as exc:  # the page says why instead of offering Delete
            context["refusal"] = exc.message
        return context

    def post(self, request, *args, **kwargs):
        dataset = self.get_dataset()
        ref = dataset.ref
        try:
            dataset_delete(dataset, actor=request.user)
        except Forbidden as exc:
            raise PermissionDenied(exc.message) from None
        except ServiceError as exc:
            messages.error(request, exc.message)
            return redirect("datasets:dataset_detail", dataset.pk)
        messages.success(request, f"Deleted {ref}.")
        return redirect("datasets:dataset_list")


class DatasetMetadataView(DatasetChildMixin, View):
    """The exact dataset-metadata.json Wharf would send now, as a download."""

    def get(self, request, *args, **kwargs):
        body = metadata_json(dataset_kaggle_metadata(self.get_dataset()))
        response = HttpResponse(body + "\n", content_type="application/json; charset=utf-8")
        if request.GET.get("inline") != "1":
            response["Content-Disposition"] = 'attachment; filename="dataset-metadata.json"'
        return response


class DatasetCoverView(DatasetChildMixin, View):
    """One of the two crops Kaggle makes of the cover (?crop=header|thumbnail), from
    Wharf's sanitised copy."""

    def get(self, request, *args, **kwargs):
        dataset = self.get_dataset()
        crop = request.GET.get("crop", "header")
        if not dataset.cover_image or crop not in ("header", "thumbnail"):
            raise Http404("No cover image.")
        try:
            with dataset.cover_image.open("rb") as handle:
                png = cover.cover_crop(handle.read(), crop)
        except (OSError, ValueError):
            raise Http404("The cover image is not readable.") from None
        response = HttpResponse(png, content_type="image/png")
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = "default-src 'none'"
        response["Cache-Control"] = "private, max-age=300"
        return response


class DatasetCitationView(DatasetChildMixin, View):
    """How to cite the newest published version: BibTeX or CITATION.cff."""

    fmt = "bib"

    def get(self, request, *args, **kwargs):
        dataset = self.get_dataset()
        fmt = self.fmt
        text = citation.bibtex(dataset) if fmt == "bib" else citation.citation_cff(dataset)
        if text is None:
            raise Http404("A dataset is cited once a version is published.")
        kind = "application/x-bibtex" if fmt == "bib" else "application/x-yaml"
        response = HttpResponse(text, content_type=f"{kind}; charset=utf-8")
        name = f"{dataset.slug}.bib" if fmt == "bib" else "CITATION.cff"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


class VersionDataPackageView(MemberRequiredMixin, View):
    """A published version as a Frictionless Data Package (datapackage.json)."""

    def get(self, request, *args, **kwargs):
        submissions = scope_to_user(Submission.objects.all(), request.user, "dataset__lab")
        submission = submissions.filter(pk=kwargs["pk"]).select_related("dataset").first()
        if submission is None:
            raise Http404("No such version among your labs' datasets.")
        job = (
            submission.jobs.filter(state=JobState.PUBLISHED).order_by("-finished_at", "-id").first()
        )
        if job is None:
            raise Http404("This version has not been published.")
        package = datapackage(submission, job.manifest, url=job.kaggle_url)
        response = HttpResponse(
            metadata_json(package) + "\n", content_type="application/json; charset=utf-8"
        )
        if request.GET.get("inline") != "1":
            response["Content-Disposition"] = 'attachment; filename="datapackage.json"'
        return response


class MarkdownPreviewView(MemberRequiredMixin, TemplateView):
    """htmx: the description as it will be shown, sanitised like everywhere else."""

    template_name = "datasets/includes/markdown_preview.html"
    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        text = request.POST.get("description", "")
        too_long = len(text) > rules.DESCRIPTION_MAX
        context = {"text": text[: rules.DESCRIPTION_MAX], "too_long": too_long}
        return self.render_to_response(context)
