"""Clients acting as someone: a logged-in web session, or the API with a fresh token."""

from django.test import Client
from rest_framework.test import APIClient

from datasets.api.tokens import token_create


def web(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def api(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_create(user, 'security')[1]}")
    return client
