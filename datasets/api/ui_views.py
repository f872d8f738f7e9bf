"""The account page where people list, make and revoke their API tokens."""

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import add_never_cache_headers
from django.views import View
from django.views.generic import FormView, ListView

from datasets.services.errors import ServiceError

from .forms import ApiTokenForm
from .tokens import expiry_after, token_create, token_revoke


class OwnTokensMixin(LoginRequiredMixin):
    """Everything here is about the logged-in user's own tokens, and no one else's."""

    def get_queryset(self):
        return self.request.user.api_tokens.all()


class ApiTokenListView(OwnTokensMixin, ListView):
    template_name = "datasets/apitoken_list.html"
    context_object_name = "tokens"


class ApiTokenCreateView(OwnTokensMixin, FormView):
    template_name = "datasets/apitoken_form.html"
    form_class = ApiTokenForm

    def form_valid(self, form):
        try:
            token, raw = token_create(
                self.request.user,
                form.cleaned_data["name"],
                expires_at=expiry_after(form.cleaned_data["expires_in_days"]),
            )
        except ServiceError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            return self.form_invalid(form)
        # Rendered, not redirected: the token is in this one answer and stored nowhere
        # (a message would keep it in a cookie or the session).
        response = render(
            self.request, "datasets/apitoken_created.html", {"token": token, "raw": raw}
        )
        add_never_cache_headers(response)
        return response


class ApiTokenRevokeView(OwnTokensMixin, View):
    http_method_names = ["post"]

    def post(self, request, pk):
        token = get_object_or_404(self.get_queryset(), pk=pk)
        if token.revoked_at:
            messages.info(request, f"The token “{token.name}” was already revoked.")
        else:
            token_revoke(token, request.user)
            messages.success(
                request, f"The token “{token.name}” is revoked; it no longer opens the API."
            )
        return redirect("tokens:list")
