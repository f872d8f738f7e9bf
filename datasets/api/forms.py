from crispy_forms.helper import FormHelper
from django import forms

from datasets import rules

from .tokens import NAME_MAX


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        max_length=NAME_MAX,
        help_text="What the token is for, e.g. 'nightly pipeline on the cluster'.",
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
