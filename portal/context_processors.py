from django.conf import settings


def wharf(request):
    user = getattr(request, "user", None)

    def is_engineer_anywhere() -> bool:
        # Called by templates only when they ask (the navigation), once per page.
        from datasets.selectors import access_of

        if user is None or not user.is_authenticated:
            return False
        return user.is_superuser or access_of(user).is_engineer_anywhere

    return {"WHARF_DEMO": settings.WHARF_DEMO, "is_engineer_anywhere": is_engineer_anywhere}
