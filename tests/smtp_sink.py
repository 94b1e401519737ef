"""A real SMTP server for the mail tests (tests/it/mail.rs): aiosmtpd on 127.0.0.1:PORT.

    python3 tests/smtp_sink.py PORT OUT_DIR

Every message it accepts becomes OUT_DIR/<n>.json (written to a temporary name, then renamed):
the envelope, the raw bytes, and the headers and body as Python's e-mail parser decodes them
(an independent check of what hallpass writes). The recipient's local part picks a behaviour:

    reject...@   550 at RCPT TO (a permanent refusal)
    deferN...@   451 at DATA the first N times this recipient is tried, then accept
    slow...@     accept, write the message, then wait 3 s before answering 250 (a client killed
                 meanwhile never learns the message was taken)
    anything     accept

Prints "ready" on standard output once it accepts connections; runs until killed.
"""

import asyncio
import email
import email.policy
import json
import os
import re
import sys
import time

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, out):
        self.out = out
        self.count = 0
        self.deferred = {}

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower().startswith("reject"):
            return "550 5.1.1 <%s>: Recipient address rejected" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        rcpt = envelope.rcpt_tos[0].lower()
        defer = re.match(r"defer(\d+)", rcpt)
        if defer:
            seen = self.deferred.get(rcpt, 0)
            if seen < int(defer.group(1)):
                self.deferred[rcpt] = seen + 1
                return "451 4.3.0 Try again later"
        raw = envelope.original_content or envelope.content
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        self.count += 1
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "raw": raw.decode("ascii", "replace"),
            "from": str(parsed["From"]),
            "to": str(parsed["To"]),
            "subject": str(parsed["Subject"]),
            "date": str(parsed["Date"]),
            "message_id": str(parsed["Message-ID"]),
            "content_type": parsed.get_content_type(),
            "charset": parsed.get_content_charset(),
            # CRLF on the wire, as RFC 5322 wants; compared as text lines.
            "body": parsed.get_content().replace("\r\n", "\n"),
            "deferred_before": self.deferred.get(rcpt, 0),
        }
        name = "%06d-%d" % (self.count, time.time_ns())
        tmp = os.path.join(self.out, "." + name + ".tmp")
        with open(tmp, "w") as f:
            json.dump(record, f)
        os.rename(tmp, os.path.join(self.out, name + ".json"))
        if rcpt.startswith("slow"):
            await asyncio.sleep(3)
        return "250 Message accepted for delivery"


def main():
    port, out = int(sys.argv[1]), sys.argv[2]
    os.makedirs(out, exist_ok=True)
    controller = Controller(Sink(out), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
