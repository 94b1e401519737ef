"""State changes the HTTP API cannot make, for the recorder.

  fixture_tool set-unusable-password EMAIL
  fixture_tool expired-email-key EMAIL   (prints a verification key for EMAIL's
                                          address, signed 10 days ago)
  fixture_tool expired-reset-key EMAIL   (prints a password reset key for the
                                          user with EMAIL, made 10 days ago)
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
        parser.add_argument("action", choices=["set-unusable-password", "expired-email-key", "expired-reset-key"])
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
        elif options["action"] == "expired-reset-key":
            from allauth.account.forms import default_token_generator
            from allauth.account.utils import user_pk_to_url_str

            user = get_user_model().objects.filter(email__iexact=email).first()
            if not user:
                raise CommandError(f"no user {email}")
            gen = default_token_generator
            then = gen._num_seconds(gen._now()) - 10 * 86400
            token = gen._make_token_with_timestamp(user, then, gen.secret)
            self.stdout.write(f"{user_pk_to_url_str(user)}-{token}")
        else:
            address = EmailAddress.objects.filter(email__iexact=email).first()
            if not address:
                raise CommandError(f"no address {email}")
            ten_days_ago = int(time.time()) - 10 * 86400
            signing.TimestampSigner.timestamp = lambda self: signing.b62_encode(
                ten_days_ago
            )
            self.stdout.write(signing.dumps(obj=address.pk, salt=app_settings.SALT))
