"""`Authorization: Token <token>` over Wharf's own ApiToken (hashed, revocable)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from .tokens import token_find_active, token_touch


class ApiTokenAuthentication(authentication.TokenAuthentication):
    keyword = "Token"

    def authenticate_credentials(self, key):
        token = token_find_active(key)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        token_touch(token)
        return token.user, token


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "datasets.api.auth.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <token>`: get one from /api/v1/auth/token/ or your "
            "account's token page.",
        }
