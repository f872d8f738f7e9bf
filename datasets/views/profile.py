"""The user's own settings: which emails Wharf sends them."""

from django.contrib import messages
from django.shortcuts import redirect
from django.views.generic import UpdateView

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
        kwargs["memberships"] = memberships_of(self.request.user)
        return super().get_context_data(**kwargs)

    def form_valid(self, form):
        form.save()
        messages.success(self.request, "Saved your email preferences.")
        return redirect("datasets:profile")
