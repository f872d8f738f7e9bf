"""A dataset's files: browser uploads (streamed to disk, one progress bar per file),
files and folders picked on lab storage, and each file's name and description."""

from pathlib import PurePosixPath

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http import Http404, JsonResponse
from django.shortcuts import redirect
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.generic import FormView, TemplateView

from datasets import storage, uploads_tus
from datasets.forms import EntryColumnsForm, FileEditForm, StorageFileForm, UploadForm
from datasets.models import DatasetFile
from datasets.services.errors import ServiceError
from datasets.services.files import file_add_storage, file_add_upload, file_remove, file_update

from .datasets import back_if_readonly, readonly_reason
from .mixins import (
    DatasetChildMixin,
    LabScopedMixin,
    ServiceActionView,
    add_service_error,
    error_message,
)


class UploadLimitHandler(FileUploadHandler):
    """First in the chain: a file that grows past WHARF_UPLOAD_MAX_BYTES is skipped as
    soon as it does, so nothing beyond the limit is written to disk."""

    def __init__(self, request):
        super().__init__(request)
        self.limit = settings.WHARF_UPLOAD_MAX_BYTES
        request.wharf_too_large = self.too_large = []

    def receive_data_chunk(self, raw_data, start):
        if start + len(raw_data) > self.limit:
            self.too_large.append(self.file_name)
            raise SkipFile
        return raw_data

    def file_complete(self, file_size):
        return None


class EditableDatasetMixin(DatasetChildMixin):
    """Pages that change a dataset's files send read-only datasets back with the reason."""

    def check_access(self):
        reason = readonly_reason(self.get_dataset())
        if reason and self.request.headers.get("Accept", "").startswith("application/json"):
            return JsonResponse({"ok": False, "added": [], "errors": [reason]}, status=409)
        return back_if_readonly(self.request, self.get_dataset())


@method_decorator(csrf_exempt, name="dispatch")
class FileUploadView(EditableDatasetMixin, FormView):
    """Several files per POST; upload.js sends one file per request to show progress.

    Answers JSON when asked for it (Accept: application/json), else a page."""

    template_name = "datasets/file_upload_form.html"
    form_class = UploadForm

    def get_context_data(self, **kwargs):
        kwargs.setdefault("max_bytes", settings.WHARF_UPLOAD_MAX_BYTES)
        kwargs.setdefault("tus_chunk_bytes", uploads_tus.chunk_bytes())
        return super().get_context_data(**kwargs)

    def post(self, request, *args, **kwargs):
        # The limit handler must be in place before anything reads the body, and the
        # CSRF check reads it: hence csrf_exempt on dispatch and csrf_protect here,
        # Django's documented pattern for per-view upload handlers.
        request.upload_handlers.insert(0, UploadLimitHandler(request))
        return self._post(request, *args, **kwargs)

    @method_decorator(csrf_protect)
    def _post(self, request, *args, **kwargs):
        dataset = self.get_dataset()
        form = self.get_form()  # reads the body: the limit handler has run after this
        limit = filesizeformat(settings.WHARF_UPLOAD_MAX_BYTES)
        errors = [
            f"'{name}' is larger than {limit}, the limit for uploads. Put larger files on "
            "lab storage and add them from there."
            for name in getattr(request, "wharf_too_large", [])
        ]
        added = []
        if form.is_valid():
            for uploaded in form.cleaned_data["files"]:
                try:
                    item = file_add_upload(
                        dataset,
                        actor=request.user,
                        uploaded_file=uploaded,
                        description=form.cleaned_data["description"],
                    )
                except (ServiceError, ValidationError) as exc:
                    errors.append(error_message(exc))
                else:
                    added.append(item)
        elif not (errors and list(form.errors) == ["files"] and not request.FILES):
            # (When every file was over the limit, "no file" is not the news.)
            errors.extend(m for field in form.errors.values() for m in field)
        done = [f"Added '{item.path}' ({filesizeformat(item.size)})." for item in added]
        if request.headers.get("Accept", "").startswith("application/json"):
            return JsonResponse(
                {"ok": not errors, "added": done, "errors": errors}, status=400 if errors else 200
            )
        for message in done:
            messages.success(request, message)
        if errors or not added:
            form = self.get_form_class()(data=request.POST)
            for message in errors or ["Choose at least one file."]:
                form.add_error(None, message)
            return self.render_to_response(self.get_context_data(form=form), status=400)
        return redirect("datasets:dataset_detail", dataset.pk)


def browse_context(dataset, root_id, relpath: str) -> dict:
    """What the storage browser shows: the lab's roots, then one folder of one root.

    Every path goes through storage.resolve_under_root, the same check as at staging."""
    roots = list(dataset.lab.storage_roots.all())
    context = {"dataset": dataset, "roots": roots, "root": None, "relpath": "", "rows": []}
    try:
        root = next(r for r in roots if str(r.pk) == str(root_id)) if root_id else None
    except StopIteration:
        root = None
        context["error"] = "That storage root is not one of this lab's."
    if root is None:
        return context
    context["root"] = root
    # A leading '/' is kept: resolve_under_root refuses absolute paths with a message.
    relpath = (relpath or "").strip().rstrip("/")
    try:
        folder = storage.resolve_under_root(root.path, relpath or ".", lab_id=dataset.lab_id)
        if not folder.is_dir():
            context["picked_file"] = relpath
            parent = str(PurePosixPath(relpath).parent)
            relpath = "" if parent == "." else parent
            # The parent is checked like any folder (another lab's root may hold it).
            folder = storage.resolve_under_root(root.path, relpath or ".", lab_id=dataset.lab_id)
        context["rows"] = storage.list_children(folder, root.path)
    except storage.UnsafePath as exc:
        context["error"] = str(exc)
        relpath = ""
    except OSError as exc:
        context["error"] = f"Wharf cannot read this folder: {exc.strerror or exc}."
    context["relpath"] = relpath
    parts = PurePosixPath(relpath).parts if relpath else ()
    context["crumbs"] = [
        {"name": name, "relpath": "/".join(parts[: i + 1])} for i, name in enumerate(parts)
    ]
    return context


class StorageBrowseView(DatasetChildMixin, TemplateView):
    """htmx: one folder of a storage root, with buttons to go in or to choose."""

    template_name = "datasets/includes/storage_browser.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            browse_context(
                self.get_dataset(), self.request.GET.get("root"), self.request.GET.get("path")
            )
        )
        return context


class FileAddStorageView(EditableDatasetMixin, FormView):
    template_name = "datasets/file_storage_form.html"
    form_class = StorageFileForm

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["lab"] = self.get_dataset().lab
        return kwargs

    def get_initial(self):
        # The browser's "Choose" links work without JavaScript too: they come back here.
        return {
            key: self.request.GET[key]
            for key in ("storage_root", "relpath")
            if self.request.GET.get(key)
        }

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        query = self.request.GET
        root_id = query.get("root") or query.get("storage_root")
        if not root_id and len(roots := list(self.get_dataset().lab.storage_roots.all())) == 1:
            root_id = roots[0].pk
        context["browser"] = browse_context(self.get_dataset(), root_id, query.get("browse"))
        return context

    def form_valid(self, form):
        data = form.cleaned_data
        try:
            item = file_add_storage(
                self.get_dataset(),
                actor=self.request.user,
                storage_root=data["storage_root"],
                relpath=data["relpath"],
                path=data["path"],
                description=data["description"],
            )
        except (ServiceError, ValidationError) as exc:
            add_service_error(form, exc)
            return self.form_invalid(form)
        messages.success(
            self.request,
            f"Added {item.get_kind_display().lower()} '{item.path}' "
            f"({filesizeformat(item.size)}) from {item.storage_root.name}.",
        )
        return redirect("datasets:dataset_detail", self.get_dataset().pk)


class FileScopedMixin(LabScopedMixin):
    model = DatasetFile
    lab_path = "dataset__lab"

    def get_queryset(self):
        return super().get_queryset().select_related("dataset__lab", "storage_root")


class FileEditView(FileScopedMixin, FormView):
    template_name = "datasets/file_form.html"
    form_class = FileEditForm

    def check_access(self):
        self.object = self.get_object()
        return back_if_readonly(self.request, self.object.dataset)

    def get_initial(self):
        return {
            "path": self.object.path,
            "description": self.object.description,
            "columns": self.object.columns,
        }

    def get_context_data(self, **kwargs):
        kwargs.update(file=self.object, dataset=self.object.dataset)
        return super().get_context_data(**kwargs)

    def form_valid(self, form):
        try:
            file_update(
                self.object,
                actor=self.request.user,
                path=form.cleaned_data["path"],
                description=form.cleaned_data["description"],
                columns=form.cleaned_data.get("columns"),
            )
        except (ServiceError, ValidationError) as exc:
            add_service_error(form, exc)
            return self.form_invalid(form)
        messages.success(self.request, f"Saved '{self.object.path}'.")
        return redirect("datasets:dataset_detail", self.object.dataset_id)


class FileEntryColumnsView(FileScopedMixin, FormView):
    """The columns of one CSV/TSV inside a dataset's folder (?entry=<path inside>): type
    and description, as a file's own columns are edited. Kaggle gets them with the
    metadata update after each version (datasets.metadata.member_resources)."""

    template_name = "datasets/file_entry_columns_form.html"
    form_class = EntryColumnsForm

    def check_access(self):
        self.object = self.get_object()
        self.entry = self.request.GET.get("entry", "")
        if not (self.object.entry_columns or {}).get(self.entry):
            raise Http404("No table with columns at that path in this folder.")
        return back_if_readonly(self.request, self.object.dataset)

    def get_initial(self):
        return {"columns": self.object.entry_columns[self.entry]}

    def get_context_data(self, **kwargs):
        kwargs.update(file=self.object, dataset=self.object.dataset, entry=self.entry)
        return super().get_context_data(**kwargs)

    def form_valid(self, form):
        if "columns" in form.cleaned_data:
            try:
                file_update(
                    self.object,
                    actor=self.request.user,
                    entry_columns={self.entry: form.cleaned_data["columns"]},
                )
            except (ServiceError, ValidationError) as exc:
                add_service_error(form, exc)
                return self.form_invalid(form)
        messages.success(self.request, f"Saved the columns of {self.object.path}/{self.entry}.")
        return redirect("datasets:dataset_detail", self.object.dataset_id)


class FileDeleteView(FileScopedMixin, ServiceActionView):
    def perform(self, obj):
        file_remove(obj, actor=self.request.user)

    def success_message(self, obj, result):
        return f"Removed '{obj.path}' from the dataset."

    def get_success_url(self):
        return reverse("datasets:dataset_detail", args=[self.object.dataset_id])
