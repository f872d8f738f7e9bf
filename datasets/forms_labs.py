"""Forms of lab administration: labs, members, invitations. Validation only; the
services in datasets/services/labs.py make the change."""

from django import forms

from datasets.models import Role


class LabForm(forms.Form):
    name = forms.CharField(max_length=120, help_text="e.g. Marine Ecology Lab")
    slug = forms.SlugField(
        max_length=60,
        required=False,
        label="Short name",
        help_text="In the lab's addresses; made from the name when left empty.",
    )
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)


class MemberAddForm(forms.Form):
    username = forms.CharField(
        max_length=150, label="User name", help_text="Someone who already has a Wharf account."
    )
    role = forms.ChoiceField(choices=Role.choices, initial=Role.RESEARCHER)


class InvitationForm(forms.Form):
    email = forms.EmailField(
        label="E-mail address", help_text="They get a link that works once, for 7 days."
    )
    role = forms.ChoiceField(choices=Role.choices, initial=Role.RESEARCHER)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class InvitationSignupForm(forms.Form):
    """An invited person without an account makes one; the address is the invited one."""

    name = forms.CharField(max_length=150, required=False, label="Your name")
    username = forms.CharField(max_length=150, label="User name")
    password1 = forms.CharField(
        label="Password", widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    password2 = forms.CharField(
        label="Password again", widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    def clean(self):
        data = super().clean()
        if data.get("password1") and data.get("password1") != data.get("password2"):
            self.add_error("password2", "The two passwords differ.")
        return data
