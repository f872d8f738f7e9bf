"""Users (API key and/or access tokens) and organisations with members."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from dataclasses import dataclass, field
from pathlib import Path

from . import DEFAULT_KEY, DEFAULT_NOTEBOOK, DEFAULT_ORGANIZATION, DEFAULT_USERNAME


class AccountsError(ValueError):
    pass


@dataclass
class User:
    username: str
    key: str | None = None
    tokens: list[str] = field(default_factory=list)
    display_name: str = ""
    # Slugs of the user's notebooks: a dataset cannot take one (kaggle-cli #361).
    notebooks: list[str] = field(default_factory=list)


@dataclass
class Organization:
    slug: str
    name: str = ""
    members: list[str] = field(default_factory=list)


class Accounts:
    def __init__(self, users: list[User], organizations: list[Organization]):
        self.users = {u.username: u for u in users}
        self.organizations = {o.slug: o for o in organizations}
        if len(self.users) != len(users) or len(self.organizations) != len(organizations):
            raise AccountsError("duplicate user name or organisation slug")
        clash = set(self.users) & set(self.organizations)
        if clash:
            raise AccountsError(f"names used by both a user and an organisation: {sorted(clash)}")
        for org in organizations:
            unknown = [m for m in org.members if m not in self.users]
            if unknown:
                raise AccountsError(f"organisation {org.slug!r} lists unknown members {unknown}")
        self._tokens = {t: u.username for u in users for t in u.tokens}

    @classmethod
    def default(cls) -> Accounts:
        return cls(
            [
                User(
                    DEFAULT_USERNAME,
                    key=DEFAULT_KEY,
                    display_name="Wharf Demo",
                    notebooks=[DEFAULT_NOTEBOOK],
                )
            ],
            [Organization(DEFAULT_ORGANIZATION, "Demo Lab", [DEFAULT_USERNAME])],
        )

    @classmethod
    def from_dict(cls, data: dict) -> Accounts:
        try:
            users = [
                User(
                    str(u["username"]),
                    key=u.get("key"),
                    tokens=[str(t) for t in u.get("tokens", [])],
                    display_name=u.get("display_name", ""),
                    notebooks=[str(n) for n in u.get("notebooks", [])],
                )
                for u in data.get("users", [])
            ]
            orgs = [
                Organization(
                    str(o["slug"]), o.get("name", ""), [str(m) for m in o.get("members", [])]
                )
                for o in data.get("organizations", [])
            ]
        except (KeyError, TypeError, AttributeError) as exc:
            raise AccountsError(f"malformed accounts data: {exc!r}") from exc
        if not users:
            raise AccountsError("the accounts file defines no users")
        return cls(users, orgs)

    @classmethod
    def from_file(cls, path: str | Path) -> Accounts:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise AccountsError(f"cannot read accounts file {path}: {exc}") from exc
        return cls.from_dict(data)

    def to_dict(self) -> dict:
        return {
            "users": [
                {
                    "username": u.username,
                    "key": u.key,
                    "tokens": u.tokens,
                    "display_name": u.display_name,
                    "notebooks": u.notebooks,
                }
                for u in self.users.values()
            ],
            "organizations": [
                {"slug": o.slug, "name": o.name, "members": o.members}
                for o in self.organizations.values()
            ],
        }

    def authenticate(self, authorization: str | None) -> tuple[bool, str | None]:
        """Returns (credentials_presented, username); a username of None after
        presented credentials means they were wrong."""
        if not authorization:
            return False, None
        scheme, _, value = authorization.strip().partition(" ")
        value = value.strip()
        if scheme.lower() == "bearer":
            return True, self.user_for_token(value)
        if scheme.lower() != "basic":
            return True, None
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return True, None
        username, sep, key = decoded.partition(":")
        user = self.users.get(username)
        if not sep or user is None or user.key is None:
            return True, None
        if not hmac.compare_digest(user.key.encode(), key.encode()):
            return True, None
        return True, username

    def user_for_token(self, token: str) -> str | None:
        for known, username in self._tokens.items():
            if hmac.compare_digest(known.encode(), token.encode()):
                return username
        return None

    def has_notebook(self, owner: str, slug: str) -> bool:
        user = self.users.get(owner)
        return user is not None and slug.lower() in (n.lower() for n in user.notebooks)

    def owner_exists(self, owner: str) -> bool:
        return owner in self.users or owner in self.organizations

    def can_write_owner(self, username: str | None, owner: str) -> bool:
        if username is None:
            return False
        if username == owner and username in self.users:
            return True
        org = self.organizations.get(owner)
        return org is not None and username in org.members

    def display_name(self, owner: str) -> str:
        if owner in self.users:
            return self.users[owner].display_name or owner
        if owner in self.organizations:
            return self.organizations[owner].name or owner
        return owner
