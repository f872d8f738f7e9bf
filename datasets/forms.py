"""Forms validate in clean_* through datasets.rules; save() is never used for side
effects: views hand cleaned_data to a service."""

from crispy_forms.bootstrap import Tab, TabHolder
from crispy_forms.helper import FormHelper
from crispy_forms.layout import Field, Layout
from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import models

from . import citation, cover, metadata, rules, tabular
from .models import (
    CredentialKind,
    Dataset,
    DatasetStatus,
    JobState,
    KaggleAccount,
    Lab,
    Profile,
    StorageRoot,
)
from .models.datasets import CollaboratorRole


class KeywordsField(forms.CharField):
    """Comma-separated keywords in the form, a list in the model."""

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return ", ".join(value)
        return value

    def to_python(self, value):
        text = super().to_python(value) or ""
        return [part for part in (p.strip() for p in text.split(",")) if part]

    def validate(self, value):
        pass

    def clean(self, value):
        words = self.to_python(value)
        return rules.clean_keywords(words)


class DatasetForm(forms.ModelForm):
    keywords = KeywordsField(
        required=False,
        help_text="Comma-separated, e.g. ornithology, audio, time series. Kaggle keeps "
        "the ones that are Kaggle tags.",
    )

    class Meta:
        model = Dataset
        fields = ["lab", *metadata.EDITABLE_FIELDS]
        labels = {name: metadata.FIELD_LABELS[name] for name in metadata.EDITABLE_FIELDS}
        help_texts = {
            "slug": "The last part of the Kaggle URL: 6–50 letters, digits and hyphens.",
            "title": "6–50 characters.",
            "subtitle": "Optional; 20–80 characters when given.",
            "description": "Markdown. Shown on Kaggle and in Wharf; scripts and styles "
            "are removed.",
            "is_private": "Recommended. A public dataset can never be made private again.",
            "folder_packaging": "Folders are published as one archive each.",
            "user_specified_sources": "Where the data comes from: instrument, pipeline, "
            "paper (text and links). Kaggle shows it as the dataset's sources.",
            "cover_image": "PNG, JPEG or WebP, at least 560×280 pixels. Wharf fits it to "
            "Kaggle's 560×280 header; the page shows both crops Kaggle makes.",
            "expected_update_frequency": "How often new versions come. Left empty, a "
            "dataset with a schedule says what its schedule implies.",
        }
        widgets = {
            "description": forms.Textarea(attrs={"rows": 10}),
            "user_specified_sources": forms.Textarea(attrs={"rows": 3}),
            # The page previews both crops of a chosen file before saving
            # (static/js/cover.js), warning early with the limits cover.py enforces.
            "cover_image": forms.ClearableFileInput(
                attrs={
                    "accept": "image/png,image/jpeg,image/webp",
                    "data-cover-preview": "cover-preview",
                    "data-min-width": cover.HEADER[0],
                    "data-min-height": cover.HEADER[1],
                    "data-max-bytes": cover.MAX_BYTES,
                }
            ),
            "license": forms.Select(choices=rules.LICENSE_CHOICES),
            "slug": forms.TextInput(
                attrs={"pattern": "[A-Za-z0-9]+(-[A-Za-z0-9]+)*", "minlength": 6, "maxlength": 50}
            ),
            "title": forms.TextInput(attrs={"minlength": 6, "maxlength": 50}),
            "subtitle": forms.TextInput(attrs={"minlength": 20, "maxlength": 80}),
        }

    def __init__(self, *args, user, labs, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["lab"].queryset = labs
        self._collaborators_field(labs)
        self._creators_field(labs)
        self.fields["kaggle_account"].queryset = KaggleAccount.objects.filter(lab__in=labs)
        self.fields["kaggle_account"].required = True
        self.fields["kaggle_account"].empty_label = "Choose an account"
        accounts = self.fields["kaggle_account"].queryset
        if not self.instance.pk and len(accounts[:2]) == 1:
            self.fields["kaggle_account"].initial = accounts[0]
        self.fields["license"] = forms.ChoiceField(
            choices=rules.LICENSE_CHOICES,
            initial=rules.DEFAULT_LICENSE,
            help_text="Who may do what with the data. Not sure? CC BY 4.0 asks for credit "
            "and allows everything else.",
        )
        if labs.count() == 1 and not self.instance.pk:
            self.fields["lab"].initial = labs.first()
        if self.instance.pk:
            self.fields["lab"].disabled = True
            if self.instance.latest_version:
                self.fields["slug"].disabled = True
                self.fields["kaggle_account"].disabled = True
        # Each field's own length rule is checked by rules.*; let the browser help too.
        for name in ("title", "slug", "subtitle"):
            self.fields[name].widget.attrs["aria-describedby"] = f"hint_id_{name}"
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.disable_csrf = True
        tabs = [
            Tab(title, *(["lab"] if title == metadata.BASICS else []), *map(self._laid_out, names))
            for title, names in metadata.form_tabs()
        ]
        self.helper.layout = Layout(TabHolder(*tabs))

    @staticmethod
    def _laid_out(name: str):
        return Field(name, css_class="font-monospace") if name == "description" else name

    def _collaborators_field(self, labs):
        """Lab members with a Kaggle username, each as a reader or a writer."""
        labs = [self.instance.lab] if self.instance.lab_id else labs
        people = metadata.lab_kaggle_usernames(labs)
        choices = [
            (f"{username}:{role}", f"{username} ({member}) as {label.lower()}")
            for username, member in sorted(people.items())
            for role, label in CollaboratorRole.choices
        ]
        self.fields["collaborators"] = forms.MultipleChoiceField(
            choices=choices,
            required=False,
            widget=forms.CheckboxSelectMultiple,
            label=metadata.FIELD_LABELS["collaborators"],
            help_text="Lab members who gave their Kaggle username on their profile page. "
            "Kaggle lets a reader see a private dataset and a writer change it."
            if choices
            else "No member of the lab has given a Kaggle username yet (profile page).",
        )
        self.initial["collaborators"] = [
            f"{c['username']}:{c['role']}" for c in (self.instance.collaborators or [])
        ]

    def _creators_field(self, labs):
        labs = [self.instance.lab] if self.instance.lab_id else labs
        members = (
            get_user_model()
            .objects.filter(memberships__lab__in=labs)
            .distinct()
            .order_by("last_name", "first_name", "username")
        )
        self.fields["creators"] = forms.TypedMultipleChoiceField(
            choices=[(u.pk, u.get_full_name() or u.username) for u in members],
            coerce=int,
            required=False,
            widget=forms.CheckboxSelectMultiple,
            label=metadata.FIELD_LABELS["creators"],
            help_text="Lab members credited as authors when the dataset is cited (with the "
            "ORCID iD from their profile). None chosen: whoever registered it.",
        )
        self.initial["creators"] = list(self.instance.creators or [])

    def clean_collaborators(self):
        chosen = self.cleaned_data.get("collaborators") or []
        return [dict(zip(("username", "role"), item.split(":", 1), strict=True)) for item in chosen]

    def _rule(self, name, check):
        value = self.cleaned_data.get(name) or ""
        value = value.strip()
        if value or name != "subtitle":
            check(value)
        return value

    def clean_title(self):
        return self._rule("title", rules.check_title)

    def clean_subtitle(self):
        return self._rule("subtitle", rules.check_subtitle)

    def clean_slug(self):
        return self._rule("slug", rules.check_slug)

    def clean_license(self):
        return self._rule("license", rules.check_license)

    def clean_description(self):
        text = self.cleaned_data.get("description") or ""
        if len(text) > rules.DESCRIPTION_MAX:
            raise ValidationError(
                f"Keep the description under {rules.DESCRIPTION_MAX:,} characters."
            )
        rules.check_no_control_characters(text.replace("\r", ""), "The description")
        return text

    def clean_cover_image(self):
        value = self.cleaned_data.get("cover_image")
        if value is False:  # "clear" ticked
            return ""
        if isinstance(value, UploadedFile):  # else the stored (already sanitised) one
            try:
                return cover.cover_sanitise(value)
            except cover.CoverError as exc:
                raise ValidationError(str(exc)) from None
        return value

    def clean_user_specified_sources(self):
        text = (self.cleaned_data.get("user_specified_sources") or "").strip()
        if len(text) > metadata.SOURCES_MAX:
            raise ValidationError(f"Keep the sources under {metadata.SOURCES_MAX:,} characters.")
        rules.check_no_control_characters(text.replace("\r", ""), "The sources")
        return text

    def clean(self):
        cleaned = super().clean()
        lab = cleaned.get("lab") or (self.instance.lab if self.instance.lab_id else None)
        account = cleaned.get("kaggle_account")
        if lab and account and account.lab_id != lab.pk:
            self.add_error("kaggle_account", "Choose an account of the dataset's lab.")
        if lab and cleaned.get("creators"):
            members = set(lab.memberships.values_list("user_id", flat=True))
            if not set(cleaned["creators"]) <= members:
                self.add_error("creators", "Choose members of the dataset's lab.")
        if lab and "collaborators" in cleaned:
            try:
                cleaned["collaborators"] = metadata.clean_collaborators(
                    lab, cleaned["collaborators"]
                )
            except metadata.MetadataError as exc:
                self.add_error("collaborators", str(exc))
        return cleaned


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Django's documented pattern for <input type=file multiple>."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        items = [d for d in (data if isinstance(data, list | tuple) else [data]) if d]
        if not items and self.required:
            raise ValidationError(self.error_messages["required"], code="required")
        cleaned, errors = [], []
        for item in items:
            try:
                cleaned.append(single(item, initial))
            except ValidationError as exc:
                # Name the file: with several files chosen, "the file is empty" is no help.
                name = getattr(item, "name", "")
                errors.extend(f"'{name}': {m}" if name else m for m in exc.messages)
        if errors:
            raise ValidationError(errors)
        return cleaned


class UploadForm(forms.Form):
    files = MultipleFileField(
        error_messages={"empty": "the file is empty (0 bytes); Kaggle does not take empty files."},
        help_text="Choose one or more files. Names must be unique within the dataset.",
    )
    description = forms.CharField(
        required=False,
        max_length=rules.FILE_DESCRIPTION_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Applies to each file uploaded now; edit per file afterwards.",
    )


class StorageFileForm(forms.Form):
    storage_root = forms.ModelChoiceField(queryset=StorageRoot.objects.none())
    relpath = forms.CharField(label="Path inside the root", max_length=1000)
    path = forms.CharField(
        label="Publish as",
        required=False,
        max_length=200,
        help_text="Defaults to the file or folder name.",
    )
    description = forms.CharField(
        required=False,
        max_length=rules.FILE_DESCRIPTION_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args, lab: Lab, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["storage_root"].queryset = lab.storage_roots.all()


class ColumnsFormMixin:
    """Each column's type and description of a table (a CSV/TSV file, or one inside a
    folder): the columns come from `initial["columns"]`, as inferred on adding; the edits
    are `cleaned_data["columns"]`, one {type, description} per column in order, which the
    service checks with tabular.clean_columns."""

    def _add_column_fields(self):
        self.columns = list(self.initial.get("columns") or [])
        types = [(t, t) for t in tabular.TYPES]
        for i, column in enumerate(self.columns):
            self.fields[f"column_{i}_type"] = forms.ChoiceField(
                choices=types,
                required=False,
                initial=column["type"],
                label=f"Type of {column['name']}",
                widget=forms.Select(attrs={"class": "form-select form-select-sm"}),
            )
            self.fields[f"column_{i}_description"] = forms.CharField(
                required=False,
                max_length=tabular.COLUMN_DESCRIPTION_MAX,
                initial=column.get("description", ""),
                label=f"Description of {column['name']}",
                widget=forms.TextInput(attrs={"class": "form-control form-control-sm"}),
            )

    def column_rows(self):
        """(column, type field, description field) for the template's table."""
        return [
            (column, self[f"column_{i}_type"], self[f"column_{i}_description"])
            for i, column in enumerate(self.columns)
        ]

    def _clean_columns(self, cleaned: dict) -> dict:
        # A post without the column fields (an older page, a script) leaves them alone.
        if self.columns and f"column_{len(self.columns) - 1}_type" in self.data:
            cleaned["columns"] = [
                {
                    "type": cleaned.get(f"column_{i}_type") or column["type"],
                    "description": cleaned.get(f"column_{i}_description") or "",
                }
                for i, column in enumerate(self.columns)
            ]
        return cleaned


class FileEditForm(ColumnsFormMixin, forms.Form):
    """A file's name and description, and for a CSV/TSV each column's type and
    description."""

    path = forms.CharField(label="Name", max_length=200)
    description = forms.CharField(
        required=False,
        max_length=rules.FILE_DESCRIPTION_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._add_column_fields()

    def clean_path(self):
        return rules.clean_file_name(self.cleaned_data["path"])

    def clean(self):
        return self._clean_columns(super().clean())


class EntryColumnsForm(ColumnsFormMixin, forms.Form):
    """The columns of one CSV/TSV inside a folder (names come from the file)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._add_column_fields()

    def clean(self):
        return self._clean_columns(super().clean())


class KaggleAccountForm(forms.Form):
    owner_slug = forms.CharField(
        max_length=50, help_text="The Kaggle user or organisation datasets appear under."
    )
    username = forms.CharField(max_length=50, help_text="The Kaggle user the key belongs to.")
    credential_kind = forms.ChoiceField(
        choices=CredentialKind.choices, initial="key", widget=forms.RadioSelect
    )
    secret = forms.CharField(
        label="API key or token",
        max_length=500,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Stored encrypted; Wharf shows only its last four characters afterwards.",
    )

    def clean_owner_slug(self):
        rules.check_owner_slug(self.cleaned_data["owner_slug"])
        return self.cleaned_data["owner_slug"]

    def clean_username(self):
        rules.check_owner_slug(self.cleaned_data["username"])
        return self.cleaned_data["username"]


class StorageRootForm(forms.Form):
    name = forms.CharField(max_length=80, help_text="What researchers see, e.g. 'Cluster project'.")
    path = forms.CharField(max_length=1000, help_text="Absolute path on the Wharf servers.")


class LabPatternForm(forms.Form):
    name = forms.CharField(
        max_length=80, help_text="What the finding is called, e.g. 'Participant ID'."
    )
    pattern = forms.CharField(
        max_length=200,
        help_text="A regular expression with bounded repeats, e.g. P-\\d{4}-\\d{3}.",
    )


class SubmitForm(forms.Form):
    version_notes = forms.CharField(
        required=False,
        max_length=rules.VERSION_NOTES_MAX,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="What is new in this version. Required after the first version.",
    )
    delete_old_versions = forms.BooleanField(
        required=False,
        label="Ask Kaggle to delete the older versions",
        help_text="For the account's storage quota: once this version is published, Kaggle "
        "deletes every older version of the dataset (their files cannot be downloaded any "
        "more). The reviewer sees the request.",
    )

    def clean_version_notes(self):
        text = self.cleaned_data.get("version_notes") or ""
        rules.check_no_control_characters(text.replace("\r", ""), "The version notes")
        return text


class ApproveForm(forms.Form):
    note = forms.CharField(
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Note (optional)",
    )
    acknowledge_findings = forms.BooleanField(
        required=False,
        label=(
            "I have checked the findings of the content scan (and the files it could not "
            "scan): this may be published."
        ),
    )

    def __init__(self, *args, findings: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if findings:  # the service asks for both; the page says so up front
            self.fields["note"].label = "Note: why the findings may be published"
            self.fields["note"].help_text = "Kept in the history with your acknowledgement."
            self.order_fields(["acknowledge_findings", "note"])
        else:
            del self.fields["acknowledge_findings"]


class ReturnForm(forms.Form):
    reason = forms.CharField(
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="The researcher sees this on the dataset page.",
    )


class CommentForm(forms.Form):
    text = forms.CharField(
        label="Comment", max_length=10_000, widget=forms.Textarea(attrs={"rows": 3})
    )


class KaggleSecretForm(forms.Form):
    """Replaces an account's credential; the old one is never shown."""

    credential_kind = forms.ChoiceField(
        choices=CredentialKind.choices, initial="key", widget=forms.RadioSelect
    )
    secret = forms.CharField(
        label="New API key or token",
        max_length=500,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )


class DatasetFilterForm(forms.Form):
    q = forms.CharField(label="Search", required=False, max_length=100)
    lab = forms.ModelChoiceField(
        queryset=Lab.objects.none(), required=False, empty_label="All labs"
    )
    status = forms.ChoiceField(required=False)

    def __init__(self, *args, labs, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["lab"].queryset = labs
        self.fields["status"].choices = [("", "Any status"), *DatasetStatus.choices]


class ProfileForm(forms.ModelForm):
    # Longer than the iD itself: people paste https://orcid.org/0000-...
    orcid = forms.CharField(
        required=False,
        max_length=60,
        label="ORCID iD",
        help_text="Optional, e.g. 0000-0002-1825-0097: shown with your name in citations.",
    )

    class Meta:
        model = Profile
        fields = [
            "kaggle_username",
            "orcid",
            "email_on_submission",
            "email_on_review",
            "email_on_comment",
            "email_on_publish",
        ]
        help_texts = {
            "kaggle_username": "Your own Kaggle username: datasets of your lab can then "
            "make you a collaborator on Kaggle.",
        }
        labels = {
            "kaggle_username": "Kaggle username",
            "email_on_submission": "New submissions to review",
            "email_on_review": "My submissions approved or returned",
            "email_on_comment": "Comments on submissions I take part in",
            "email_on_publish": "My versions published or failed",
        }

    def clean_kaggle_username(self):
        value = (self.cleaned_data.get("kaggle_username") or "").strip()
        if value:
            rules.check_owner_slug(value)
        return value

    def clean_orcid(self):
        value = (self.cleaned_data.get("orcid") or "").strip()
        if not value:
            return ""
        try:
            return citation.check_orcid(value)
        except citation.CitationError as exc:
            raise ValidationError(str(exc)) from None


class HistoryFilterForm(forms.Form):
    """Filters of the publish history (GET); every field optional."""

    q = forms.CharField(required=False, max_length=100, label="Title or slug")
    lab = forms.ModelChoiceField(queryset=Lab.objects.none(), required=False)
    # (Bounded: an id past the database's integers is simply no dataset, not a 500.)
    dataset = forms.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1, widget=forms.HiddenInput
    )
    state = forms.ChoiceField(choices=[("", "Any state"), *JobState.choices], required=False)
    approver = forms.ModelChoiceField(
        queryset=get_user_model().objects.none(), required=False, label="Approved by"
    )
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, labs, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["lab"].queryset = labs
        self.fields["lab"].empty_label = "Any lab"
        self.fields["approver"].empty_label = "Anyone"
        self.fields["approver"].queryset = (
            get_user_model()
            .objects.filter(memberships__lab__in=labs, memberships__role="engineer")
            .distinct()
            .order_by("username")
        )

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            self.add_error("until", "The end date is before the start date.")
        return data

    def filter(self, jobs):
        """The filtered queryset; invalid fields are ignored (their errors are shown)."""
        data = self.cleaned_data if self.is_bound else {}
        if data.get("q"):
            jobs = jobs.filter(
                models.Q(dataset__title__icontains=data["q"])
                | models.Q(dataset__slug__icontains=data["q"])
            )
        if data.get("lab"):
            jobs = jobs.filter(dataset__lab=data["lab"])
        if data.get("dataset"):
            jobs = jobs.filter(dataset_id=data["dataset"])
        if data.get("state"):
            jobs = jobs.filter(state=data["state"])
        if data.get("approver"):
            jobs = jobs.filter(submission__reviewed_by=data["approver"])
        if data.get("since"):
            jobs = jobs.filter(created_at__date__gte=data["since"])
        if data.get("until"):
            jobs = jobs.filter(created_at__date__lte=data["until"])
        return jobs
