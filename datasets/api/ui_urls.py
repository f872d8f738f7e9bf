from django.urls import path

from . import ui_views

app_name = "tokens"
urlpatterns = [
    path("", ui_views.ApiTokenListView.as_view(), name="list"),
    path("new/", ui_views.ApiTokenCreateView.as_view(), name="create"),
    path("<int:pk>/revoke/", ui_views.ApiTokenRevokeView.as_view(), name="revoke"),
]
