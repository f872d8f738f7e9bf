"""The sandbox's fidelity settings: where Kaggle's behaviour is disputed or a limit is
not published, a setting selects it. Every default is the harsher choice (FIDELITY.md
says why for each). They are set at start (`run_sandbox(..., settings={...})`,
`python -m kaggle_sandbox --setting name=value`) or while it runs
(`POST /_sandbox/settings {"name": value}`), and kept in `<data-dir>/settings.json`
so a restart keeps them."""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

RESENT_UPLOADS = ("duplicate", "refuse")
TAG_VOCABULARIES = ("sourced", "extended")


class SettingsError(ValueError):
    pass


@dataclass
class Settings:
    # kaggle-cli #995: subtitle and description sent with a version are not applied.
    version_applies_text: bool = False
    # A create/version re-sent with upload tokens already used (the client's with_retry
    # after a dropped answer): "duplicate" makes another version from them, "refuse"
    # answers that the token was already used.
    resent_uploads: str = "duplicate"
    # "The file count exceeds the maximum of 1000" (Kaggle's own message).
    max_files: int = 1000
    # kaggle-cli #424: a dataset over the size limit fails at processing.
    max_dataset_bytes: int = 6_000_000_000
    # kaggle-cli #284: over the private quota, the create "succeeds" and then 404s.
    private_quota_bytes: int = 100_000_000_000
    # Which keywords count as Kaggle tags: "sourced" (tags seen in Kaggle's own
    # answers) or "extended" (plus an older, unsourced list).
    tag_vocabulary: str = "sourced"

    def update(self, changes: dict) -> Settings:
        if not isinstance(changes, dict):
            raise SettingsError("settings are a JSON object of name: value")
        known = {f.name: f for f in fields(self)}
        staged = asdict(self)
        for name, value in changes.items():
            if name not in known:
                raise SettingsError(f"unknown setting {name!r}; known: {sorted(known)}")
            staged[name] = _coerce(name, known[name].type, value)
        for name, value in staged.items():
            setattr(self, name, value)
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=1), encoding="utf-8")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path, overrides: dict | None = None) -> Settings:
        settings = cls()
        if path.exists():
            # A damaged file falls back to the defaults.
            with contextlib.suppress(OSError, ValueError):
                settings.update(json.loads(path.read_text(encoding="utf-8")))
        if overrides:
            settings.update(overrides)
        return settings


def _coerce(name: str, kind: str, value):
    if kind == "bool":
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
            return value.lower() in ("true", "1", "yes")
        if isinstance(value, bool):
            return value
        raise SettingsError(f"{name} is true or false")
    if kind == "int":
        try:
            number = int(value)
        except (TypeError, ValueError) as exc:
            raise SettingsError(f"{name} is a whole number") from exc
        if number < 0 or isinstance(value, bool):
            raise SettingsError(f"{name} is a whole number, 0 or more")
        return number
    choices = {"resent_uploads": RESENT_UPLOADS, "tag_vocabulary": TAG_VOCABULARIES}[name]
    if value not in choices:
        raise SettingsError(f"{name} is one of {choices}")
    return value


def parse_pairs(pairs: list[str]) -> dict:
    """`name=value` pairs from the command line."""
    result = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise SettingsError(f"--setting takes name=value, not {pair!r}")
        result[name.strip()] = value.strip()
    return result
