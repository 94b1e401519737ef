"""The machinery of record.py: a django-allauth server per configuration, a
client that records every exchange, and the placeholder table that makes the
fixtures stable.

Nothing here knows a scenario; record.py holds those.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections import Counter
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from hallpass_allauth.config import effective_settings  # noqa: E402

API = "/_allauth/app/v1/"
USER_AGENT = "hallpass-allauth-recorder/1"
RECORDED_REQUEST_HEADERS = (
    "X-Session-Token",
    "X-Email-Verification-Key",
    "X-Password-Reset-Key",
    "Authorization",
    "Content-Type",
)
# Keys whose numeric value is an epoch timestamp.
TIMESTAMP_KEYS = {"at", "created_at", "last_seen_at", "last_used_at", "expires_at"}

# allauth's default user code: 8 of these letters, dashed 4-4.
# The mail templates put it on a line of its own.
CODE_RE = re.compile(
    r"^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$", re.MULTILINE
)
EMAIL_KEY_URL_RE = re.compile(r"https://app\.example/verify-email/(\S+)")
RESET_KEY_URL_RE = re.compile(r"https://app\.example/reset-password/(\S+)")
# What Django renders for timezone.now() in the notification mails (the
# DATETIME_FORMAT of en-us), e.g. "Dec. 2, 2026, 4 p.m.", "Sept. 30, 2026,
# 11:05 a.m.", "May 1, 2026, midnight".
MAIL_DATETIME_RE = re.compile(
    r"\b(?:Jan\.|Feb\.|March|April|May|June|July|Aug\.|Sept\.|Oct\.|Nov\.|Dec\.)"
    r" \d{1,2}, \d{4}, (?:\d{1,2}(?::\d{2})? [ap]\.m\.|midnight|noon)"
)

NOBODY = object()


class Secret(str):
    """A value taken from a mail (code, key) that carries its placeholder.

    Mail-borne values get one placeholder per mail, in mail order, whether or
    not two mails happen to carry the same value: allauth's keys embed a
    timestamp in seconds, so two mails within one second can carry the same
    key, and numbering by value would make the fixtures depend on timing.
    Requests are scrubbed by identity (a Secret in a body or header becomes
    its placeholder), not by searching for the value.
    """

    placeholder: str

    def __new__(cls, value: str, placeholder: str) -> Secret:
        obj = super().__new__(cls, value)
        obj.placeholder = placeholder
        return obj


def scrub(obj: Any) -> Any:
    if isinstance(obj, Secret):
        return obj.placeholder
    if isinstance(obj, dict):
        return {k: scrub(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [scrub(v) for v in obj]
    return obj


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Placeholders:
    """Maps volatile values to numbered placeholders, per fixture file.

    "<session_token:1>" is the first session token the fixture shows, and
    every later occurrence of the same token is the same placeholder, so a
    reader can follow which token is sent where.
    """

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.counts: Counter[str] = Counter()
        self.user_ids: dict[int, str] = {}
        self._pattern: re.Pattern | None = None

    def name(self, value: str, kind: str) -> str:
        if value not in self.values:
            self.counts[kind] += 1
            self.values[value] = f"<{kind}:{self.counts[kind]}>"
            self._pattern = None
        return self.values[value]

    def alias(self, value: str, placeholder: str) -> None:
        self.values.setdefault(value, placeholder)
        self._pattern = None

    def user_id(self, value: int) -> str:
        if value not in self.user_ids:
            self.user_ids[value] = f"<user_id:{len(self.user_ids) + 1}>"
        return self.user_ids[value]

    def apply(self, obj: Any, key: str | None = None, parent: str | None = None) -> Any:
        if isinstance(obj, dict):
            return {k: self.apply(v, k, key) for k, v in obj.items()}
        if isinstance(obj, list):
            return [self.apply(v, key, parent) for v in obj]
        if isinstance(obj, bool) or obj is None:
            return obj
        if isinstance(obj, (int, float)):
            if key in TIMESTAMP_KEYS and obj > 1e9:
                return "<ts>"
            if key == "id" and parent == "user" and isinstance(obj, int):
                return self.user_id(obj)
            return obj
        if isinstance(obj, str):
            return self.apply_str(obj)
        return obj

    def apply_str(self, s: str) -> str:
        if self.values:
            if self._pattern is None:
                self._pattern = re.compile(
                    "|".join(
                        re.escape(v)
                        for v in sorted(self.values, key=len, reverse=True)
                    )
                )
            s = self._pattern.sub(lambda m: self.values[m.group(0)], s)
        return MAIL_DATETIME_RE.sub("<datetime>", s)


class Server:
    """One `manage.py runserver` with one configuration."""

    def __init__(self, workdir: str, template_db: str, name: str, overrides: dict):
        self.name = name
        self.overrides = overrides
        self.dir = tempfile.mkdtemp(prefix=name + "-", dir=workdir)
        self.db = os.path.join(self.dir, "db.sqlite3")
        shutil.copyfile(template_db, self.db)
        self.maildir = os.path.join(self.dir, "mail")
        os.makedirs(self.maildir)
        self.seen_mail: set[str] = set()
        self.env = base_env(self.dir)
        for k, v in overrides.items():
            self.env[k] = v if isinstance(v, str) else json.dumps(v)
        self.proc: subprocess.Popen | None = None
        self.port = 0

    @property
    def settings(self) -> dict:
        s = effective_settings(self.env)
        if "HEADLESS_JWT_PRIVATE_KEY" in s:
            s["HEADLESS_JWT_PRIVATE_KEY"] = "<RSA 2048 private key, PEM, generated per run>"
        return s

    def start(self) -> None:
        self.port = free_port()
        self.log = open(os.path.join(self.dir, "server.log"), "w")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "runserver",
                "--noreload",
                f"127.0.0.1:{self.port}",
            ],
            cwd=HERE,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"server {self.name} exited: "
                    + open(os.path.join(self.dir, "server.log")).read()
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"server {self.name} did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def manage(self, *args: str) -> str:
        out = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=HERE,
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        )
        return out.stdout.strip()

    def new_mail(self) -> list[dict]:
        names = sorted(n for n in os.listdir(self.maildir) if not n.startswith("."))
        fresh = [n for n in names if n not in self.seen_mail]
        self.seen_mail.update(fresh)
        out = []
        for n in fresh:
            with open(os.path.join(self.maildir, n), encoding="utf-8") as f:
                out.append(json.load(f))
        return out


def base_env(state_dir: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ACCOUNT_", "HEADLESS_", "MFA_", "USERSESSIONS_"))
        and not k.startswith("HALLPASS_ALLAUTH_")
    }
    env["DJANGO_SETTINGS_MODULE"] = "hallpass_allauth.settings"
    env["HALLPASS_ALLAUTH_STATE"] = state_dir
    env["HALLPASS_ALLAUTH_DB"] = os.path.join(state_dir, "db.sqlite3")
    env["HALLPASS_ALLAUTH_MAILDIR"] = os.path.join(state_dir, "mail")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def make_template_db(workdir: str) -> str:
    d = os.path.join(workdir, "_template")
    os.makedirs(d)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"],
        cwd=HERE,
        env=base_env(d),
        check=True,
    )
    return os.path.join(d, "db.sqlite3")


class Response:
    def __init__(self, status: int, content_type: str, body: Any, mails: list[dict]):
        self.status = status
        self.content_type = content_type
        self.body = body
        self.mails = mails

    @property
    def json(self) -> dict:
        return self.body if isinstance(self.body, dict) else {}

    @property
    def data(self) -> Any:
        return self.json.get("data")

    @property
    def meta(self) -> dict:
        return self.json.get("meta") or {}

    @property
    def flows(self) -> list:
        d = self.data
        return d.get("flows", []) if isinstance(d, dict) else []

    def __repr__(self) -> str:
        return f"<{self.status} {json.dumps(self.body)[:300]}>"


class Recorder:
    """Records exchanges for one fixture file."""

    def __init__(self, server: Server, scenario: str, description: str):
        self.server = server
        self.scenario = scenario
        self.description = description
        self.ph = Placeholders()
        self.exchanges: list[dict] = []
        self.mails: list[dict] = []  # raw, with extracted code/key
        self.notes: dict[str, Any] = {}

    def device(self, label: str, bearer: bool = False, ip: str | None = None) -> Device:
        return Device(self, label, bearer, ip)

    def variant(self, code: Secret) -> Secret:
        """The code as a user might type it: lower case, no dash."""
        return Secret(
            code.lower().replace("-", ""), code.placeholder[:-1] + ":lowercase-undashed>"
        )

    def secret(self, value: str, kind: str) -> Secret:
        """A value the recorder got elsewhere (manage.py), numbered by kind."""
        self.ph.counts[kind] += 1
        return Secret(value, f"<{kind}:{self.ph.counts[kind]}>")

    def exchange(
        self,
        method: str,
        path: str,
        body: Any = NOBODY,
        *,
        headers: dict[str, str] | None = None,
        raw: str | bytes | None = None,
        comment: str | None = None,
        device: str | None = None,
        client_ip: str | None = None,
    ) -> Response:
        hdrs = dict(headers or {})
        data: bytes | None = None
        if raw is not None:
            data = raw.encode() if isinstance(raw, str) else raw
            hdrs.setdefault("Content-Type", "application/json")
        elif body is not NOBODY:
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        conn = http.client.HTTPConnection(
            "127.0.0.1",
            self.server.port,
            timeout=60,
            source_address=(client_ip, 0) if client_ip else None,
        )
        conn.request(
            method,
            API + path,
            body=data,
            headers={**hdrs, "User-Agent": USER_AGENT, "Accept": "application/json"},
        )
        resp = conn.getresponse()
        payload = resp.read()
        conn.close()
        ctype = resp.getheader("Content-Type", "")
        try:
            rbody: Any = json.loads(payload) if payload else ""
        except ValueError:
            rbody = payload.decode("utf-8", "replace")
        mails = [self._learn_mail(m) for m in self.server.new_mail()]
        r = Response(resp.status, ctype, rbody, mails)
        self._learn_response(r)
        req: dict[str, Any] = {"method": method, "path": API + path}
        rec_headers = {
            k: scrub(v) for k, v in hdrs.items() if k in RECORDED_REQUEST_HEADERS
        }
        if rec_headers:
            req["headers"] = rec_headers
        if raw is not None:
            req["raw_body"] = data.decode("utf-8", "replace") if data else ""
        elif body is not NOBODY:
            req["body"] = scrub(body)
        entry: dict[str, Any] = {}
        if comment:
            entry["comment"] = comment
        if device:
            entry["device"] = device
        if client_ip:
            entry["client_ip"] = client_ip
        entry["request"] = req
        entry["response"] = {"status": resp.status, "content_type": ctype, "body": rbody}
        entry["emails"] = [
            {"to": m["to"], "subject": m["subject"], "body": m["recorded_body"]}
            | ({"alternatives": m["alternatives"]} if m["alternatives"] else {})
            for m in mails
        ]
        self.exchanges.append(entry)
        return r

    def _learn_response(self, r: Response) -> None:
        for src in (r.meta, r.data if isinstance(r.data, dict) else {}):
            for field in ("session_token", "access_token", "refresh_token"):
                v = src.get(field)
                if isinstance(v, str) and v:
                    self.ph.name(v, field)

    def _learn_mail(self, m: dict) -> dict:
        body = m["body"]
        m = dict(m)
        found = CODE_RE.search(body)
        if found:
            self.ph.counts["code"] += 1
            m["code"] = Secret(found.group(0), f"<code:{self.ph.counts['code']}>")
            body = body.replace(m["code"], m["code"].placeholder)
        for rx, kind in ((EMAIL_KEY_URL_RE, "email_key"), (RESET_KEY_URL_RE, "reset_key")):
            found = rx.search(body)
            if found:
                encoded = found.group(1)
                self.ph.counts[kind] += 1
                placeholder = f"<{kind}:{self.ph.counts[kind]}>"
                m["key"] = Secret(urllib.parse.unquote(encoded), placeholder)
                if encoded != m["key"]:
                    placeholder = placeholder[:-1] + ":percent-encoded>"
                body = body.replace(encoded, placeholder)
        m["recorded_body"] = body
        self.mails.append(m)
        return m

    # Mail helpers for scenarios.
    def last_mail(self, to: str) -> dict:
        for m in reversed(self.mails):
            if to in m["to"]:
                return m
        raise LookupError(f"no mail to {to}")

    def last_code(self, to: str) -> Secret:
        m = self.last_mail(to)
        if "code" not in m:
            raise LookupError(f"last mail to {to} has no code: {m['subject']}")
        return m["code"]

    def last_key(self, to: str) -> Secret:
        m = self.last_mail(to)
        if "key" not in m:
            raise LookupError(f"last mail to {to} has no key: {m['subject']}")
        return m["key"]

    def to_json(self) -> dict:
        doc = {
            "scenario": self.scenario,
            "description": self.description,
            "allauth_version": "65.22.1",
            "settings": self.server.settings,
        }
        if self.notes:
            doc["observed"] = self.notes
        doc["exchanges"] = self.exchanges
        return self.ph.apply(doc)


class Device:
    """A client app: keeps the session token (and JWTs) it was given."""

    def __init__(
        self, rec: Recorder, label: str, bearer: bool = False, ip: str | None = None
    ):
        self.rec = rec
        self.label = label
        self.bearer = bearer
        self.ip = ip
        self.session_token: str | None = None
        self.access_token: str | None = None
        self.refresh_token: str | None = None

    def call(
        self,
        method: str,
        path: str,
        body: Any = NOBODY,
        *,
        comment: str | None = None,
        headers: dict[str, str] | None = None,
        raw: str | bytes | None = None,
        auth: bool = True,
    ) -> Response:
        h: dict[str, str] = {}
        if auth:
            if self.bearer and self.access_token:
                h["Authorization"] = f"Bearer {self.access_token}"
            elif self.session_token:
                h["X-Session-Token"] = self.session_token
        h.update(headers or {})
        r = self.rec.exchange(
            method,
            path,
            body,
            headers=h,
            raw=raw,
            comment=comment,
            device=self.label,
            client_ip=self.ip,
        )
        meta = r.meta
        if meta.get("session_token"):
            self.session_token = meta["session_token"]
        if meta.get("access_token"):
            self.access_token = meta["access_token"]
        if meta.get("refresh_token"):
            self.refresh_token = meta["refresh_token"]
        return r

    def get(self, path: str, **kw: Any) -> Response:
        return self.call("GET", path, **kw)

    def post(self, path: str, body: Any = NOBODY, **kw: Any) -> Response:
        return self.call("POST", path, body, **kw)

    def put(self, path: str, body: Any = NOBODY, **kw: Any) -> Response:
        return self.call("PUT", path, body, **kw)

    def patch(self, path: str, body: Any = NOBODY, **kw: Any) -> Response:
        return self.call("PATCH", path, body, **kw)

    def delete(self, path: str, body: Any = NOBODY, **kw: Any) -> Response:
        return self.call("DELETE", path, body, **kw)
