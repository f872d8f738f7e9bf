"""`Authorization: Token <token>` over Wharf's own ApiToken (hashed, revocable)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from .tokens import token_find, token_touch


class ApiTokenAuthentication(authentication.TokenAuthentication):
    keyword = "Token"

    def authenticate_credentials(self, key):
        token = token_find(key)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        if token.is_expired:
            # Only someone holding the token sees this: saying why saves a support call.
            raise exceptions.AuthenticationFailed(
                f"This token ('{token.name}', {token.prefix}…) expired on "
                f"{token.expires_at:%Y-%m-%d %H:%M} UTC. Make a new one on your account's "
                "token page or at /api/v1/auth/token/.",
                code="token_expired",
            )
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
