"""Datasets published before Dataset.kaggle_version existed take Kaggle's number from
their newest published job, so "v3 · Kaggle v4" shows for them too."""

from django.db import migrations
from django.db.models import OuterRef, Subquery


def backfill(apps, schema_editor):
    Dataset = apps.get_model("datasets", "Dataset")
    PublishJob = apps.get_model("datasets", "PublishJob")
    newest = PublishJob.objects.filter(dataset=OuterRef("pk"), state="published").order_by(
        "-finished_at", "-id"
    )
    Dataset.objects.filter(latest_version__isnull=False, kaggle_version__isnull=True).update(
        kaggle_version=Subquery(newest.values("kaggle_version")[:1])
    )


class Migration(migrations.Migration):
    dependencies = [
        ("datasets", "0007_creators"),
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
