from django.contrib import admin, messages

from .models import (
    ApiToken,
    Comment,
    Dataset,
    DatasetFile,
    DatasetSchedule,
    Event,
    Invitation,
    KaggleAccount,
    Lab,
    LabPattern,
    Membership,
    Profile,
    PublishJob,
    StorageRoot,
    Submission,
    SubmissionScan,
    Webhook,
    WebhookDelivery,
)
from .services import ServiceError
from .services.labs import lab_archive


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Lab)
class LabAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "allow_self_approval", "allow_hard_links", "created_at",
                    "archived_at"]  # fmt: skip
    list_filter = [("archived_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["archived_at"]
    inlines = [MembershipInline]
    actions = ["archive"]

    def has_delete_permission(self, request, obj=None):
        # A lab with a history is archived instead (Event.lab is PROTECT); the bulk
        # "delete selected" action is refused for such labs by the same rule.
        if obj is not None and obj.events.exists():
            return False
        return super().has_delete_permission(request, obj)

    def delete_queryset(self, request, queryset):
        kept = queryset.filter(events__isnull=False).distinct()
        if kept.exists():
            self.message_user(
                request,
                "Not deleted, because they have a history: "
                + ", ".join(lab.name for lab in kept)
                + ". Archive them instead.",
                messages.ERROR,
            )
        super().delete_queryset(request, queryset.exclude(pk__in=kept.values("pk")))

    @admin.action(description="Archive the selected labs (keeps their history)")
    def archive(self, request, queryset):
        for lab in queryset:
            try:
                lab_archive(lab, actor=request.user)
            except ServiceError as exc:
                self.message_user(request, str(exc), messages.WARNING)
            else:
                self.message_user(request, f"{lab.name} is archived.", messages.SUCCESS)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "lab", "role", "joined_at"]
    list_filter = ["role", "lab"]
    search_fields = ["user__username", "lab__name"]
    autocomplete_fields = ["user", "lab"]


@admin.register(KaggleAccount)
class KaggleAccountAdmin(admin.ModelAdmin):
    # The secret is never shown or edited here: engineers set it in Lab settings.
    list_display = ["owner_slug", "username", "lab", "credential_kind", "masked_secret",
                    "last_test_ok", "last_tested_at"]  # fmt: skip
    list_filter = ["lab", "credential_kind"]
    readonly_fields = ["secret_last4", "last_tested_at", "last_test_ok", "last_test_message"]
    exclude = ["secret_encrypted"]


@admin.register(StorageRoot)
class StorageRootAdmin(admin.ModelAdmin):
    # The rules (an allowed folder, apart from other labs' roots) are StorageRoot.clean's.
    list_display = ["name", "path", "lab", "created_at"]
    list_filter = ["lab"]

    def changelist_view(self, request, extra_context=None):
        # Overlaps made before the rule, or since by a symlink on disk (also `manage.py check`).
        for a, b in StorageRoot.overlaps():
            self.message_user(
                request,
                f"'{a.name}' of {a.lab} ({a.path}) overlaps '{b.name}' of {b.lab} ({b.path}): "
                "Wharf reads no file where they meet until one of them is moved or deleted.",
                messages.ERROR,
            )
        return super().changelist_view(request, extra_context)


class DatasetFileInline(admin.TabularInline):
    model = DatasetFile
    extra = 0
    fields = ["path", "kind", "size", "description", "storage_root", "storage_relpath"]
    readonly_fields = ["size"]


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ["title", "owner_slug", "slug", "lab", "status", "latest_version", "updated_at"]
    list_filter = ["status", "lab"]
    search_fields = ["title", "slug", "owner_slug"]
    inlines = [DatasetFileInline]


class ReadOnlyHistoryAdmin(admin.ModelAdmin):
    """Submissions and publish jobs are shown, never changed, added or deleted here: their
    states move only through the services, which check where they start from and write
    the Event that tells it (a state set by hand would be a history that never happened)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Submission)
class SubmissionAdmin(ReadOnlyHistoryAdmin):
    list_display = ["dataset", "number", "state", "submitted_by", "submitted_at", "reviewed_by"]
    list_filter = ["state", "dataset__lab"]


@admin.register(PublishJob)
class PublishJobAdmin(ReadOnlyHistoryAdmin):
    list_display = ["id", "dataset", "state", "error_code", "attempts", "worker", "created_at"]
    list_filter = ["state", "error_code"]


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    """The history is append-only: it can be read here, never changed."""

    list_display = ["at", "action", "lab", "dataset_label", "actor_label"]
    list_filter = ["action", "lab"]
    search_fields = ["action", "dataset__title", "dataset_ref", "actor_name"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "prefix", "created_at", "last_used_at", "expires_at",
                    "revoked_at"]  # fmt: skip
    readonly_fields = ["prefix", "key_hash"]


@admin.register(SubmissionScan)
class SubmissionScanAdmin(admin.ModelAdmin):
    list_display = ["submission", "state", "finished_at"]
    list_filter = ["state"]
    readonly_fields = ["findings"]


@admin.register(LabPattern)
class LabPatternAdmin(admin.ModelAdmin):
    list_display = ["name", "lab", "pattern"]
    list_filter = ["lab"]


@admin.register(DatasetSchedule)
class DatasetScheduleAdmin(admin.ModelAdmin):
    list_display = ["dataset", "policy", "last_checked_at"]
    list_filter = ["policy"]


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    # The secret is never shown or edited here.
    list_display = ["name", "lab", "url", "is_active"]
    exclude = ["secret_encrypted"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["webhook", "action", "state", "attempt", "status_code", "created_at"]
    list_filter = ["state", "action"]


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "email_on_submission", "email_on_review", "email_on_comment"]
    exclude = ["feed_token"]


@admin.register(DatasetFile)
class DatasetFileAdmin(admin.ModelAdmin):
    list_display = ["path", "dataset", "kind", "size"]
    search_fields = ["path", "dataset__slug"]


@admin.register(Comment)
class CommentAdmin(admin.ModelAdmin):
    list_display = ["submission", "author", "created_at"]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    """Read-only: invitations are made and used from the lab's page (the token is only
    ever in the e-mail)."""

    list_display = ["email", "lab", "role", "created_at", "expires_at", "accepted_at"]
    list_filter = ["lab", "role"]
    readonly_fields = [f.name for f in Invitation._meta.fields]

    def has_add_permission(self, request):
        return False
