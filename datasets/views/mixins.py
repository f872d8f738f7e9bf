"""What every view of the app shares: login, scoping to the user's labs, role checks,
and the shape of an action (a POST that calls one service and redirects with a message)."""

import hashlib

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views import View
from django.views.generic.detail import SingleObjectMixin

from datasets.models import Dataset
from datasets.selectors import access_of, datasets_for, is_engineer, scope_to_user
from datasets.services.errors import Forbidden, ServiceError

# Services name the field a refusal is about; some forms call it differently.
FIELD_ALIASES = {"storage_path": "relpath", "file": "files"}


def error_message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return getattr(exc, "message", str(exc))


def add_service_error(form, exc: Exception) -> None:
    """Shows a service's refusal on the form field it is about (or above the form)."""
    field = getattr(exc, "field", None)
    field = FIELD_ALIASES.get(field, field)
    if field not in form.fields or form.fields[field].disabled:
        field = None
    form.add_error(field, error_message(exc))


def filter_form_key(request, choices) -> str:
    """What a list page's filter form shows depends only on the query (minus the page)
    and the choices it offers: the key its rendered HTML is kept under (crispy renders
    each field through templates, a good part of a list page's time)."""
    query = request.GET.copy()
    query.pop("page", None)
    return hashlib.sha256(repr((sorted(query.lists()), choices)).encode()).hexdigest()


class MemberRequiredMixin(LoginRequiredMixin):
    """Logged in. A refused role answers with a 403 page that says why.

    Subclasses put their own gate in `check_access`: raise PermissionDenied (or Http404),
    or return a response (e.g. a redirect with a message) to stop there."""

    def check_access(self):
        return None

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        # One query for the user's labs and roles, reused by the scoping, the role checks
        # and the navigation of this request.
        access_of(request.user)
        try:
            response = self.check_access()
            if response is not None:
                return response
            return super().dispatch(request, *args, **kwargs)
        except PermissionDenied as exc:
            return render(
                request,
                "datasets/forbidden.html",
                {"reason": str(exc) or "Your role does not allow this."},
                status=403,
            )


class LabScopedMixin(MemberRequiredMixin):
    """Objects come only from the user's labs: another lab's id is a 404, never a peek.

    `lab_path` is the lookup from the view's model to its Lab."""

    lab_path = "lab"

    model = None

    def get_queryset(self):
        return scope_to_user(self.model._default_manager.all(), self.request.user, self.lab_path)

    def get_object(self, queryset=None):
        queryset = self.get_queryset() if queryset is None else queryset
        return get_object_or_404(queryset, pk=self.kwargs["pk"])

    def lab_of(self, obj):
        lab = obj
        for part in self.lab_path.split("__"):
            lab = getattr(lab, part)
        return lab

    def require_engineer(self, lab, what="do this") -> None:
        if not is_engineer(self.request.user, lab):
            raise PermissionDenied(f"Only data engineers of {lab.name} may {what}.")


class DatasetChildMixin(MemberRequiredMixin):
    """Views under /datasets/<pk>/: the dataset is looked up in the user's scope."""

    dataset_kwarg = "pk"

    def get_dataset(self) -> Dataset:
        if not hasattr(self, "_dataset"):
            pk = self.kwargs[self.dataset_kwarg]
            try:
                self._dataset = datasets_for(self.request.user).get(pk=pk)
            except Dataset.DoesNotExist:
                raise Http404("No such dataset in your labs.") from None
        return self._dataset

    def get_context_data(self, **kwargs):
        kwargs.setdefault("dataset", self.get_dataset())
        return super().get_context_data(**kwargs)


class ServiceActionView(LabScopedMixin, SingleObjectMixin, View):
    """POST only: look the object up in scope, check the role, call one service, then
    redirect with its outcome as a message. Refusals never reach a 500."""

    http_method_names = ["post"]
    engineer_only = False
    engineer_what = "do this"

    def perform(self, obj):
        raise NotImplementedError

    def success_message(self, obj, result) -> str:
        return "Done."

    def get_success_url(self):
        raise NotImplementedError

    def get_failure_url(self):
        return self.get_success_url()

    def post(self, request, *args, **kwargs):
        self.object = self.get_object()
        if self.engineer_only:
            self.require_engineer(self.lab_of(self.object), self.engineer_what)
        try:
            result = self.perform(self.object)
        except Forbidden as exc:
            # The service's own role rule (e.g. "only the submitter"): a 403 that says why.
            raise PermissionDenied(exc.message) from None
        except (ServiceError, ValidationError) as exc:
            messages.error(request, error_message(exc))
            return redirect(self.get_failure_url())
        messages.success(request, self.success_message(self.object, result))
        return redirect(self.get_success_url())
