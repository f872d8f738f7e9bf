"""What someone locked out by django-axes sees: a page that says why and for how long on
the web, a JSON 429 with Retry-After on the API (settings.AXES_LOCKOUT_CALLABLE)."""

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render


def _minutes() -> int:
    return max(1, round(settings.AXES_COOLOFF_TIME.total_seconds() / 60))


def lockout_response(request, original_response=None, credentials=None):
    minutes = _minutes()
    message = (
        f"Too many failed login attempts. This account is locked on this computer for "
        f"{minutes} minutes; try again later, or ask an administrator to unlock it."
    )
    headers = {"Retry-After": str(int(settings.AXES_COOLOFF_TIME.total_seconds()))}
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": message, "code": "locked_out"}, status=429, headers=headers)
    response = render(
        request,
        "registration/locked_out.html",
        {"minutes": minutes, "failure_limit": settings.AXES_FAILURE_LIMIT},
        status=429,
    )
    response["Retry-After"] = headers["Retry-After"]
    return response
