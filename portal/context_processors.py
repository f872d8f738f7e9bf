from django.conf import settings


def wharf(request):
    return {"WHARF_DEMO": settings.WHARF_DEMO}
