"""The allauth configuration of the recording project, as plain data.

Shared by settings.py (which applies it) and record.py (which writes it into
each fixture's "settings" object), so the fixture names exactly what the
server ran with.

Every setting whose name starts with ACCOUNT_, HEADLESS_, MFA_ or
USERSESSIONS_ can be overridden from the environment. The value is parsed as
JSON when it is valid JSON (true, 3, ["email"], {"a": 1}), else taken as a
plain string (mandatory, allauth.headless...JWTTokenStrategy).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

OVERRIDE_PREFIXES = ("ACCOUNT_", "HEADLESS_", "MFA_", "USERSESSIONS_")

FRONTEND_URLS = {
    "account_confirm_email": "https://app.example/verify-email/{key}",
    "account_reset_password": "https://app.example/reset-password",
    "account_reset_password_from_key": "https://app.example/reset-password/{key}",
    "account_signup": "https://app.example/signup",
}

# What every configuration starts from. Anything not named here is allauth's
# own default (see README.md for the ones that matter).
BASE: dict[str, Any] = {
    "HEADLESS_ONLY": True,
    "HEADLESS_CLIENTS": ["app"],
    "HEADLESS_FRONTEND_URLS": FRONTEND_URLS,
    "HEADLESS_TOKEN_STRATEGY": (
        "allauth.headless.tokens.strategies.sessions.SessionTokenStrategy"
    ),
    "ACCOUNT_LOGIN_METHODS": ["email"],
    "ACCOUNT_SIGNUP_FIELDS": ["email*", "password1*"],
    "ACCOUNT_EMAIL_VERIFICATION": "optional",
    # Off for most runs; a run that wants allauth's defaults sets
    # ACCOUNT_RATE_LIMITS={} (empty dict = allauth's built-in limits).
    "ACCOUNT_RATE_LIMITS": False,
}

JWT_STRATEGY = "allauth.headless.tokens.strategies.jwt.JWTTokenStrategy"


def parse_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def overrides_from(environ: Mapping[str, str]) -> dict[str, Any]:
    return {
        name: parse_value(value)
        for name, value in sorted(environ.items())
        if name.startswith(OVERRIDE_PREFIXES)
    }


def effective_settings(environ: Mapping[str, str]) -> dict[str, Any]:
    settings = dict(BASE)
    settings.update(overrides_from(environ))
    return settings
