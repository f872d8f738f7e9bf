"""Lab administration through the API: members, storage roots, Kaggle accounts.
Input serializers validate the shape; the services in datasets/services/ decide."""

from rest_framework import serializers

from datasets.models import CredentialKind, Invitation, KaggleAccount, Membership, Role, StorageRoot


class MemberSerializer(serializers.ModelSerializer):
    user_id = serializers.IntegerField(source="user.id", read_only=True)
    username = serializers.CharField(source="user.username", read_only=True)
    name = serializers.CharField(source="user.get_full_name", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "user_id", "username", "name", "role", "joined_at"]


class MemberAddSerializer(serializers.Serializer):
    """Either `username` (someone with an account joins now) or `email` (an invitation
    with a one-time link is sent)."""

    username = serializers.CharField(max_length=150, required=False)
    email = serializers.EmailField(required=False)
    role = serializers.ChoiceField(choices=Role.choices, default=Role.RESEARCHER)

    def validate(self, data):
        if bool(data.get("username")) == bool(data.get("email")):
            raise serializers.ValidationError(
                "Give either the username of someone with an account, or an e-mail address "
                "to invite."
            )
        return data


class MemberRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class InvitationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Invitation
        fields = ["id", "email", "role", "created_at", "expires_at"]


class StorageRootSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", default=None, read_only=True)

    class Meta:
        model = StorageRoot
        fields = ["id", "name", "path", "created_by", "created_at"]


class StorageRootCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=80)
    path = serializers.CharField(max_length=1000)


class KaggleAccountSerializer(serializers.ModelSerializer):
    """The secret is never sent back: only its last four characters."""

    class Meta:
        model = KaggleAccount
        fields = [
            "id",
            "owner_slug",
            "username",
            "credential_kind",
            "masked_secret",
            "created_at",
            "last_tested_at",
            "last_test_ok",
            "last_test_message",
        ]


class KaggleAccountCreateSerializer(serializers.Serializer):
    owner_slug = serializers.CharField(max_length=50)
    username = serializers.CharField(max_length=50)
    credential_kind = serializers.ChoiceField(
        choices=CredentialKind.choices, default=CredentialKind.KEY
    )
    secret = serializers.CharField(max_length=500, write_only=True, trim_whitespace=False)
