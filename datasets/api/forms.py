from crispy_forms.helper import FormHelper
from django import forms

from datasets import rules

from .tokens import EXPIRY_CHOICES, NAME_MAX


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        max_length=NAME_MAX,
        help_text="What the token is for, e.g. 'nightly pipeline on the cluster'.",
    )
    expires_in_days = forms.TypedChoiceField(
        label="Expires",
        choices=[("" if days is None else days, label) for days, label in EXPIRY_CHOICES],
        coerce=int,
        empty_value=None,
        required=False,
        initial=90,
        help_text="After this the token no longer opens the API; a pipeline needs a new one.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False

    def clean_name(self):
        name = " ".join(self.cleaned_data["name"].split())
        rules.check_no_control_characters(name, "The name")
        if not name:
            raise forms.ValidationError("Name the token.")
        return name
