from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from . import health


def _answer(report_and_ok) -> JsonResponse:
    report, ok = report_and_ok
    return JsonResponse(report, status=200 if ok else 503)


@never_cache
@require_GET
def liveness(request):
    """The web container's health check: can this process serve (database, broker)?"""
    return _answer(health.liveness_report())


@never_cache
@require_GET
def readiness(request):
    """Monitoring and the dashboard: is work getting done (a worker on every queue)?"""
    return _answer(health.readiness_report())
