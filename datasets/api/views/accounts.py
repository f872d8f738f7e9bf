from django.contrib.auth import authenticate
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, status
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle

from datasets.api.serializers import LabSerializer, TokenObtainSerializer, TokenSerializer
from datasets.api.tokens import expiry_after, token_create
from datasets.models import Role
from datasets.selectors import labs_of, memberships_of

from .base import ScopedAPIView


class TokenObtainView(ScopedAPIView):
    """Trades a username and password for a new API token (rate-limited)."""

    # A stale token in the header must not stop anyone from getting a new one.
    authentication_classes = []
    permission_classes = [permissions.AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth_token"
    serializer_class = TokenObtainSerializer

    @extend_schema(
        auth=[],
        responses={
            200: TokenSerializer,
            401: OpenApiResponse(description="Wrong username or password."),
        },
    )
    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user = authenticate(request._request, username=data["username"], password=data["password"])
        if user is None or not user.is_active:
            return Response(
                {"detail": "Wrong username or password.", "code": "authentication_failed"},
                status=status.HTTP_401_UNAUTHORIZED,
                headers={"WWW-Authenticate": "Token"},
            )
        name = data.get("name") or f"API, {timezone.now():%Y-%m-%d %H:%M} UTC"
        expires_at = expiry_after(data.get("expires_in_days"))
        token, raw = token_create(user, name, expires_at=expires_at)
        body = TokenSerializer(
            {"token": raw, "name": token.name, "prefix": token.prefix, "expires_at": expires_at}
        ).data
        return Response(body)


class LabListView(ScopedAPIView):
    """Your labs, with your role in each."""

    serializer_class = LabSerializer
    pagination_class = None

    @extend_schema(responses=LabSerializer(many=True))
    def get(self, request):
        user = request.user
        labs = labs_of(user).order_by("name")
        if user.is_superuser:
            roles = {lab.pk: Role.ENGINEER.value for lab in labs}
        else:
            roles = {m.lab_id: m.role for m in memberships_of(user)}
        serializer = LabSerializer(labs, many=True, context={"roles": roles})
        return Response(serializer.data)
