"""The user's own settings: which emails Wharf sends them, and their feed links."""

from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.generic import UpdateView

from datasets.feeds import feed_token_of, feed_token_reset
from datasets.forms import ProfileForm
from datasets.models import Profile
from datasets.selectors import memberships_of

from .mixins import MemberRequiredMixin


class ProfileView(MemberRequiredMixin, UpdateView):
    template_name = "datasets/profile_form.html"
    form_class = ProfileForm

    def get_object(self, queryset=None):
        # Created on first visit: users made before profiles existed have none.
        profile, _ = Profile.objects.get_or_create(user=self.request.user)
        return profile

    def get_context_data(self, **kwargs):
        memberships = list(memberships_of(self.request.user))
        token = feed_token_of(self.request.user)
        kwargs["memberships"] = memberships
        kwargs["lab_feeds"] = [
            (
                m.lab,
                self.request.build_absolute_uri(
                    reverse("datasets:feed_lab", args=[token, m.lab.slug])
                ),
            )
            for m in memberships
        ]
        return super().get_context_data(**kwargs)

    def form_valid(self, form):
        form.save()
        messages.success(self.request, "Saved your email preferences.")
        return redirect("datasets:profile")


class FeedTokenResetView(MemberRequiredMixin, View):
    """POST: a new secret for the user's feed links (the first one, or a replacement
    for links that leaked); the old links stop working at once."""

    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        had_one = Profile.objects.filter(user=request.user).exclude(feed_token="").exists()
        feed_token_reset(request.user)
        if had_one:
            messages.success(
                request, "Made new feed links. The old ones no longer work: update your reader."
            )
        else:
            messages.success(request, "Your feed links are ready.")
        target = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            target = reverse("datasets:profile") + "#feeds"
        return redirect(target)
