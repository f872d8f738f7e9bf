"""Refusals from the services become the API's answers: a ServiceError is 400,
Forbidden 403, Conflict 409, and a Django ValidationError 400. The body is
`{field: [messages]}` when the refusal names a field, `{detail, code}` otherwise."""

from django.core.exceptions import (
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from datasets.services.errors import Conflict, Forbidden, ServiceError

# Services name the model's fields; the API names some of them differently.
FIELD_NAMES = {"kaggle_account": "owner_slug", "storage_root": "storage_path"}


def _service_error(exc: ServiceError) -> Response:
    if isinstance(exc, Forbidden):
        code = status.HTTP_403_FORBIDDEN
    elif isinstance(exc, Conflict):
        code = status.HTTP_409_CONFLICT
    else:
        code = status.HTTP_400_BAD_REQUEST
    if exc.field and code == status.HTTP_400_BAD_REQUEST:
        return Response({FIELD_NAMES.get(exc.field, exc.field): [exc.message]}, status=code)
    return Response({"detail": exc.message, "code": exc.code}, status=code)


def _django_validation_error(exc: DjangoValidationError) -> Response:
    if hasattr(exc, "error_dict"):
        body = {FIELD_NAMES.get(k, k): v for k, v in exc.message_dict.items()}
        if "__all__" in body:
            body["non_field_errors"] = body.pop("__all__")
        return Response(body, status=status.HTTP_400_BAD_REQUEST)
    return Response(
        {"detail": " ".join(exc.messages), "code": getattr(exc, "code", None) or "invalid"},
        status=status.HTTP_400_BAD_REQUEST,
    )


def api_exception_handler(exc, context):
    if isinstance(exc, ServiceError):
        return _service_error(exc)
    if isinstance(exc, DjangoValidationError):
        return _django_validation_error(exc)
    if isinstance(exc, RequestDataTooBig):
        return Response(
            {"detail": "The request is too large.", "code": "too_large"},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, TooManyFilesSent | TooManyFieldsSent):
        return Response(
            {"detail": "The request has too many files or fields.", "code": "too_many"},
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, SuspiciousOperation):
        return Response(
            {"detail": "The request could not be read.", "code": "bad_request"},
            status=status.HTTP_400_BAD_REQUEST,
        )
    return exception_handler(exc, context)
