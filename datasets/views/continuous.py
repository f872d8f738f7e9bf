"""Continuous publishing: a dataset's schedule, and a lab's webhooks with their delivery
log. Every member may look at a schedule; only the lab's data engineers change
schedules, and only they see webhooks (their URLs may carry tokens)."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.generic import FormView

from datasets.forms_continuous import ScheduleForm, WebhookEditForm, WebhookForm
from datasets.models import Dataset, DatasetSchedule, Source, Webhook, WebhookDelivery
from datasets.selectors import is_engineer, scope_to_user
from datasets.services import schedules
from datasets.services import webhooks as webhook_services
from datasets.services.errors import ServiceError

from .labs import LabFormView
from .mixins import DatasetChildMixin, LabScopedMixin, ServiceActionView, add_service_error

DELIVERIES_SHOWN = 50

# --- schedules ------------------------------------------------------------------------


class ScheduleView(DatasetChildMixin, FormView):
    """GET shows the schedule and what its last check found; POST saves it (engineers)."""

    template_name = "datasets/schedule_form.html"
    form_class = ScheduleForm

    def get_schedule(self) -> DatasetSchedule | None:
        return (
            DatasetSchedule.objects.select_related("awaiting_submission", "periodic_task")
            .filter(dataset=self.get_dataset())
            .first()
        )

    def get_initial(self):
        return ScheduleForm.initial_for(self.get_schedule())

    def get_context_data(self, **kwargs):
        dataset = self.get_dataset()
        kwargs.update(
            schedule=self.get_schedule(),
            is_engineer=is_engineer(self.request.user, dataset.lab),
            is_storage=dataset.source == Source.STORAGE,
            here="Continuous publishing",
            checks=dataset.events.filter(action="dataset.checked")[:10],
        )
        return super().get_context_data(**kwargs)

    def post(self, request, *args, **kwargs):
        dataset = self.get_dataset()
        if not is_engineer(request.user, dataset.lab):
            raise PermissionDenied(f"Only data engineers of {dataset.lab.name} may do this.")
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        data = dict(form.cleaned_data)
        data.pop("kind")
        try:
            schedule = schedules.schedule_save(self.get_dataset(), actor=self.request.user, **data)
        except (ServiceError, ValidationError) as exc:
            add_service_error(form, exc)
            return self.form_invalid(form)
        state = "on" if schedule.enabled else "paused"
        messages.success(self.request, f"Saved: checks {schedule.describe} ({state}).")
        return redirect("datasets:schedule", self.get_dataset().pk)


class DatasetActionView(ServiceActionView):
    model = Dataset
    engineer_only = True
    engineer_what = "change its schedules"

    def get_success_url(self):
        return reverse("datasets:schedule", args=[self.object.pk])


class ScheduleDeleteView(DatasetActionView):
    def perform(self, obj):
        schedules.schedule_delete(obj, actor=self.request.user)

    def success_message(self, obj, result):
        return "Removed the schedule: Wharf no longer watches this dataset's files."


class ScheduleCheckNowView(DatasetActionView):
    def perform(self, obj):
        schedules.schedule_check_now(obj, actor=self.request.user)

    def success_message(self, obj, result):
        return "A check is queued; reload in a moment to see what it found."


# --- webhooks ---------------------------------------------------------------------------


def _created_page(request, webhook, secret):
    # Rendered, not redirected: the secret is in this one answer and stored nowhere.
    response = render(
        request, "datasets/webhook_created.html", {"webhook": webhook, "secret": secret}
    )
    add_never_cache_headers(response)
    return response


class WebhookAddView(LabFormView):
    form_class = WebhookForm
    form_context_name = "webhook_form"

    def form_valid(self, form):
        try:
            webhook, secret = webhook_services.webhook_create(
                self.get_lab(), actor=self.request.user, **form.cleaned_data
            )
        except (ServiceError, ValidationError) as exc:
            add_service_error(form, exc)
            return self.form_invalid(form)
        if form.cleaned_data["secret"]:
            messages.success(self.request, f"Added the webhook {webhook}.")
            return redirect("datasets:webhook_detail", webhook.pk)
        return _created_page(self.request, webhook, secret)


class WebhookScopedMixin(LabScopedMixin):
    model = Webhook

    def get_queryset(self):
        return super().get_queryset().select_related("lab")

    def check_access(self):
        self.object = self.get_object()
        self.require_engineer(self.object.lab, "manage its webhooks")


class WebhookDetailView(WebhookScopedMixin, FormView):
    """Edit a webhook and see its recent deliveries (each attempt), with re-send."""

    template_name = "datasets/webhook_detail.html"
    form_class = WebhookEditForm

    def get_initial(self):
        hook = self.object
        return {"name": hook.name, "url": hook.url, "events": hook.events,
                "is_active": hook.is_active}  # fmt: skip

    def get_context_data(self, **kwargs):
        kwargs.update(
            webhook=self.object,
            lab=self.object.lab,
            deliveries=self.object.deliveries.select_related("requested_by")[:DELIVERIES_SHOWN],
        )
        return super().get_context_data(**kwargs)

    def form_valid(self, form):
        try:
            webhook_services.webhook_update(
                self.object, actor=self.request.user, **form.cleaned_data
            )
        except (ServiceError, ValidationError) as exc:
            add_service_error(form, exc)
            return self.form_invalid(form)
        messages.success(self.request, f"Saved the webhook {self.object}.")
        return redirect("datasets:webhook_detail", self.object.pk)


class WebhookDeleteView(ServiceActionView):
    model = Webhook
    engineer_only = True
    engineer_what = "manage its webhooks"

    def perform(self, obj):
        webhook_services.webhook_delete(obj, actor=self.request.user)

    def success_message(self, obj, result):
        return f"Removed the webhook {obj}."

    def get_success_url(self):
        return reverse("datasets:lab_settings", args=[self.object.lab.slug])

    def get_failure_url(self):
        return reverse("datasets:webhook_detail", args=[self.object.pk])


class WebhookResendView(ServiceActionView):
    model = WebhookDelivery
    lab_path = "webhook__lab"
    engineer_only = True
    engineer_what = "manage its webhooks"

    def get_queryset(self):
        deliveries = WebhookDelivery.objects.select_related("webhook__lab")
        return scope_to_user(deliveries, self.request.user, self.lab_path)

    def perform(self, obj):
        return webhook_services.webhook_resend(obj, actor=self.request.user)

    def success_message(self, obj, result):
        return f"Sending {obj.action} to {obj.webhook} again."

    def get_success_url(self):
        return reverse("datasets:webhook_detail", args=[self.object.webhook_id])
