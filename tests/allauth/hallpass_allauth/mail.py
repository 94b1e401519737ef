"""An e-mail backend that writes each message as one JSON file.

The recorder runs the server in another process, so Django's locmem outbox is
out of its reach; it lists this directory after every request instead.
"""

import itertools
import json
import os
import time

from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend

_seq = itertools.count()


class JsonDirBackend(BaseEmailBackend):
    def send_messages(self, email_messages):
        directory = settings.HALLPASS_EMAIL_DIR
        os.makedirs(directory, exist_ok=True)
        for message in email_messages:
            record = {
                "subject": message.subject,
                "from": message.from_email,
                "to": list(message.to),
                "body": message.body,
                "content_subtype": message.content_subtype,
                "alternatives": [
                    {"mimetype": mimetype, "content": content}
                    for content, mimetype in getattr(message, "alternatives", [])
                ],
            }
            name = f"{time.time_ns():020d}-{next(_seq):06d}.json"
            tmp = os.path.join(directory, "." + name)
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(record, f)
            os.replace(tmp, os.path.join(directory, name))
        return len(email_messages)
