"""Lab administration: members and invitations, Kaggle accounts, storage roots, scan
patterns. Every member may look; only the lab's data engineers (and superusers) may
change anything; superusers create labs."""

from django.contrib import messages
from django.contrib.auth import login
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Max
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views import View
from django.views.generic import FormView, ListView, TemplateView

from datasets.forms import KaggleAccountForm, KaggleSecretForm, LabPatternForm, StorageRootForm
from datasets.forms_continuous import WebhookForm
from datasets.forms_labs import (
    InvitationForm,
    InvitationSignupForm,
    LabForm,
    MemberAddForm,
    MemberRoleForm,
)
from datasets.models import Invitation, KaggleAccount, Lab, LabPattern, Membership, StorageRoot
from datasets.selectors import is_engineer, labs_of, memberships_of
from datasets.services.accounts import (
    kaggle_account_create,
    kaggle_account_delete,
    kaggle_account_set_secret,
    kaggle_account_test,
    storage_root_create,
    storage_root_delete,
)
from datasets.services.errors import ServiceError
from datasets.services.labs import (
    invitation_accept,
    invitation_accept_new_user,
    invitation_create,
    invitation_find,
    invitation_revoke,
    lab_create,
    member_add_by_username,
    member_remove,
    member_set_role,
)
from datasets.services.scans import lab_pattern_add, lab_pattern_delete

from .mixins import LabScopedMixin, MemberRequiredMixin, ServiceActionView, add_service_error


def form_ids(form_name: str) -> str:
    """The lab page holds several forms with fields of the same name (name, secret,
    role): each form's ids get its own prefix, so every label names its own field."""
    return form_name.removesuffix("_form") + "-%s"


class LabListView(MemberRequiredMixin, ListView):
    template_name = "datasets/lab_list.html"
    context_object_name = "labs"

    def get_queryset(self):
        return labs_of(self.request.user).prefetch_related("kaggle_accounts", "storage_roots")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        roles = {m.lab_id: m for m in memberships_of(self.request.user)}
        context["rows"] = [{"lab": lab, "membership": roles.get(lab.pk)} for lab in context["labs"]]
        return context


class LabMixin(MemberRequiredMixin):
    """Views under /labs/<slug>/: the lab must be one of the user's (else 404)."""

    def get_lab(self) -> Lab:
        if not hasattr(self, "_lab"):
            self._lab = get_object_or_404(labs_of(self.request.user), slug=self.kwargs["slug"])
        return self._lab

    def settings_context(self, **forms) -> dict:
        lab = self.get_lab()
        engineer = is_engineer(self.request.user, lab)
        context = {
            "lab": lab,
            "is_engineer": engineer,
            "accounts": lab.kaggle_accounts.select_related("created_by"),
            "roots": lab.storage_roots.select_related("created_by"),
            "memberships": lab.memberships.select_related("user").order_by("user__username"),
            "events": lab.events.filter(dataset__isnull=True)
            .select_related("actor")
            .order_by("-at", "-id")[:15],
            "scan_patterns": lab.scan_patterns.select_related("created_by"),
        }
        if engineer:
            blank = {
                "account_form": KaggleAccountForm,
                "root_form": StorageRootForm,
                "pattern_form": LabPatternForm,
                "webhook_form": WebhookForm,
                "member_form": MemberAddForm,
                "invitation_form": InvitationForm,
            }
            for name, form_class in blank.items():
                context[name] = forms.get(name) or form_class(auto_id=form_ids(name))
            context["role_choices"] = MemberRoleForm.base_fields["role"].choices
            context["invitations"] = [
                i for i in lab.invitations.select_related("invited_by")[:50] if i.is_open
            ]
            context["webhooks"] = lab.webhooks.annotate(
                last_delivery_at=Max("deliveries__created_at")
            )
        return context


class LabSettingsView(LabMixin, TemplateView):
    template_name = "datasets/lab_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(self.settings_context())
        return context


class LabFormView(LabMixin, FormView):
    """A form on the lab settings page: invalid input re-renders that page, typed
    values kept (secrets excepted: they are never sent back to the browser)."""

    template_name = "datasets/lab_detail.html"
    form_context_name = "form"
    success_message = "Saved."

    def check_access(self):
        lab = self.get_lab()
        if not is_engineer(self.request.user, lab):
            raise PermissionDenied(f"Only data engineers of {lab.name} may change its settings.")

    def get(self, request, *args, **kwargs):
        return redirect("datasets:lab_settings", self.get_lab().slug)

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "auto_id": form_ids(self.form_context_name)}

    def get_context_data(self, **kwargs):
        form = kwargs.pop("form", None)
        context = super().get_context_data(**kwargs)
        context.update(self.settings_context(**{self.form_context_name: form}))
        return context

    def form_valid(self, form):
        try:
            message = self.perform(form.cleaned_data)
        except (ServiceError, ValidationError) as exc:
            add_service_error(form, exc)
            return self.form_invalid(form)
        messages.success(self.request, message)
        return redirect("datasets:lab_settings", self.get_lab().slug)


class AccountAddView(LabFormView):
    form_class = KaggleAccountForm
    form_context_name = "account_form"

    def perform(self, data):
        account = kaggle_account_create(self.get_lab(), actor=self.request.user, **data)
        return (
            f"Added the Kaggle account {account.owner_slug} (key {account.masked_secret}). "
            "Test the connection to check it."
        )


class AccountScopedMixin(LabScopedMixin):
    model = KaggleAccount

    def get_success_url(self):
        return reverse("datasets:lab_settings", args=[self.object.lab.slug])


class AccountSecretView(AccountScopedMixin, FormView):
    """Replaces the credential of an account; its own small page."""

    template_name = "datasets/account_form.html"
    form_class = KaggleSecretForm

    def check_access(self):
        self.object = self.get_object()
        self.require_engineer(self.object.lab, "change its Kaggle accounts")

    def get_context_data(self, **kwargs):
        kwargs.update(account=self.object, lab=self.object.lab)
        return super().get_context_data(**kwargs)

    def form_valid(self, form):
        try:
            kaggle_account_set_secret(self.object, actor=self.request.user, **form.cleaned_data)
        except (ServiceError, ValidationError) as exc:
            add_service_error(form, exc)
            return self.form_invalid(form)
        messages.success(
            self.request,
            f"Replaced the credential of {self.object.owner_slug} "
            f"(now {self.object.masked_secret}). Test the connection to check it.",
        )
        return redirect(self.get_success_url())


class AccountTestView(AccountScopedMixin, ServiceActionView):
    engineer_only = True
    engineer_what = "test its Kaggle accounts"

    def post(self, request, *args, **kwargs):
        self.object = self.get_object()
        self.require_engineer(self.object.lab, self.engineer_what)
        try:
            ok, message = kaggle_account_test(self.object, actor=request.user)
        except ServiceError as exc:
            messages.error(request, exc.message)
        else:
            if ok:
                messages.success(request, f"{self.object.owner_slug}: connection works. {message}")
            else:
                messages.error(request, f"{self.object.owner_slug}: connection failed. {message}")
        return redirect(self.get_success_url())


class AccountDeleteView(AccountScopedMixin, ServiceActionView):
    engineer_only = True
    engineer_what = "remove its Kaggle accounts"

    def perform(self, obj):
        kaggle_account_delete(obj, actor=self.request.user)

    def success_message(self, obj, result):
        return f"Removed the Kaggle account {obj.owner_slug}."


class StorageRootAddView(LabFormView):
    form_class = StorageRootForm
    form_context_name = "root_form"

    def perform(self, data):
        root = storage_root_create(self.get_lab(), actor=self.request.user, **data)
        return f"Registered the storage root {root.name} ({root.path})."


class StorageRootDeleteView(ServiceActionView):
    model = StorageRoot
    engineer_only = True
    engineer_what = "remove its storage roots"

    def perform(self, obj):
        storage_root_delete(obj, actor=self.request.user)

    def success_message(self, obj, result):
        return f"Removed the storage root {obj.name}."

    def get_success_url(self):
        return reverse("datasets:lab_settings", args=[self.object.lab.slug])


class LabPatternAddView(LabFormView):
    """A pattern of the lab's own for the content scan, e.g. a participant-ID format."""

    form_class = LabPatternForm
    form_context_name = "pattern_form"

    def perform(self, data):
        pattern = lab_pattern_add(self.get_lab(), actor=self.request.user, **data)
        return (
            f"Added the scan pattern “{pattern.name}”. It applies to scans from now on; "
            "re-run the scan of a waiting version to apply it there."
        )


class LabPatternDeleteView(ServiceActionView):
    model = LabPattern
    engineer_only = True
    engineer_what = "change its scan patterns"

    def perform(self, obj):
        lab_pattern_delete(obj, actor=self.request.user)

    def success_message(self, obj, result):
        return f"Removed the scan pattern “{obj.name}”."

    def get_success_url(self):
        return reverse("datasets:lab_settings", args=[self.object.lab.slug])


# --- labs and their people ---------------------------------------------------------------


class LabCreateView(MemberRequiredMixin, FormView):
    """Superusers create labs; the lab's engineers then run it from its page."""

    template_name = "datasets/lab_form.html"
    form_class = LabForm

    def check_access(self):
        if not self.request.user.is_superuser:
            raise PermissionDenied("Only administrators (superusers) create labs.")

    def form_valid(self, form):
        try:
            lab = lab_create(actor=self.request.user, **form.cleaned_data)
        except ServiceError as exc:
            add_service_error(form, exc)
            return self.form_invalid(form)
        messages.success(
            self.request, f"Created {lab.name}. Add its first data engineer under Members."
        )
        return redirect("datasets:lab_settings", lab.slug)


class MemberAddView(LabFormView):
    form_class = MemberAddForm
    form_context_name = "member_form"

    def perform(self, data):
        membership = member_add_by_username(self.get_lab(), actor=self.request.user, **data)
        return (
            f"Added {membership.user.get_username()} to {membership.lab.name} as "
            f"{membership.get_role_display().lower()}."
        )


class InvitationCreateView(LabFormView):
    form_class = InvitationForm
    form_context_name = "invitation_form"

    def perform(self, data):
        from datasets.services.labs import invitation_url

        invitation, token = invitation_create(self.get_lab(), actor=self.request.user, **data)
        # Shown once, so the engineer can pass it on if the mail goes astray.
        return (
            f"Invited {invitation.email} as {invitation.get_role_display().lower()}. "
            f"The e-mail carries this one-time link: {invitation_url(token)}"
        )


class MembershipActionView(ServiceActionView):
    model = Membership
    engineer_only = True
    engineer_what = "manage its members"

    def get_success_url(self):
        return reverse("datasets:lab_settings", args=[self.object.lab.slug]) + "#members"


class MemberRoleView(MembershipActionView):
    def perform(self, obj):
        form = MemberRoleForm(self.request.POST)
        if not form.is_valid():
            raise ValidationError("Choose a role: researcher or data engineer.")
        return member_set_role(obj, actor=self.request.user, role=form.cleaned_data["role"])

    def success_message(self, obj, result):
        return f"{obj.user.get_username()} is now {result.get_role_display().lower()}."


class MemberRemoveView(MembershipActionView):
    def perform(self, obj):
        member_remove(obj, actor=self.request.user)

    def success_message(self, obj, result):
        return (
            f"Removed {obj.user.get_username()} from {obj.lab.name}. "
            "What they did stays in the history."
        )


class InvitationRevokeView(ServiceActionView):
    model = Invitation
    engineer_only = True
    engineer_what = "withdraw invitations"

    def perform(self, obj):
        invitation_revoke(obj, actor=self.request.user)

    def success_message(self, obj, result):
        return f"Withdrew the invitation of {obj.email}; its link no longer works."

    def get_success_url(self):
        return reverse("datasets:lab_settings", args=[self.object.lab.slug]) + "#members"


class InvitationAcceptView(View):
    """The one-time link. Logged in: join with this account. Not logged in: make an
    account with the invited address (or log in first and come back)."""

    template_name = "datasets/lab_invitation.html"

    def _render(self, request, invitation=None, form=None, error=None, status=200):
        from django.shortcuts import render

        return render(
            request,
            self.template_name,
            {"invitation": invitation, "form": form, "error": error},
            status=status,
        )

    def get(self, request, token):
        try:
            invitation = invitation_find(token)
        except ServiceError as exc:
            return self._render(request, error=exc.message, status=404)
        form = None if request.user.is_authenticated else InvitationSignupForm()
        return self._render(request, invitation, form)

    def post(self, request, token):
        try:
            invitation = invitation_find(token)
        except ServiceError as exc:
            return self._render(request, error=exc.message, status=404)
        if request.user.is_authenticated:
            try:
                membership = invitation_accept(token, user=request.user)
            except ServiceError as exc:
                return self._render(request, error=exc.message, status=409)
        else:
            form = InvitationSignupForm(request.POST)
            if not form.is_valid():
                return self._render(request, invitation, form, status=400)
            data = form.cleaned_data
            try:
                user, membership = invitation_accept_new_user(
                    token, username=data["username"], password=data["password1"], name=data["name"]
                )
            except ServiceError as exc:
                add_service_error(form, exc)
                return self._render(request, invitation, form, status=400)
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(
            request,
            f"Welcome to {membership.lab.name}: you are a "
            f"{membership.get_role_display().lower()} there.",
        )
        return redirect("home")
