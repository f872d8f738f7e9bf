"""Helpers every API serializer shares, and the small ones for labs and tokens."""

from django.conf import settings
from django.urls import NoReverseMatch, reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from datasets.models import Lab, Role

# Ids beyond a 64-bit integer are refused as input instead of reaching the database.
MAX_ID = 2**63 - 1


def portal_url(request, name: str, *args, anchor: str = "") -> str | None:
    """The absolute address of a portal page, or None while the page does not exist."""
    try:
        path = reverse(name, args=args) + anchor
    except NoReverseMatch:
        return None
    if request is not None:
        return request.build_absolute_uri(path)
    return settings.WHARF_BASE_URL.rstrip("/") + path


def username(user) -> str | None:
    return user.get_username() if user else None


def id_field(**kwargs) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=MAX_ID, **kwargs)


class WebUrlMixin(serializers.Serializer):
    web_url = serializers.SerializerMethodField()

    def _url(self, name, *args, anchor=""):
        return portal_url(self.context.get("request"), name, *args, anchor=anchor)


# --- Labs --------------------------------------------------------------------------


class LabSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()

    class Meta:
        model = Lab
        fields = ["id", "name", "slug", "role"]

    @extend_schema_field(serializers.ChoiceField(choices=Role.choices))
    def get_role(self, lab) -> str | None:
        return self.context["roles"].get(lab.pk)


# --- API tokens ------------------------------------------------------------------


class TokenObtainSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False, write_only=True)
    name = serializers.CharField(
        required=False, max_length=80, help_text="What the token is for (listed in the UI)."
    )
    expires_in_days = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=3650,
        help_text="Days until the token stops working; leave out for a token without expiry.",
    )


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Shown once; send it as `Authorization: Token …`.")
    name = serializers.CharField()
    prefix = serializers.CharField()
    expires_at = serializers.DateTimeField(allow_null=True, help_text="null: never expires.")
