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

from .models import Dataset, Event, JobState, Lab, Profile, PublishJob
from .selectors import datasets_for, labs_of
from .versions import job_version_label

FEED_ITEMS = 50
# The watch's findings (datasets.services.lifecycle) as a feed entry names them.
DRIFT_TITLES = {
    "kaggle.drift.edited": "changed on Kaggle outside Wharf",
    "kaggle.drift.deleted": "deleted on Kaggle outside Wharf",
    "kaggle.drift.made_public": "made public on Kaggle outside Wharf",
}


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

    def item_title(self, item):
        if isinstance(item, Event):
            return f"{item.dataset.title}: {DRIFT_TITLES.get(item.action, item.action)}"
        outcome = "published with differences" if item.differences else "published"
        return f"{item.dataset.title}: {job_version_label(item)} {outcome}"

    def item_description(self, item):
        if isinstance(item, Event):
            lines = "\n".join(f"- {line}" for line in item.data.get("differences", []))
            return f"Wharf read {item.dataset.ref} back from Kaggle:\n{lines}"
        job = item
        files = ", ".join(entry["path"] for entry in job.manifest[:20])
        notes = job.submission.version_notes or "First version."
        text = f"{notes}\n\nFiles: {files}\nKaggle: {job.kaggle_url}"
        if job.differences:
            text += "\n\nKaggle does not hold exactly what was approved:\n" + "\n".join(
                f"- {line}" for line in job.differences
            )
        return text

    def item_link(self, item):
        if isinstance(item, Event):
            return reverse("datasets:dataset_detail", args=[item.dataset_id])
        return reverse("datasets:job_detail", args=[item.pk])

    def item_pubdate(self, item):
        return item.at if isinstance(item, Event) else item.finished_at

    def item_updateddate(self, item):
        return self.item_pubdate(item)

    def item_author_name(self, item):
        if isinstance(item, Event):
            return "Wharf's watch"
        approver = item.submission.reviewed_by
        return f"approved by {approver}" if approver else "approved by policy"

    def item_guid(self, item):
        if isinstance(item, Event):
            return f"wharf-event-{item.pk}"
        return f"wharf-job-{item.pk}"


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

    def items(self, lab):
        """Published versions and what the watch saw change on Kaggle outside Wharf."""
        drift = (
            # An entry links to its dataset: none for one deleted since (its events stay).
            Event.objects.filter(lab=lab, action__in=DRIFT_TITLES, dataset__isnull=False)
            .select_related("dataset")
            .order_by("-at", "-id")[:FEED_ITEMS]
        )
        merged = [*super().items(lab), *drift]
        merged.sort(key=self.item_pubdate, reverse=True)
        return merged[:FEED_ITEMS]

    def title(self, lab: Lab):
        return f"{lab.name}: published versions"

    def link(self, lab):
        return reverse("datasets:history") + f"?lab={lab.pk}"

    def subtitle(self, lab):
        return f"Every version {lab.name} published through Wharf."
