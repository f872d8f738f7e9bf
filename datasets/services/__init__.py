"""Writes. Every state change goes through a function here: it checks the state it
starts from, writes the change and its Event in one transaction, and enqueues work
with transaction.on_commit. Views, forms, the API and tasks only call services."""

from .errors import Conflict, Forbidden, ServiceError
from .events import event_record

__all__ = ["Conflict", "Forbidden", "ServiceError", "event_record"]
