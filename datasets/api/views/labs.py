"""Lab administration through the API: /api/v1/labs/{id}/members/, .../storage-roots/,
.../kaggle-accounts/. Members of the lab read; its data engineers (and superusers)
change. Every change goes through the same services as the portal's pages."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from datasets.api.serializers.labs import (
    InvitationSerializer,
    KaggleAccountCreateSerializer,
    KaggleAccountSerializer,
    MemberAddSerializer,
    MemberRoleSerializer,
    MemberSerializer,
    StorageRootCreateSerializer,
    StorageRootSerializer,
)
from datasets.selectors import is_engineer, labs_of
from datasets.services.accounts import (
    kaggle_account_create,
    kaggle_account_delete,
    storage_root_create,
    storage_root_delete,
)
from datasets.services.labs import (
    invitation_create,
    member_add_by_username,
    member_remove,
    member_set_role,
)

from .base import ScopedAPIView


class LabChildView(ScopedAPIView):
    # The lab comes from the user's labs (another lab's id is a 404); writes need an
    # engineer of it, checked here for an early 403 and again by the service.
    pagination_class = None

    def get_lab(self):
        return get_object_or_404(labs_of(self.request.user), pk=self.kwargs["pk"])

    def require_engineer(self, lab):
        if not is_engineer(self.request.user, lab):
            raise PermissionDenied(f"Only data engineers of {lab.name} may do this.")

    def validated(self, serializer_class) -> dict:
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


class MemberListView(LabChildView):
    """The lab's members (GET); add someone with an account, or invite an e-mail (POST)."""

    serializer_class = MemberSerializer

    @extend_schema(responses=MemberSerializer(many=True))
    def get(self, request, pk):
        lab = self.get_lab()
        members = lab.memberships.select_related("user").order_by("user__username")
        return Response(MemberSerializer(members, many=True).data)

    @extend_schema(
        request=MemberAddSerializer,
        responses={
            201: MemberSerializer,
            202: OpenApiResponse(InvitationSerializer, description="An invitation was sent."),
        },
    )
    def post(self, request, pk):
        lab = self.get_lab()
        self.require_engineer(lab)
        data = self.validated(MemberAddSerializer)
        if data.get("email"):
            invitation, _token = invitation_create(
                lab, actor=request.user, email=data["email"], role=data["role"]
            )
            # The link goes by e-mail only: an API client is not the invited person.
            return Response(InvitationSerializer(invitation).data, status=status.HTTP_202_ACCEPTED)
        membership = member_add_by_username(
            lab, actor=request.user, username=data["username"], role=data["role"]
        )
        return Response(MemberSerializer(membership).data, status=status.HTTP_201_CREATED)


class MemberDetailView(LabChildView):
    """One member: change the role (PATCH), or remove them from the lab (DELETE)."""

    serializer_class = MemberSerializer

    def get_membership(self):
        lab = self.get_lab()
        return get_object_or_404(
            lab.memberships.select_related("user", "lab"), pk=self.kwargs["member_pk"]
        )

    @extend_schema(responses=MemberSerializer)
    def get(self, request, pk, member_pk):
        return Response(MemberSerializer(self.get_membership()).data)

    @extend_schema(request=MemberRoleSerializer, responses=MemberSerializer)
    def patch(self, request, pk, member_pk):
        membership = self.get_membership()
        self.require_engineer(membership.lab)
        data = self.validated(MemberRoleSerializer)
        membership = member_set_role(membership, actor=request.user, role=data["role"])
        return Response(MemberSerializer(membership).data)

    @extend_schema(responses={204: None})
    def delete(self, request, pk, member_pk):
        membership = self.get_membership()
        self.require_engineer(membership.lab)
        member_remove(membership, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class StorageRootListView(LabChildView):
    serializer_class = StorageRootSerializer

    @extend_schema(responses=StorageRootSerializer(many=True))
    def get(self, request, pk):
        roots = self.get_lab().storage_roots.select_related("created_by")
        return Response(StorageRootSerializer(roots, many=True).data)

    @extend_schema(request=StorageRootCreateSerializer, responses={201: StorageRootSerializer})
    def post(self, request, pk):
        lab = self.get_lab()
        self.require_engineer(lab)
        root = storage_root_create(
            lab, actor=request.user, **self.validated(StorageRootCreateSerializer)
        )
        return Response(StorageRootSerializer(root).data, status=status.HTTP_201_CREATED)


class StorageRootDetailView(LabChildView):
    serializer_class = StorageRootSerializer

    def get_root(self):
        return get_object_or_404(
            self.get_lab().storage_roots.select_related("lab"), pk=self.kwargs["root_pk"]
        )

    @extend_schema(responses=StorageRootSerializer)
    def get(self, request, pk, root_pk):
        return Response(StorageRootSerializer(self.get_root()).data)

    @extend_schema(responses={204: None, 409: OpenApiResponse(description="Files use it.")})
    def delete(self, request, pk, root_pk):
        root = self.get_root()
        self.require_engineer(root.lab)
        storage_root_delete(root, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class KaggleAccountListView(LabChildView):
    serializer_class = KaggleAccountSerializer

    @extend_schema(responses=KaggleAccountSerializer(many=True))
    def get(self, request, pk):
        return Response(KaggleAccountSerializer(self.get_lab().kaggle_accounts, many=True).data)

    @extend_schema(request=KaggleAccountCreateSerializer, responses={201: KaggleAccountSerializer})
    def post(self, request, pk):
        lab = self.get_lab()
        self.require_engineer(lab)
        data = self.validated(KaggleAccountCreateSerializer)
        account = kaggle_account_create(lab, actor=request.user, **data)
        return Response(KaggleAccountSerializer(account).data, status=status.HTTP_201_CREATED)


class KaggleAccountDetailView(LabChildView):
    serializer_class = KaggleAccountSerializer

    def get_account(self):
        return get_object_or_404(
            self.get_lab().kaggle_accounts.select_related("lab"), pk=self.kwargs["account_pk"]
        )

    @extend_schema(responses=KaggleAccountSerializer)
    def get(self, request, pk, account_pk):
        return Response(KaggleAccountSerializer(self.get_account()).data)

    @extend_schema(responses={204: None, 409: OpenApiResponse(description="Datasets use it.")})
    def delete(self, request, pk, account_pk):
        account = self.get_account()
        self.require_engineer(account.lab)
        kaggle_account_delete(account, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
