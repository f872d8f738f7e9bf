from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from datasets.views.dashboard import HomeView

from . import views

urlpatterns = [
    path("", HomeView.as_view(), name="home"),
    # Readiness at the old address too: monitors already watch /healthz.
    path("healthz", views.readiness, name="healthz"),
    path("healthz/live", views.liveness, name="healthz_live"),
    path("healthz/ready", views.readiness, name="healthz_ready"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/", include("datasets.api.urls")),
    path("account/tokens/", include("datasets.api.ui_urls")),
    path("", include("datasets.urls")),
]
