"""Labs and their members, Kaggle accounts, storage roots; people's API tokens and settings."""

from django.conf import settings
from django.core import checks
from django.core.exceptions import ValidationError
from django.db import DatabaseError, models
from django.utils import timezone

from datasets import storage


class Role(models.TextChoices):
    RESEARCHER = "researcher", "Researcher"
    ENGINEER = "engineer", "Data engineer"


class Lab(models.Model):
    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=60, unique=True)
    description = models.TextField(blank=True)
    allow_self_approval = models.BooleanField(
        default=False,
        help_text="Let an engineer approve a submission they made themselves.",
    )
    allow_hard_links = models.BooleanField(
        default=False,
        help_text="Accept files on lab storage that have more than one hard link. Off by "
        "default: a hard link can make a file from outside a storage root look like it is "
        "inside. Turn on only where no one can link other people's files into the roots.",
    )
    data_checks_block = models.BooleanField(
        default=False,
        help_text="Refuse approval while a tabular file of the submission fails its data "
        "checks (datasets.tabular). Off: the reviewer is warned and may approve.",
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="labs"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # A lab is archived, never deleted, once it has a history (Event.lab is PROTECT): its
    # datasets and events stay readable; it takes no new datasets.
    archived_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Membership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    lab = models.ForeignKey(Lab, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.RESEARCHER)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "lab"], name="membership_one_per_user_lab")
        ]
        ordering = ["lab__name"]

    def __str__(self):
        return f"{self.user} in {self.lab} ({self.get_role_display()})"

    @property
    def is_engineer(self) -> bool:
        return self.role == Role.ENGINEER


# --- Kaggle accounts and lab storage ------------------------------------------------


class CredentialKind(models.TextChoices):
    KEY = "key", "Username and API key"
    TOKEN = "token", "Access token"


class KaggleAccount(models.Model):
    """A lab's publishing identity. The secret is encrypted at rest (datasets.crypto)
    and only its last four characters are ever shown."""

    lab = models.ForeignKey(Lab, on_delete=models.CASCADE, related_name="kaggle_accounts")
    owner_slug = models.CharField(
        max_length=50, help_text="The Kaggle user or organisation datasets are published under."
    )
    username = models.CharField(max_length=50, help_text="The Kaggle user the key belongs to.")
    credential_kind = models.CharField(
        max_length=10, choices=CredentialKind.choices, default=CredentialKind.KEY
    )
    secret_encrypted = models.TextField(editable=False)
    secret_last4 = models.CharField(max_length=4, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_tested_at = models.DateTimeField(null=True, blank=True)
    last_test_ok = models.BooleanField(null=True)
    last_test_message = models.CharField(max_length=300, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["lab", "owner_slug"], name="account_owner_per_lab")
        ]
        ordering = ["owner_slug"]

    def __str__(self):
        return self.owner_slug

    @property
    def masked_secret(self) -> str:
        return f"••••{self.secret_last4}"


class StorageRoot(models.Model):
    """A folder on lab storage (e.g. a cluster project folder) that a lab's datasets may
    take files from. Nothing outside it is ever read."""

    lab = models.ForeignKey(Lab, on_delete=models.CASCADE, related_name="storage_roots")
    name = models.CharField(max_length=80)
    path = models.CharField(max_length=1000, help_text="Absolute path on the Wharf servers.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["lab", "path"], name="storage_root_path_per_lab"),
            models.UniqueConstraint(fields=["lab", "name"], name="storage_root_name_per_lab"),
        ]
        ordering = ["name"]

    def __str__(self):
        return f"{self.name} ({self.path})"

    def clean(self):
        """The one rule for a root, whoever registers it (service, ModelForm, admin, API):
        an existing folder where roots may be, apart from every other lab's roots."""
        super().clean()
        try:
            self.path = storage.check_root_path(self.path)
        except ValidationError as exc:
            raise ValidationError({"path": exc.messages}) from None
        if self.lab_id is None:
            return
        others = StorageRoot.objects.exclude(lab_id=self.lab_id).select_related("lab")
        for other in others.exclude(pk=self.pk).order_by("pk"):
            if storage.paths_overlap(self.path, other.path):
                raise ValidationError(
                    {
                        "path": f"{self.path} {storage.describe_overlap(self.path, other.path)} "
                        f"the storage root '{other.name}' of {other.lab.name}. The roots of "
                        "different labs must not overlap, or one lab could publish the "
                        "other's files: pick a folder apart from it."
                    },
                    code="root_overlap",
                )

    @classmethod
    def overlaps(cls) -> list[tuple["StorageRoot", "StorageRoot"]]:
        """Pairs of roots of different labs that overlap now (registered before the rule,
        or made so since by a symlink or a move on disk)."""
        roots = list(cls.objects.select_related("lab").order_by("pk"))
        return [
            (a, b)
            for i, a in enumerate(roots)
            for b in roots[i + 1 :]
            if a.lab_id != b.lab_id and storage.paths_overlap(a.path, b.path)
        ]


@checks.register(checks.Tags.security)
def check_storage_roots_apart(app_configs=None, **kwargs):
    """`manage.py check` reports roots of different labs that overlap."""
    try:
        pairs = StorageRoot.overlaps()
    except DatabaseError:  # no tables yet (before migrate): nothing to report
        return []
    return [
        checks.Error(
            f"Storage root '{a.name}' of {a.lab.name} ({a.path}) "
            f"{storage.describe_overlap(a.path, b.path)} '{b.name}' of {b.lab.name} ({b.path}).",
            hint="Delete or move one of them (admin: Storage roots). Until then Wharf reads "
            "no file where they overlap, for either lab.",
            obj=a,
            id="wharf.E001",
        )
        for a, b in pairs
    ]


# --- People: API tokens and preferences ---------------------------------------------


class ApiToken(models.Model):
    """A personal API token. Only a hash is stored; the token is shown once."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=80)
    prefix = models.CharField(max_length=8, help_text="First characters, to recognise it.")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="After this the token no longer opens the API."
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()


class Profile(models.Model):
    """Per-user settings: which emails to receive, the secret in private feed URLs."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="wharf_profile"
    )
    # Who the user is elsewhere: a Kaggle username (to be a dataset's collaborator) and
    # an ORCID iD (in citations).
    kaggle_username = models.CharField(max_length=50, blank=True)
    orcid = models.CharField(max_length=19, blank=True)
    email_on_submission = models.BooleanField(
        default=True, help_text="Engineers: a new submission waits for review."
    )
    email_on_review = models.BooleanField(
        default=True, help_text="Your submission was approved or returned."
    )
    email_on_comment = models.BooleanField(
        default=True, help_text="Someone commented on a submission you take part in."
    )
    email_on_publish = models.BooleanField(
        default=True, help_text="A version you submitted was published or failed."
    )
    feed_token = models.CharField(max_length=64, blank=True)

    def __str__(self):
        return f"profile of {self.user}"
