"""Forms of continuous publishing: a dataset's schedule and a lab's webhooks. They check
shape only; the services (schedules, webhooks) decide what is allowed."""

from django import forms

from .models import SchedulePolicy, WebhookAction


class ScheduleForm(forms.Form):
    KINDS = [("interval", "Every few minutes"), ("cron", "Cron expression")]

    kind = forms.ChoiceField(choices=KINDS, initial="interval", widget=forms.RadioSelect)
    interval_minutes = forms.IntegerField(
        required=False, min_value=1, label="Interval (minutes)", initial=60
    )
    cron = forms.CharField(
        required=False,
        max_length=120,
        label="Cron expression",
        help_text="Five fields: minute hour day-of-month month day-of-week, e.g. '0 */6 * * *'.",
    )
    policy = forms.ChoiceField(
        choices=SchedulePolicy.choices,
        initial=SchedulePolicy.NEEDS_REVIEW,
        widget=forms.RadioSelect,
        help_text="Auto-approve publishes a changed version without a person, once the "
        "content scan has cleared it; findings leave it in the review queue.",
    )
    quiet_period_seconds = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=24 * 3600,
        label="Quiet period (seconds)",
        help_text="Changed files must be this old before a version is made. Empty: the "
        "Wharf default.",
    )
    enabled = forms.BooleanField(required=False, initial=True, label="Checks are on")

    def clean(self):
        data = super().clean()
        if data.get("kind") == "interval":
            if not data.get("interval_minutes"):
                self.add_error("interval_minutes", "Give the interval in minutes.")
            data["cron"] = ""
        elif data.get("kind") == "cron":
            if not (data.get("cron") or "").strip():
                self.add_error("cron", "Give a cron expression.")
            data["interval_minutes"] = None
        return data

    @classmethod
    def initial_for(cls, schedule) -> dict:
        if schedule is None:
            return {}
        return {
            "kind": "interval" if schedule.interval_minutes else "cron",
            "interval_minutes": schedule.interval_minutes,
            "cron": schedule.cron,
            "policy": schedule.policy,
            "quiet_period_seconds": schedule.quiet_period_seconds,
            "enabled": schedule.enabled,
        }


class WebhookForm(forms.Form):
    name = forms.CharField(required=False, max_length=80, help_text="For you, e.g. 'Lab chat'.")
    url = forms.CharField(
        label="Payload URL",
        max_length=500,
        help_text="http or https. Redirects are not followed; internal addresses are refused.",
    )
    events = forms.MultipleChoiceField(
        choices=WebhookAction.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=[WebhookAction.JOB_PUBLISHED, WebhookAction.JOB_FAILED],
    )
    secret = forms.CharField(
        required=False,
        max_length=200,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Signs every delivery (HMAC-SHA256). Empty: Wharf makes one and shows it once.",
    )


class WebhookEditForm(WebhookForm):
    is_active = forms.BooleanField(required=False, label="Active")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["secret"].help_text = "Empty: keep the current secret."
