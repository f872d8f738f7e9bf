"""The entries of one folder of a dataset, a page at a time: frozen in a submission (the
review page lists what was approved), or read live from lab storage for the dataset's
current files (the dataset and submit pages). htmx loads the list into those pages when
it scrolls into view; without JavaScript the same address is a page of its own."""

from django.http import Http404
from django.urls import reverse
from django.views.generic import TemplateView

from datasets import storage
from datasets.folder_entries import (
    EntriesPage,
    NotAFolder,
    entries_page,
    frozen_folder,
    live_entries,
)
from datasets.models import DatasetFile, Submission

from .datasets import readonly_reason
from .mixins import LabScopedMixin

TEMPLATE = "datasets/includes/folder_entries.html"


class FolderEntriesView(LabScopedMixin, TemplateView):
    """`source` (set by the route) says where the entries come from: a submission's frozen
    file list (?folder=<its path>), or a dataset's file walked on storage now. Seen by
    whoever may see the page it is part of: the same lab scope (another lab's id is a 404)."""

    SOURCES = {"file": DatasetFile, "submission": Submission}
    source = "file"
    lab_path = "dataset__lab"

    @property
    def model(self):
        return self.SOURCES[self.source]

    def get_queryset(self):
        related = ["dataset__lab"] + (["storage_root"] if self.model is DatasetFile else [])
        return super().get_queryset().select_related(*related)

    def get_template_names(self):
        partial = self.request.headers.get("HX-Request") and not self.request.headers.get(
            "HX-History-Restore-Request"
        )
        return [f"{TEMPLATE}#entries" if partial else TEMPLATE]

    def get_context_data(self, **kwargs):
        obj = self.get_object()
        try:
            number = max(1, int(self.request.GET.get("page", 1)))
        except ValueError:
            number = 1
        entries_of = self._frozen if self.source == "submission" else self._live
        found = entries_of(obj, number)
        last = found["page"].num_pages
        query = self.request.GET.copy()
        query.pop("page", None)
        base = f"{self.request.path}?{query.urlencode() + '&' if query else ''}page="
        kwargs.update(
            found,
            dataset=obj.dataset,
            # Past the end (a folder that shrank since the link was made): to its last page.
            previous_url=f"{base}{min(number - 1, last)}" if number > 1 else "",
            next_url=f"{base}{number + 1}" if number < last else "",
        )
        return super().get_context_data(**kwargs)

    def _frozen(self, submission: Submission, number: int) -> dict:
        path = self.request.GET.get("folder", "")
        try:
            entry = frozen_folder(submission, path)
        except NotAFolder as exc:
            raise Http404(str(exc)) from None
        return {
            "folder": path,
            "page": entries_page(
                entry.get("entries") or [], number, entry.get("entry_columns") or {}
            ),
            "frozen": True,
            "back_url": reverse("datasets:review", args=[submission.pk]),
            "back_label": f"Version {submission.number}",
        }

    def _live(self, item: DatasetFile, number: int) -> dict:
        context = {
            "folder": item.path,
            "frozen": False,
            "back_url": reverse("datasets:dataset_detail", args=[item.dataset_id]),
            "back_label": item.dataset.ref,
            "error": "",
            # Entry columns are edited on the dataset's current folder while it may change.
            "columns_url": ""
            if readonly_reason(item.dataset)
            else reverse("datasets:file_entry_columns", args=[item.pk]),
        }
        try:
            context["page"] = entries_page(live_entries(item), number, item.entry_columns)
        except NotAFolder as exc:
            raise Http404(str(exc)) from None
        except (storage.UnsafePath, OSError) as exc:
            # Storage moved on since the folder was added: say so, the page still works.
            context["error"] = f"Wharf cannot list this folder on lab storage now: {exc}"
            context["page"] = EntriesPage(1, 0, [])
        return context
