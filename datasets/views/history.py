"""Publish history across every dataset the user can see, with filters and CSV export."""

import csv
import hashlib

from django.http import StreamingHttpResponse
from django.utils import timezone
from django.views.generic import ListView

from datasets.forms import HistoryFilterForm
from datasets.selectors import access_of, jobs_for, labs_of
from datasets.versions import version_numbers

from .mixins import MemberRequiredMixin, filter_form_key

# "version" names it as people read it ("v3 · Kaggle v4"); the two numbers follow apart.
CSV_COLUMNS = [
    "job", "dataset", "kaggle_ref", "version", "state", "error_code", "approved_by",
    "created_at", "finished_at", "files", "bytes", "kaggle_url", "wharf_version",
    "kaggle_version", "differences",
]  # fmt: skip


class FilteredJobsMixin(MemberRequiredMixin):
    def filter_form(self) -> HistoryFilterForm:
        if not hasattr(self, "_form"):
            user = self.request.user
            form = HistoryFilterForm(self.request.GET or None, labs=labs_of(user))
            form.is_valid()
            if not user.is_superuser:
                # The select lists the labs the request already read (access_of), instead
                # of a query of its own; a chosen lab is still validated by the form.
                field = form.fields["lab"]
                field.widget.choices = [("", field.empty_label)] + [
                    (a.lab.pk, a.lab.name) for a in access_of(user).labs
                ]
            self._form = form
        return self._form

    def filter_form_key(self) -> str:
        """The key the rendered filter form is kept under: the query and the choices it
        offers (the approvers read once here, and listed from that read)."""
        form = self.filter_form()
        choices = []
        for name in ("lab", "approver"):
            field = form.fields[name]
            field.widget.choices = [(c[0], c[1]) for c in field.widget.choices]
            choices.append([(str(value), str(label)) for value, label in field.widget.choices])
        return filter_form_key(self.request, choices)

    def get_queryset(self):
        jobs = jobs_for(self.request.user).select_related("dataset__lab", "submission")
        return self.filter_form().filter(jobs).order_by("-created_at", "-id")


# What a history row shows: the JSON columns (the submission's metadata and file list, the
# job's manifest and phases) stay in the database; decoding them was most of the page.
HISTORY_ROW_FIELDS = (
    "state", "error_code", "kaggle_version", "differences", "created_at",
    "dataset__title", "dataset__owner_slug", "dataset__slug", "dataset__lab__name",
    "submission__number", "submission__total_bytes", "submission__reviewed_by__username",
)  # fmt: skip


class HistoryView(FilteredJobsMixin, ListView):
    template_name = "datasets/history_list.html"
    context_object_name = "jobs"
    paginate_by = 50

    def get_queryset(self):
        return super().get_queryset().only(*HISTORY_ROW_FIELDS)

    def get_context_data(self, **kwargs):
        query = self.request.GET.copy()
        query.pop("page", None)
        kwargs.update(
            form=self.filter_form(), filter_key=self.filter_form_key(), query=query.urlencode()
        )
        context = super().get_context_data(**kwargs)
        # A row is the same for everyone who may see it: its HTML is kept, keyed on all it
        # shows; the page's rows together under the key of them all (one cache read when
        # none changed, instead of one per row).
        for job in context["jobs"]:
            job.row_key = history_row_key(job)
        context["rows_key"] = hashlib.sha256(
            "|".join(job.row_key for job in context["jobs"]).encode()
        ).hexdigest()
        return context


def history_row_key(job) -> str:
    submission, dataset = job.submission, job.dataset
    reviewer = submission.reviewed_by.username if submission.reviewed_by else ""
    shown = (
        job.pk, job.created_at.timestamp(), job.state, job.kaggle_version, job.error_code,
        job.differences, dataset.pk, dataset.title, dataset.owner_slug, dataset.slug,
        dataset.lab.name, submission.number, submission.total_bytes, reviewer,
    )  # fmt: skip
    return hashlib.sha256(repr(shown).encode()).hexdigest()


class _Echo:
    def write(self, value):
        return value


class HistoryCsvView(FilteredJobsMixin, ListView):
    """The filtered rows as CSV, streamed (no limit, constant memory)."""

    def render_to_response(self, context, **kwargs):
        writer = csv.writer(_Echo())

        def rows():
            yield writer.writerow(CSV_COLUMNS)
            for job in self.object_list.iterator(chunk_size=500):
                reviewer = job.submission.reviewed_by
                numbers = version_numbers(job)
                yield writer.writerow(
                    [
                        job.pk,
                        _safe(job.dataset.title),
                        f"{job.dataset.owner_slug}/{job.dataset.slug}",
                        numbers["version_label"],
                        job.state,
                        job.error_code,
                        _safe(reviewer.username) if reviewer else "",
                        job.created_at.isoformat(),
                        job.finished_at.isoformat() if job.finished_at else "",
                        len(job.manifest) if job.manifest else job.submission.file_count,
                        job.bytes_total or job.submission.total_bytes,
                        job.kaggle_url,
                        numbers["wharf_version"] or "",
                        numbers["kaggle_version"] or "",
                        _safe(" | ".join(job.differences or [])),
                    ]
                )

        stamp = timezone.now().strftime("%Y%m%d-%H%M")
        return StreamingHttpResponse(
            rows(),
            content_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="wharf-history-{stamp}.csv"'},
        )


def _safe(text: str) -> str:
    # A cell starting with = + - @ is a formula to a spreadsheet: keep it text.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
