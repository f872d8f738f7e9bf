"""Atom feeds of published versions, per dataset and per lab (Django syndication).

Feed readers cannot log in, so a feed URL carries the user's secret feed token
(Profile.feed_token, reset from the profile page); the feed shows only what that user
may see."""

import secrets

from django.contrib.syndication.views import Feed
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed

from .models import Dataset, JobState, Lab, Profile, PublishJob
from .selectors import datasets_for, labs_of

FEED_ITEMS = 50


def feed_token_of(user) -> str:
    """The user's feed token, created on first use."""
    profile, _ = Profile.objects.get_or_create(user=user)
    if not profile.feed_token:
        profile.feed_token = secrets.token_urlsafe(24)
        profile.save(update_fields=["feed_token"])
    return profile.feed_token


def feed_token_reset(user) -> str:
    profile, _ = Profile.objects.get_or_create(user=user)
    profile.feed_token = secrets.token_urlsafe(24)
    profile.save(update_fields=["feed_token"])
    return profile.feed_token


def _user_for(token: str):
    profile = (
        Profile.objects.select_related("user").filter(feed_token=token).exclude(feed_token="")
    ).first()
    if profile is None or not profile.user.is_active:
        raise Http404("Unknown feed; the link may have been reset.")
    return profile.user


class PublishedVersionsFeed(Feed):
    feed_type = Atom1Feed

    def items(self, obj):
        return (
            PublishJob.objects.filter(state=JobState.PUBLISHED, **self.filter_for(obj))
            .select_related("dataset", "submission__reviewed_by", "submission__submitted_by")
            .order_by("-finished_at", "-id")[:FEED_ITEMS]
        )

    def item_title(self, job):
        return f"{job.dataset.title}: version {job.submission.number} published"

    def item_description(self, job):
        files = ", ".join(entry["path"] for entry in job.manifest[:20])
        notes = job.submission.version_notes or "First version."
        return f"{notes}\n\nFiles: {files}\nKaggle: {job.kaggle_url}"

    def item_link(self, job):
        return reverse("datasets:job_detail", args=[job.pk])

    def item_pubdate(self, job):
        return job.finished_at

    def item_updateddate(self, job):
        return job.finished_at

    def item_author_name(self, job):
        approver = job.submission.reviewed_by
        return f"approved by {approver}" if approver else "approved by policy"

    def item_guid(self, job):
        return f"wharf-job-{job.pk}"


class DatasetFeed(PublishedVersionsFeed):
    def get_object(self, request, token, pk):
        return get_object_or_404(datasets_for(_user_for(token)), pk=pk)

    def filter_for(self, dataset):
        return {"dataset": dataset}

    def title(self, dataset: Dataset):
        return f"{dataset.title}: published versions"

    def link(self, dataset):
        return reverse("datasets:dataset_detail", args=[dataset.pk])

    def subtitle(self, dataset):
        return f"New versions of {dataset.ref} published through Wharf."


class LabFeed(PublishedVersionsFeed):
    def get_object(self, request, token, slug):
        return get_object_or_404(labs_of(_user_for(token)), slug=slug)

    def filter_for(self, lab):
        return {"dataset__lab": lab}

    def title(self, lab: Lab):
        return f"{lab.name}: published versions"

    def link(self, lab):
        return reverse("datasets:history") + f"?lab={lab.pk}"

    def subtitle(self, lab):
        return f"Every version {lab.name} published through Wharf."
