"""State changes the HTTP API cannot make, for the recorder.

  fixture_tool set-unusable-password EMAIL
  fixture_tool expired-email-key EMAIL   (prints a verification key for EMAIL's
                                          address, signed 10 days ago)
"""

import time

from django.contrib.auth import get_user_model
from django.core import signing
from django.core.management.base import BaseCommand, CommandError

from allauth.account import app_settings
from allauth.account.models import EmailAddress


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["set-unusable-password", "expired-email-key"])
        parser.add_argument("email")

    def handle(self, *args, **options):
        email = options["email"]
        if options["action"] == "set-unusable-password":
            user = get_user_model().objects.filter(email__iexact=email).first()
            if not user:
                raise CommandError(f"no user {email}")
            user.set_unusable_password()
            user.save()
            self.stdout.write("ok")
        else:
            address = EmailAddress.objects.filter(email__iexact=email).first()
            if not address:
                raise CommandError(f"no address {email}")
            ten_days_ago = int(time.time()) - 10 * 86400
            signing.TimestampSigner.timestamp = lambda self: signing.b62_encode(
                ten_days_ago
            )
            self.stdout.write(signing.dumps(obj=address.pk, salt=app_settings.SALT))
