"""What every RPC handler receives and may answer besides a JSON body."""

from __future__ import annotations

from dataclasses import dataclass


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Call:
    method: str  # e.g. "CreateDataset"
    username: str | None  # None: no credentials were sent
    api_base: str  # where this client reaches us, e.g. "http://localhost"
    public_url: str  # links for people (dataset pages)


@dataclass
class Redirect:
    url: str
