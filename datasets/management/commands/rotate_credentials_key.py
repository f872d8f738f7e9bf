"""Re-encrypts every stored Kaggle secret with the newest WHARF_CREDENTIALS_KEY.

Rotation: put the new key first in WHARF_CREDENTIALS_KEY (comma-separated, old key
after it), run this command, then remove the old key."""

from django.core.management.base import BaseCommand, CommandError

from datasets.crypto import SecretUnreadable
from datasets.services.accounts import credentials_rotate_key


class Command(BaseCommand):
    help = "Re-encrypts stored Kaggle credentials with the newest WHARF_CREDENTIALS_KEY."

    def handle(self, *args, **options):
        try:
            count = credentials_rotate_key()
        except SecretUnreadable as exc:
            raise CommandError(f"{exc} Nothing was changed.") from None
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted {count} credential(s)."))
