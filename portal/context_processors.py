from django.conf import settings


def wharf(request):
    user = getattr(request, "user", None)

    def is_engineer_anywhere() -> bool:
        # Called by templates only when they ask (the navigation), once per page.
        from datasets.selectors import labs_where_engineer

        if user is None or not user.is_authenticated:
            return False
        return user.is_superuser or labs_where_engineer(user).exists()

    return {"WHARF_DEMO": settings.WHARF_DEMO, "is_engineer_anywhere": is_engineer_anywhere}
