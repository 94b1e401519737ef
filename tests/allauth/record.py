#!/usr/bin/env python3
"""Record what real django-allauth 65.22.1 answers on the headless app API.

    /work/venv-allauth/bin/python tests/allauth/record.py [SCENARIO ...]

For each scenario: start `manage.py runserver` on a free 127.0.0.1 port with
that scenario's settings (environment variables, see
hallpass_allauth/config.py), walk the scenario with plain HTTP, and write
tests/fixtures/allauth/<scenario>.json. config.json collects GET config and
an anonymous GET auth/session from every configuration. With scenario names
given, only those are recorded (and config.json is left alone).

The fixtures hold only what the server answered; comments say what a step
was meant to show, never what it showed. See README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from harness import Device, Recorder, Secret, Server, make_template_db  # noqa: E402
from hallpass_allauth.config import JWT_STRATEGY  # noqa: E402

REPO = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(REPO, "tests", "fixtures", "allauth")

PASSWORD = "Correct-Horse-Battery-9"
NEW_PASSWORD = "Another-Staple-Horse-7"
BOB_PASSWORD = "Bobs-Own-Password-3"
WRONG_CODE = "BBBB-BBBB"
INVALID_SESSION = "thisisnotasessiontoken0000000000"

# Allauth's defaults for the rate limits (ACCOUNT_RATE_LIMITS = {} keeps them
# all; False disables them all).
RATE_LIMITS_DEFAULT: dict = {}


@dataclass
class Scenario:
    name: str
    description: str
    overrides: dict
    fn: Callable[[Recorder], None]
    config_only: bool = False
    jwt_key: bool = field(default=False)


SCENARIOS: list[Scenario] = []


def scenario(name: str, description: str, **overrides):
    def deco(fn):
        SCENARIOS.append(Scenario(name, description, overrides, fn))
        return fn

    return deco


def signup(dev: Device, email: str, password: str = PASSWORD, comment: str | None = None):
    return dev.post(
        "auth/signup",
        {"email": email, "password": password},
        comment=comment or f"sign up {email}",
    )


def login(dev: Device, email: str, password: str = PASSWORD, comment: str | None = None):
    return dev.post(
        "auth/login",
        {"email": email, "password": password},
        comment=comment or f"log in {email}",
    )


def expect(r, *statuses):
    if r.status not in statuses:
        raise AssertionError(f"expected {statuses}, got {r!r}")
    return r


# --------------------------------------------------------------------------
# account/email


def _email_addresses_common(rec: Recorder, change_email: bool = False) -> None:
    bob = rec.device("bob")
    expect(
        signup(bob, "bob@example.com", BOB_PASSWORD, comment="another user, owner of bob@example.com (own password)"),
        200,
    )
    a = rec.device("alice")
    expect(signup(a, "alice@example.com"), 200)
    anon = rec.device("anonymous")
    anon.get("account/email", comment="list without credentials")
    anon.post("account/email", {"email": "x@example.com"}, comment="add without credentials")
    a.get("account/email", comment="list: the signup address, unverified, primary")
    a.post("account/email", {"email": "alice2@example.com"}, comment="add a new address")
    a.post("account/email", {"email": "alice2@example.com"}, comment="add it again (duplicate of own)")
    a.post("account/email", {"email": "ALICE2@Example.COM"}, comment="add own address in other case")
    added_bobs = a.post(
        "account/email",
        {"email": "bob@example.com"},
        comment="add an address another user has (ACCOUNT_UNIQUE_EMAIL is True by default)",
    )
    a.post("account/email", {"email": "not-an-email"}, comment="bad address")
    a.post("account/email", {}, comment="no email field")
    if not change_email:
        # Add until ACCOUNT_MAX_EMAIL_ADDRESSES (4) answers: whether bob's
        # address was added above decides how many fit.
        for n in range(3, 7):
            r = a.post(
                "account/email",
                {"email": f"alice{n}@example.com"},
                comment=f"add alice{n} (ACCOUNT_MAX_EMAIL_ADDRESSES=4)",
            )
            if r.status != 200:
                break
    a.get("account/email", comment="list")
    a.put("account/email", {"email": "alice2@example.com"}, comment="resend verification for an unverified address")
    a.put("account/email", {"email": "nobody@example.com"}, comment="resend verification for an address not on the account")
    key = rec.last_key("alice2@example.com")
    a.post("auth/email/verify", {"key": key}, comment="verify alice2 with the key from the mail, while signed in")
    a.put("account/email", {"email": "alice2@example.com"}, comment="resend verification for an already verified address")
    a.get("account/email", comment="list after verifying alice2")
    if change_email:
        return
    a.patch(
        "account/email",
        {"email": "alice3@example.com", "primary": True},
        comment="mark an unverified address primary while a verified one exists",
    )
    a.patch("account/email", {"email": "alice2@example.com"}, comment="mark primary without the primary field")
    a.patch(
        "account/email",
        {"email": "alice2@example.com", "primary": False},
        comment="primary: false",
    )
    a.patch(
        "account/email",
        {"email": "nobody@example.com", "primary": True},
        comment="mark primary an address not on the account",
    )
    a.patch(
        "account/email",
        {"email": "alice2@example.com", "primary": True},
        comment="mark the verified address primary",
    )
    a.delete("account/email", {"email": "alice3@example.com"}, comment="remove a non-primary address")
    a.delete("account/email", {"email": "alice2@example.com"}, comment="try to remove the primary address")
    a.delete("account/email", {"email": "nobody@example.com"}, comment="remove an address not on the account")
    a.delete("account/email", {"email": "alice@example.com"}, comment="remove the old (unverified, non-primary) signup address")
    listed = a.get("account/email", comment="list").data or []
    for n in range(4, 7):
        if any(e["email"] == f"alice{n}@example.com" for e in listed):
            a.delete("account/email", {"email": f"alice{n}@example.com"}, comment=f"remove alice{n}")
    if added_bobs.status == 200:
        bob_key = rec.last_key("bob@example.com")
        bob.post(
            "auth/email/verify",
            {"key": bob_key},
            comment="bob follows the link that alice's add-address sent to bob@example.com",
        )
        a.get("account/email", comment="alice's list after that")
        bob.get("account/email", comment="bob's list after that")
        login(rec.device("bob-2"), "bob@example.com", BOB_PASSWORD, comment="log in as bob@example.com with bob's password")
        login(rec.device("bob-3"), "bob@example.com", PASSWORD, comment="log in as bob@example.com with alice's password")
        a.delete("account/email", {"email": "bob@example.com"}, comment="remove the address that is bob's")
        login(rec.device("bob-4"), "bob@example.com", BOB_PASSWORD, comment="bob's login again, after alice removed it")
    a.delete("account/email", {"email": "alice2@example.com"}, comment="try to remove the last address (login is by email)")
    a.get("account/email", comment="final list")
    a.get("auth/session", comment="session: user.email follows the primary address")


@scenario(
    "email_addresses",
    "Managing e-mail addresses of a signed-in user: list, add (new, duplicate, "
    "taken by another user, bad, beyond the maximum), resend verification, mark "
    "primary, remove. Enumeration prevention on (allauth's default).",
    ACCOUNT_MAX_EMAIL_ADDRESSES=4,
    ACCOUNT_EMAIL_NOTIFICATIONS=True,
)
def email_addresses(rec: Recorder) -> None:
    _email_addresses_common(rec)


@scenario(
    "email_addresses_prevent_enumeration_off",
    "As email_addresses, with ACCOUNT_PREVENT_ENUMERATION=False: what adding an "
    "address of another user answers then.",
    ACCOUNT_MAX_EMAIL_ADDRESSES=4,
    ACCOUNT_EMAIL_NOTIFICATIONS=True,
    ACCOUNT_PREVENT_ENUMERATION=False,
)
def email_addresses_prevent_enumeration_off(rec: Recorder) -> None:
    _email_addresses_common(rec)


@scenario(
    "email_addresses_change_email",
    "ACCOUNT_CHANGE_EMAIL=True: adding an address is a change of address; on "
    "verification the new one replaces the old.",
    ACCOUNT_CHANGE_EMAIL=True,
    ACCOUNT_EMAIL_NOTIFICATIONS=True,
)
def email_addresses_change_email(rec: Recorder) -> None:
    bob = rec.device("bob")
    signup(bob, "bob@example.com", comment="another user, owner of bob@example.com")
    a = rec.device("alice")
    signup(a, "alice@example.com")
    a.post("auth/email/verify", {"key": rec.last_key("alice@example.com")}, comment="verify the signup address")
    a.get("account/email", comment="list: one verified primary address")
    a.post("account/email", {"email": "alice2@example.com"}, comment="change to alice2")
    a.get("account/email", comment="list while the change is pending")
    a.post("account/email", {"email": "alice2@example.com"}, comment="the same change again")
    a.post("account/email", {"email": "alice3@example.com"}, comment="change to alice3 while alice2 is pending")
    a.get("account/email", comment="list: which pending change survives")
    a.post("account/email", {"email": "bob@example.com"}, comment="change to an address another user has")
    a.get("account/email", comment="list")
    a.post("account/email", {"email": "alice3@example.com"}, comment="back to alice3")
    a.put("account/email", {"email": "alice3@example.com"}, comment="resend verification for the pending address")
    a.post("auth/email/verify", {"key": rec.last_key("alice3@example.com")}, comment="verify alice3: completes the change")
    a.get("account/email", comment="list after the change")
    a.get("auth/session", comment="session: user.email is the new address")
    login(rec.device("alice-2"), "alice@example.com", comment="log in with the old address")
    login(rec.device("alice-3"), "alice3@example.com", comment="log in with the new address")
    a.post("account/email", {"email": "alice4@example.com"}, comment="start another change")
    a.delete("account/email", {"email": "alice4@example.com"}, comment="cancel it by removing the pending address")
    a.get("account/email", comment="list")

    c = rec.device("carl")
    signup(c, "carl@example.com", comment="a user whose signup address stays unverified")
    c.post("account/email", {"email": "carl2@example.com"}, comment="change while the only address is unverified")
    c.get("account/email", comment="list: what happened to the unverified signup address")
    c.get("auth/session", comment="session")


# --------------------------------------------------------------------------
# auth/email/verify by key


def _verify_by_key(rec: Recorder, mandatory: bool) -> None:
    c = rec.device("carol")
    r = signup(c, "carol@example.com")
    key = rec.last_key("carol@example.com")
    c.get("auth/session", comment="session right after signup")
    c.get("auth/email/verify", headers={"X-Email-Verification-Key": "not-a-key"}, comment="GET: invalid key")
    c.get("auth/email/verify", comment="GET: no X-Email-Verification-Key header")
    c.get(
        "auth/email/verify",
        headers={
            "X-Email-Verification-Key": Secret(
                key.replace(":", "%3A"), key.placeholder[:-1] + ":percent-encoded>"
            )
        },
        comment="GET: the key still percent-encoded, as it stands in the mail's URL",
    )
    expired = rec.secret(
        rec.server.manage("fixture_tool", "expired-email-key", "carol@example.com"),
        "expired_email_key",
    )
    c.get(
        "auth/email/verify",
        headers={"X-Email-Verification-Key": expired},
        comment="GET: a key for carol's address signed 10 days ago (ACCOUNT_EMAIL_CONFIRMATION_EXPIRE_DAYS=3)",
    )
    c.get("auth/email/verify", headers={"X-Email-Verification-Key": key}, comment="GET: valid key")
    c.post("auth/email/verify", {"key": "not-a-key"}, comment="POST: invalid key")
    c.post("auth/email/verify", {"key": expired}, comment="POST: expired key")
    c.post("auth/email/verify", {"key": key}, comment="POST: valid key")
    c.post("auth/email/verify", {"key": key}, comment="POST: the same key again")
    c.get("auth/email/verify", headers={"X-Email-Verification-Key": key}, comment="GET: the used key")
    c.get("auth/session", comment="session after verification")
    if mandatory:
        login(c, "carol@example.com", comment="log in after verifying")
    c.get("account/email", comment="the address is verified now")

    d = rec.device("dave")
    signup(d, "dave@example.com")
    dkey = rec.last_key("dave@example.com")
    other = rec.device("other-device")
    other.get(
        "auth/email/verify",
        headers={"X-Email-Verification-Key": dkey},
        comment="GET dave's key from a device with no session",
    )
    other.post("auth/email/verify", {"key": dkey}, comment="POST dave's key from a device with no session")
    d.get("auth/session", comment="dave's own session afterwards")
    if mandatory:
        login(rec.device("dave-2"), "dave@example.com", comment="dave logs in from yet another device")
    else:
        d.get("account/email", comment="dave's addresses afterwards")
    d.post("auth/email/verify/resend", comment="resend (a by-code endpoint) with verification by key")

    x = rec.device("x")
    signup(x, "carol@example.com", comment="sign up with an address that already has an account")
    x.get("auth/session", comment="that device's session")
    if mandatory:
        e = rec.device("erin")
        signup(e, "erin@example.com", comment="sign up erin, do not verify")
        e2 = rec.device("erin-2")
        login(e2, "erin@example.com", comment="log in as unverified erin from another device")
        e2.get("auth/session", comment="that device's session")
        login(e2, "erin@example.com", WRONG_CODE, comment="wrong password for unverified erin")


@scenario(
    "verify_by_key_optional",
    "E-mail verification by link key, ACCOUNT_EMAIL_VERIFICATION=optional.",
    ACCOUNT_EMAIL_VERIFICATION="optional",
)
def verify_by_key_optional(rec: Recorder) -> None:
    _verify_by_key(rec, mandatory=False)


@scenario(
    "verify_by_key_mandatory",
    "E-mail verification by link key, ACCOUNT_EMAIL_VERIFICATION=mandatory, "
    "ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION False (allauth's default).",
    ACCOUNT_EMAIL_VERIFICATION="mandatory",
)
def verify_by_key_mandatory(rec: Recorder) -> None:
    _verify_by_key(rec, mandatory=True)


@scenario(
    "verify_by_key_mandatory_login_on_confirmation",
    "As verify_by_key_mandatory with ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION=True: "
    "verifying in the pending signup session signs the user in.",
    ACCOUNT_EMAIL_VERIFICATION="mandatory",
    ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION=True,
)
def verify_by_key_mandatory_login_on_confirmation(rec: Recorder) -> None:
    _verify_by_key(rec, mandatory=True)


@scenario(
    "verification_none",
    "ACCOUNT_EMAIL_VERIFICATION=none: signup, adding an address, verifying "
    "anyway.",
    ACCOUNT_EMAIL_VERIFICATION="none",
)
def verification_none(rec: Recorder) -> None:
    a = rec.device("vera")
    signup(a, "vera@example.com", comment="sign up: is a verification mail sent?")
    a.get("account/email", comment="list")
    a.post("account/email", {"email": "vera2@example.com"}, comment="add an address: is a verification mail sent?")
    a.put("account/email", {"email": "vera@example.com"}, comment="ask for a verification mail explicitly")
    key = rec.last_key("vera@example.com")
    a.post("auth/email/verify", {"key": key}, comment="verify with that key")
    a.get("account/email", comment="list")


# --------------------------------------------------------------------------
# auth/email/verify by code


def _verify_by_code(rec: Recorder) -> None:
    g = rec.device("gina")
    signup(g, "gina@example.com", comment="sign up: pending verify_email flow")
    code = rec.last_code("gina@example.com")
    g.get("auth/session", comment="session during the pending flow")
    g.get(
        "auth/email/verify",
        headers={"X-Email-Verification-Key": WRONG_CODE},
        comment="GET with a wrong code (attempt 1 of ACCOUNT_EMAIL_VERIFICATION_BY_CODE_MAX_ATTEMPTS=3)",
    )
    g.get("auth/email/verify", headers={"X-Email-Verification-Key": code}, comment="GET with the right code")
    g.post("auth/email/verify", {"key": WRONG_CODE}, comment="POST a wrong code (attempt 2)")
    g.post("auth/email/verify", {"key": WRONG_CODE}, comment="POST a wrong code (attempt 3)")
    g.post("auth/email/verify", {"key": code}, comment="POST the right code after the attempts ran out")
    g.get("auth/session", comment="session after the flow died")
    g.post("auth/email/verify/resend", comment="resend after the flow died")

    g2 = rec.device("gina-2")
    login(g2, "gina@example.com", comment="log in as unverified gina: a new verify_email flow, a new code")
    code = rec.last_code("gina@example.com")
    g2.post("auth/email/verify", {"key": WRONG_CODE}, comment="wrong code (attempt 1)")
    g2.post("auth/email/verify/resend", comment="resend (ACCOUNT_EMAIL_VERIFICATION_SUPPORTS_RESEND unset)")
    g2.post("auth/email/verify", {}, comment="no key (attempt 2?)")
    g2.post("auth/email/verify", {"key": WRONG_CODE}, comment="wrong code (attempt 3?)")
    g2.post("auth/email/verify", {"key": code}, comment="the right code: 409 if the missing key counted")

    g2 = rec.device("gina-3")
    login(g2, "gina@example.com", comment="log in again: a new flow")
    code = rec.last_code("gina@example.com")
    g2.post("auth/email/verify", {"key": rec.variant(code)}, comment="the right code in lower case without the dash")
    g2.post("auth/email/verify", {"key": code}, comment="the right code again, flow already done")
    g2.get("auth/session", comment="session")
    g2.get("account/email", comment="addresses")

    g2.post("account/email", {"email": "gina2@example.com"}, comment="signed in: add an address (verification by code)")
    g2.get("account/email", comment="list while the code for gina2 is outstanding")
    code2 = rec.last_code("gina2@example.com")
    g2.get("auth/session", comment="session while the add-address code is outstanding")
    g2.get(
        "auth/email/verify",
        headers={"X-Email-Verification-Key": code2},
        comment="GET the add-address code",
    )
    g2.post("auth/email/verify", {"key": code2}, comment="POST the add-address code")
    g2.get("account/email", comment="list")

    x = rec.device("x")
    signup(x, "gina@example.com", comment="sign up with gina's address again (enumeration prevention)")
    x.post("auth/email/verify", {"key": code}, comment="any code for the fake flow")
    anon = rec.device("anonymous")
    anon.post("auth/email/verify", {"key": code}, comment="verify with no pending flow and no session")
    anon.get(
        "auth/email/verify",
        headers={"X-Email-Verification-Key": code},
        comment="GET verify with no pending flow and no session",
    )


@scenario(
    "verify_by_code",
    "E-mail verification by code (ACCOUNT_EMAIL_VERIFICATION_BY_CODE_ENABLED, "
    "mandatory): pending flow, wrong codes until the flow dies, right code, "
    "resend, login of an unverified user.",
    ACCOUNT_EMAIL_VERIFICATION="mandatory",
    ACCOUNT_EMAIL_VERIFICATION_BY_CODE_ENABLED=True,
)
def verify_by_code(rec: Recorder) -> None:
    _verify_by_code(rec)


@scenario(
    "verify_by_code_resend_change",
    "Verification by code with ACCOUNT_EMAIL_VERIFICATION_SUPPORTS_RESEND and "
    "_SUPPORTS_CHANGE True: resending, changing the address in the pending flow; "
    "ACCOUNT_EMAIL_VERIFICATION_BY_CODE_TIMEOUT=5.",
    ACCOUNT_EMAIL_VERIFICATION="mandatory",
    ACCOUNT_EMAIL_VERIFICATION_BY_CODE_ENABLED=True,
    ACCOUNT_EMAIL_VERIFICATION_SUPPORTS_RESEND=True,
    ACCOUNT_EMAIL_VERIFICATION_SUPPORTS_CHANGE=True,
    ACCOUNT_EMAIL_VERIFICATION_BY_CODE_TIMEOUT=5,
)
def verify_by_code_resend_change(rec: Recorder) -> None:
    h = rec.device("hana")
    signup(h, "hana@example.com")
    first = rec.last_code("hana@example.com")
    h.post("auth/email/verify/resend", comment="resend 1")
    h.post("auth/email/verify", {"key": first}, comment="the first code after a resend")
    h.post("auth/email/verify/resend", comment="resend 2")
    h.post("auth/email/verify/resend", comment="resend 3 (quota is 2 when SUPPORTS_RESEND=True)")
    h.get("account/email", comment="list during the pending flow (anonymous)")
    h.post("account/email", {"email": "hana@example.com"}, comment="change to the same address")
    h.post("account/email", {"email": "hana-new@example.com"}, comment="change the address during the pending flow")
    h.get("auth/session", comment="session after the change")
    code = rec.last_code("hana-new@example.com")
    h.post("auth/email/verify", {"key": code}, comment="verify the new address")
    h.get("account/email", comment="addresses after verifying")

    i = rec.device("ivy")
    signup(i, "ivy@example.com")
    i.post("account/email", {"email": "hana-new@example.com"}, comment="change to an address another account has")
    i.post("auth/email/verify", {"key": rec.last_code("ivy@example.com")}, comment="the old code after that change")
    i.get("auth/session", comment="session")

    t = rec.device("tom")
    signup(t, "tom@example.com", comment="sign up, then wait past the 5 s code timeout")
    code = rec.last_code("tom@example.com")
    time.sleep(6)
    t.get("auth/session", comment="session after the timeout")
    t.post("auth/email/verify", {"key": code}, comment="the right code after the timeout")
    t.get("auth/session", comment="session after that")
    login(t, "tom@example.com", comment="log in again: a new flow")


# --------------------------------------------------------------------------
# JWT strategy with mandatory verification


@scenario(
    "verify_jwt_by_code",
    "JWT token strategy, mandatory verification by code: what signup returns, "
    "what verification returns, and that the tokens work.",
    HEADLESS_TOKEN_STRATEGY=JWT_STRATEGY,
    ACCOUNT_EMAIL_VERIFICATION="mandatory",
    ACCOUNT_EMAIL_VERIFICATION_BY_CODE_ENABLED=True,
)
def verify_jwt_by_code(rec: Recorder) -> None:
    j = rec.device("jo", bearer=True)
    signup(j, "jo@example.com", comment="sign up: pending verify_email")
    pending = j.session_token
    j.get("auth/session", comment="session with the session token during the pending flow")
    j.post("auth/email/verify", {"key": WRONG_CODE}, comment="wrong code")
    j.post("auth/email/verify", {"key": rec.last_code("jo@example.com")}, comment="right code")
    j.get("auth/session", comment="session with the access token (Bearer)")
    j.call("GET", "auth/session", comment="session with the session token", auth=False,
           headers={"X-Session-Token": j.session_token or ""})
    j.call("GET", "auth/session", comment="the session token of the pending flow, after completion", auth=False,
           headers={"X-Session-Token": pending or ""})
    j.post("tokens/refresh", {"refresh_token": j.refresh_token}, comment="refresh")
    j2 = rec.device("jo-2", bearer=True)
    login(j2, "jo@example.com", comment="log in again, verified")


def _jwt_by_key(rec: Recorder) -> None:
    j = rec.device("jo", bearer=True)
    signup(j, "jo@example.com", comment="sign up: pending verify_email")
    key = rec.last_key("jo@example.com")
    j.get("auth/session", comment="session with the session token during the pending flow")
    j.get("auth/email/verify", headers={"X-Email-Verification-Key": key}, comment="GET the key")
    j.post("auth/email/verify", {"key": key}, comment="POST the key")
    j.get("auth/session", comment="session afterwards")
    j2 = rec.device("jo-2", bearer=True)
    login(j2, "jo@example.com", comment="log in, verified")
    j2.get("auth/session", comment="session with the access token")


@scenario(
    "verify_jwt_by_key",
    "JWT token strategy, mandatory verification by link key, "
    "ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION False (default).",
    HEADLESS_TOKEN_STRATEGY=JWT_STRATEGY,
    ACCOUNT_EMAIL_VERIFICATION="mandatory",
)
def verify_jwt_by_key(rec: Recorder) -> None:
    _jwt_by_key(rec)


@scenario(
    "verify_jwt_by_key_login_on_confirmation",
    "JWT token strategy, mandatory verification by link key, "
    "ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION=True.",
    HEADLESS_TOKEN_STRATEGY=JWT_STRATEGY,
    ACCOUNT_EMAIL_VERIFICATION="mandatory",
    ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION=True,
)
def verify_jwt_by_key_login_on_confirmation(rec: Recorder) -> None:
    _jwt_by_key(rec)


# --------------------------------------------------------------------------
# account/password/change


def _password_change(rec: Recorder, logout_on_change: bool) -> None:
    a = rec.device("henry-A")
    signup(a, "henry@example.com")
    b = rec.device("henry-B")
    login(b, "henry@example.com", comment="a second session of the same user")
    c = rec.device("henry-C")
    login(c, "henry@example.com", comment="a third session of the same user")
    anon = rec.device("anonymous")
    anon.post(
        "account/password/change",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        comment="without credentials",
    )
    a.post(
        "account/password/change",
        {"current_password": "wrong-password", "new_password": NEW_PASSWORD},
        comment="wrong current password",
    )
    a.post("account/password/change", {"new_password": NEW_PASSWORD}, comment="no current password")
    a.post(
        "account/password/change",
        {"current_password": PASSWORD, "new_password": "short"},
        comment="weak new password: short",
    )
    a.post(
        "account/password/change",
        {"current_password": PASSWORD, "new_password": "12345678901"},
        comment="weak new password: numeric and common",
    )
    a.post(
        "account/password/change",
        {"current_password": PASSWORD, "new_password": "henry@example.com"},
        comment="weak new password: like the e-mail",
    )
    a.post(
        "account/password/change",
        {"current_password": "wrong-password", "new_password": "short"},
        comment="wrong current and weak new",
    )
    old_a = a.session_token
    a.post(
        "account/password/change",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        comment="change",
    )
    a.get("auth/session", comment="the changing device, with whatever token it holds now")
    if a.session_token != old_a:
        a.call(
            "GET", "auth/session", auth=False, headers={"X-Session-Token": old_a or ""},
            comment="the changing device's old token",
        )
    b.get("auth/session", comment="another session of the same user")
    c.get("account/email", comment="another session on an authenticated endpoint")
    d = rec.device("henry-D")
    login(d, "henry@example.com", comment="log in with the old password")
    login(d, "henry@example.com", NEW_PASSWORD, comment="log in with the new password")
    b.get("auth/session", comment="the other session again, after that new login")

    # A user without a usable password logs in by code and sets one.
    i = rec.device("ivan")
    signup(i, "ivan@example.com")
    rec.server.manage("fixture_tool", "set-unusable-password", "ivan@example.com")
    i.get("auth/session", comment="ivan's session after set_unusable_password() (manage.py)")
    i2 = rec.device("ivan-2")
    i2.post("auth/code/request", {"email": "ivan@example.com"}, comment="log in by code (no password)")
    i2.post("auth/code/confirm", {"code": rec.last_code("ivan@example.com")}, comment="confirm the code")
    i3 = rec.device("ivan-3")
    i3.post("auth/code/request", {"email": "ivan@example.com"}, comment="a second session by code")
    i3.post("auth/code/confirm", {"code": rec.last_code("ivan@example.com")}, comment="confirm the code")
    i2.post(
        "account/password/change",
        {"current_password": "anything", "new_password": NEW_PASSWORD},
        comment="set a password, but give a current_password",
    )
    i2.post("account/password/change", {"new_password": "short"}, comment="set a weak password")
    i2.post("account/password/change", {"new_password": NEW_PASSWORD}, comment="set a password (no current_password)")
    i2.get("auth/session", comment="session after setting the password")
    i3.get("auth/session", comment="the other session of that user")
    i2.post(
        "account/password/change",
        {"new_password": PASSWORD},
        comment="now that a password is set, again without current_password",
    )


@scenario(
    "password_change",
    "POST account/password/change with ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE False "
    "(default): errors, success, other sessions; a user without a usable "
    "password setting one. Notification mails on.",
    ACCOUNT_EMAIL_NOTIFICATIONS=True,
    ACCOUNT_LOGIN_BY_CODE_ENABLED=True,
)
def password_change(rec: Recorder) -> None:
    _password_change(rec, logout_on_change=False)


@scenario(
    "password_change_logout",
    "As password_change with ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE=True.",
    ACCOUNT_EMAIL_NOTIFICATIONS=True,
    ACCOUNT_LOGIN_BY_CODE_ENABLED=True,
    ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE=True,
)
def password_change_logout(rec: Recorder) -> None:
    _password_change(rec, logout_on_change=True)


# --------------------------------------------------------------------------
# password reset


def _password_reset_by_key(rec: Recorder) -> None:
    a = rec.device("jack-A")
    signup(a, "jack@example.com")
    b = rec.device("jack-B")
    login(b, "jack@example.com", comment="a second session")
    r = rec.device("reset-device")
    r.post("auth/password/request", {"email": "jack@example.com"}, comment="request for a known address")
    key = rec.last_key("jack@example.com")
    r.post("auth/password/request", {"email": "nobody@example.com"}, comment="request for an unknown address")
    time.sleep(1.1)
    r.post("auth/password/request", {"email": "JACK@EXAMPLE.COM"}, comment="request for the known address in upper case, a second later")
    key2 = rec.last_key("jack@example.com")
    r.post("auth/password/request", {"email": "not-an-email"}, comment="bad address")
    r.post("auth/password/request", {}, comment="no email")
    time.sleep(1.1)
    a.post("auth/password/request", {"email": "jack@example.com"}, comment="request while signed in, a second later")
    key3 = rec.last_key("jack@example.com")
    r.get("auth/password/reset", headers={"X-Password-Reset-Key": key}, comment="GET: valid key")
    r.get("auth/password/reset", headers={"X-Password-Reset-Key": "1-notakey"}, comment="GET: invalid key")
    expired = rec.secret(
        rec.server.manage("fixture_tool", "expired-reset-key", "jack@example.com"),
        "expired_reset_key",
    )
    r.get(
        "auth/password/reset",
        headers={"X-Password-Reset-Key": expired},
        comment="GET: a key made 10 days ago (Django's PASSWORD_RESET_TIMEOUT is 3 days)",
    )
    r.get("auth/password/reset", headers={"X-Password-Reset-Key": "garbage"}, comment="GET: garbage without a dash")
    r.get("auth/password/reset", comment="GET: no header")
    r.post("auth/password/reset", {"key": key, "password": "short"}, comment="POST: weak password")
    r.post("auth/password/reset", {"key": key, "password": "jack@example.com"}, comment="POST: password like the e-mail")
    r.post("auth/password/reset", {"key": "1-notakey", "password": NEW_PASSWORD}, comment="POST: invalid key")
    r.post("auth/password/reset", {"key": "1-notakey", "password": "short"}, comment="POST: invalid key and weak password")
    r.post("auth/password/reset", {"key": key}, comment="POST: no password")
    r.post("auth/password/reset", {"key": key, "password": NEW_PASSWORD}, comment="POST: reset")
    r.post("auth/password/reset", {"key": key, "password": "Yet-Another-Pass-5"}, comment="POST: the same key again")
    r.post("auth/password/reset", {"key": key2, "password": "Yet-Another-Pass-5"}, comment="POST: a second key issued before the reset")
    r.get("auth/password/reset", headers={"X-Password-Reset-Key": key3}, comment="GET: a third key issued before the reset")
    a.get("auth/session", comment="jack's first session after the reset")
    b.get("auth/session", comment="jack's second session after the reset")
    r.get("auth/session", comment="the resetting device's session")
    login(r, "jack@example.com", comment="log in with the old password")
    login(r, "jack@example.com", NEW_PASSWORD, comment="log in with the new password")
    r.get("account/email", comment="jack's address (never verified by link): verified by the reset link?")
    a.get("auth/session", comment="jack's first session again, after that new login")


@scenario(
    "password_reset_by_key",
    "Password reset by link key: request (known/unknown), GET and POST "
    "auth/password/reset, reuse, existing sessions. Notification mails on.",
    ACCOUNT_EMAIL_NOTIFICATIONS=True,
)
def password_reset_by_key(rec: Recorder) -> None:
    _password_reset_by_key(rec)


@scenario(
    "password_reset_by_key_login_on_reset",
    "As password_reset_by_key with ACCOUNT_LOGIN_ON_PASSWORD_RESET=True.",
    ACCOUNT_EMAIL_NOTIFICATIONS=True,
    ACCOUNT_LOGIN_ON_PASSWORD_RESET=True,
)
def password_reset_by_key_login_on_reset(rec: Recorder) -> None:
    _password_reset_by_key(rec)


@scenario(
    "password_reset_by_code",
    "Password reset by code (ACCOUNT_PASSWORD_RESET_BY_CODE_ENABLED): pending "
    "flow, GET/POST with the code, wrong codes until the flow dies, timeout "
    "(ACCOUNT_PASSWORD_RESET_BY_CODE_TIMEOUT=4).",
    ACCOUNT_PASSWORD_RESET_BY_CODE_ENABLED=True,
    ACCOUNT_PASSWORD_RESET_BY_CODE_TIMEOUT=4,
    ACCOUNT_EMAIL_NOTIFICATIONS=True,
)
def password_reset_by_code(rec: Recorder) -> None:
    a = rec.device("kim-A")
    signup(a, "kim@example.com")
    r = rec.device("reset-device")
    r.post("auth/password/reset", {"key": WRONG_CODE, "password": NEW_PASSWORD}, comment="POST reset with no pending flow")
    r.get("auth/password/reset", headers={"X-Password-Reset-Key": WRONG_CODE}, comment="GET reset with no pending flow")
    r.post("auth/password/request", {"email": "kim@example.com"}, comment="request for a known address")
    code = rec.last_code("kim@example.com")
    r.get("auth/session", comment="session during the pending flow")
    r.get("auth/password/reset", headers={"X-Password-Reset-Key": WRONG_CODE}, comment="GET: wrong code (attempt 1 of 3)")
    r.get("auth/password/reset", headers={"X-Password-Reset-Key": code}, comment="GET: right code")
    r.get("auth/session", comment="session after the code was confirmed")
    r.post("auth/password/reset", {"key": code, "password": "short"}, comment="POST: weak password")
    r.post("auth/password/reset", {"key": WRONG_CODE, "password": NEW_PASSWORD}, comment="POST: wrong code (attempt 2)")
    r.post("auth/password/reset", {"key": code, "password": NEW_PASSWORD}, comment="POST: right code, good password")
    r.get("auth/session", comment="session after the reset")
    r.post("auth/password/reset", {"key": code, "password": NEW_PASSWORD}, comment="POST again after the reset")
    a.get("auth/session", comment="kim's existing session after the reset")

    r2 = rec.device("reset-device-2")
    r2.post("auth/password/request", {"email": "kim@example.com"}, comment="a new request")
    code = rec.last_code("kim@example.com")
    for n in (1, 2, 3):
        r2.post("auth/password/reset", {"key": WRONG_CODE, "password": PASSWORD}, comment=f"wrong code, attempt {n}")
    r2.post("auth/password/reset", {"key": code, "password": PASSWORD}, comment="right code after 3 wrong ones")
    r2.get("auth/session", comment="session after the flow died")

    r3 = rec.device("reset-device-3")
    r3.post("auth/password/request", {"email": "nobody@example.com"}, comment="request for an unknown address")
    r3.get("auth/session", comment="session during that (fake) flow")
    r3.post("auth/password/reset", {"key": WRONG_CODE, "password": PASSWORD}, comment="a code for the fake flow")

    r4 = rec.device("reset-device-4")
    r4.post("auth/password/request", {"email": "kim@example.com"}, comment="a request, then wait past the 4 s timeout")
    code = rec.last_code("kim@example.com")
    time.sleep(5)
    r4.get("auth/password/reset", headers={"X-Password-Reset-Key": code}, comment="GET the right code after the timeout")
    r4.get("auth/session", comment="session after the timeout")
    r4.post("auth/password/request", {"email": "kim@example.com"}, comment="a new request")
    code = rec.last_code("kim@example.com")
    r4.post("auth/password/request", {"email": "kim@example.com"}, comment="another request in the same session")
    r4.post("auth/password/reset", {"key": code, "password": PASSWORD}, comment="the code of the first of the two requests")
    code = rec.last_code("kim@example.com")
    r4.post("auth/password/reset", {"key": rec.variant(code), "password": PASSWORD}, comment="the latest code, lower case, no dash")
    kb = rec.device("kim-B")
    login(kb, "kim@example.com", comment="log in with the reset password")
    a.get("auth/session", comment="kim's old session again, after that new login")
    kb.get("account/email", comment="kim's address (never verified by link): verified by the reset code?")


# --------------------------------------------------------------------------
# reauthentication


@scenario(
    "reauthenticate",
    "ACCOUNT_REAUTHENTICATION_REQUIRED=True, ACCOUNT_REAUTHENTICATION_TIMEOUT=3: "
    "which operations ask for reauthentication, by password and by code.",
    ACCOUNT_REAUTHENTICATION_REQUIRED=True,
    ACCOUNT_REAUTHENTICATION_TIMEOUT=3,
    ACCOUNT_LOGIN_BY_CODE_ENABLED=True,
)
def reauthenticate(rec: Recorder) -> None:
    a = rec.device("leo")
    signup(a, "leo@example.com")
    a.get("auth/session", comment="session right after signup")
    a.post("account/email", {"email": "leo2@example.com"}, comment="add an address right after signup")
    a.post("auth/email/verify", {"key": rec.last_key("leo@example.com")}, comment="verify the signup address (no reauthentication needed?)")
    a.get("account/email", comment="list (needs reauthentication?)")
    a.post("account/email", {"email": "leo2@example.com"}, comment="add an address")
    a.post(
        "account/password/change",
        {"current_password": "wrong-password", "new_password": NEW_PASSWORD},
        comment="change password with a wrong current password (usable password)",
    )
    a.post("auth/reauthenticate", {"password": "wrong-password"}, comment="reauthenticate: wrong password")
    a.post("auth/reauthenticate", {}, comment="reauthenticate: no password")
    a.post("auth/reauthenticate", {"password": PASSWORD}, comment="reauthenticate: right password")
    a.post("account/email", {"email": "leo2@example.com"}, comment="add an address, just reauthenticated")
    a.patch("account/email", {"email": "leo2@example.com", "primary": True}, comment="mark unverified primary (400 or 401?)")
    a.put("account/email", {"email": "leo2@example.com"}, comment="resend verification")
    time.sleep(4)
    a.get("auth/session", comment="session after the 3 s reauthentication timeout")
    a.delete("account/email", {"email": "leo2@example.com"}, comment="remove an address after the timeout")
    a.patch("account/email", {"email": "leo@example.com", "primary": True}, comment="mark primary after the timeout")
    a.put("account/email", {"email": "leo2@example.com"}, comment="resend verification after the timeout")
    a.patch("account/email", {"email": "leo2@example.com", "primary": True}, comment="mark an unverified address primary after the timeout (400 or 401?)")
    a.delete("account/email", {"email": "nobody@example.com"}, comment="remove an unknown address after the timeout (400 or 401?)")
    a.post("account/email", {"email": "leo2@example.com"}, comment="add a duplicate address after the timeout (400 or 401?)")

    a.post("auth/reauthenticate/code/confirm", {"code": WRONG_CODE}, comment="confirm a code before requesting one")
    a.post("auth/reauthenticate/code/resend", comment="resend before requesting")
    a.post("auth/reauthenticate/code/request", {}, comment="request: no address")
    a.post("auth/reauthenticate/code/request", {"email": "nobody@example.com"}, comment="request: address not on the account")
    a.post("auth/reauthenticate/code/request", {"email": "leo2@example.com"}, comment="request: unverified address of the account")
    a.post("auth/reauthenticate/code/request", {"email": "LEO@example.com"}, comment="request: the verified address (other case)")
    code = rec.last_code("leo@example.com")
    a.get("auth/session", comment="session with a reauthentication code outstanding")
    a.post("auth/reauthenticate/code/resend", comment="resend (ACCOUNT_LOGIN_BY_CODE_SUPPORTS_RESEND unset)")
    a.delete("account/email", {"email": "leo2@example.com"}, comment="a protected operation while the code is outstanding: the flows")
    a.post("auth/reauthenticate/code/confirm", {"code": WRONG_CODE}, comment="wrong code (1)")
    a.post("auth/reauthenticate/code/confirm", {"code": WRONG_CODE}, comment="wrong code (2)")
    a.post("auth/reauthenticate/code/confirm", {"code": WRONG_CODE}, comment="wrong code (3)")
    a.post("auth/reauthenticate/code/confirm", {"code": code}, comment="right code after 3 wrong ones")
    a.post("auth/reauthenticate/code/request", {"email": "leo@example.com"}, comment="request again")
    code = rec.last_code("leo@example.com")
    a.post("auth/reauthenticate/code/confirm", {}, comment="no code")
    a.post("auth/reauthenticate/code/confirm", {"code": code}, comment="right code")
    a.delete("account/email", {"email": "leo2@example.com"}, comment="remove an address, reauthenticated by code")

    anon = rec.device("anonymous")
    anon.post("auth/reauthenticate", {"password": PASSWORD}, comment="reauthenticate without a session")
    anon.post("auth/reauthenticate/code/request", {"email": "leo@example.com"}, comment="request a code without a session")

    # A user without a usable password: password change needs reauthentication.
    m = rec.device("mia")
    signup(m, "mia@example.com")
    rec.server.manage("fixture_tool", "set-unusable-password", "mia@example.com")
    m2 = rec.device("mia-2")
    m2.post("auth/code/request", {"email": "mia@example.com"}, comment="log in by code")
    m2.post("auth/code/confirm", {"code": rec.last_code("mia@example.com")}, comment="confirm")
    m2.post("account/password/change", {"new_password": NEW_PASSWORD}, comment="set a password (no usable password): reauthentication?")
    m2.post("auth/reauthenticate", {"password": "anything"}, comment="reauthenticate by password without a usable password")
    m2.post("auth/reauthenticate/code/request", {"email": "mia@example.com"}, comment="request a reauthentication code")
    m2.post("auth/reauthenticate/code/confirm", {"code": rec.last_code("mia@example.com")}, comment="confirm it")
    m2.post("account/password/change", {"new_password": NEW_PASSWORD}, comment="set a password, reauthenticated")


@scenario(
    "reauthenticate_methods_password_only",
    "ACCOUNT_REAUTHENTICATION_REQUIRED=True with "
    "ACCOUNT_REAUTHENTICATION_METHODS=[\"password\"]: the code endpoints.",
    ACCOUNT_REAUTHENTICATION_REQUIRED=True,
    ACCOUNT_REAUTHENTICATION_METHODS=["password"],
)
def reauthenticate_methods_password_only(rec: Recorder) -> None:
    a = rec.device("leo")
    signup(a, "leo@example.com")
    a.post("auth/email/verify", {"key": rec.last_key("leo@example.com")}, comment="verify the address")
    a.post("account/email", {"email": "leo2@example.com"}, comment="add an address")
    a.post("auth/reauthenticate/code/request", {"email": "leo@example.com"}, comment="request a code")
    a.post("auth/reauthenticate/code/confirm", {"code": WRONG_CODE}, comment="confirm a code")
    a.post("auth/reauthenticate", {"password": PASSWORD}, comment="reauthenticate by password")


# --------------------------------------------------------------------------
# login by code


@scenario(
    "login_by_code",
    "ACCOUNT_LOGIN_BY_CODE_ENABLED with ACCOUNT_LOGIN_BY_CODE_TIMEOUT=3: "
    "request known/unknown, wrong codes until the flow dies, right code, timeout.",
    ACCOUNT_LOGIN_BY_CODE_ENABLED=True,
    ACCOUNT_LOGIN_BY_CODE_TIMEOUT=3,
)
def login_by_code(rec: Recorder) -> None:
    n = rec.device("nina")
    signup(n, "nina@example.com")
    x = rec.device("x")
    x.post("auth/code/confirm", {"code": WRONG_CODE}, comment="confirm with no pending flow")
    x.post("auth/code/resend", comment="resend with no pending flow")
    x.post("auth/code/request", {}, comment="request: no email")
    x.post("auth/code/request", {"email": "not-an-email"}, comment="request: bad address")
    x.post("auth/code/request", {"email": "nina@example.com"}, comment="request for a known address")
    code = rec.last_code("nina@example.com")
    x.get("auth/session", comment="session during the pending flow")
    x.post("auth/code/resend", comment="resend (ACCOUNT_LOGIN_BY_CODE_SUPPORTS_RESEND unset)")
    x.post("auth/code/confirm", {"code": WRONG_CODE}, comment="wrong code (1 of ACCOUNT_LOGIN_BY_CODE_MAX_ATTEMPTS=3)")
    x.post("auth/code/confirm", {}, comment="no code (counts as an attempt?)")
    x.post("auth/code/confirm", {"code": rec.variant(code)}, comment="right code, lower case without the dash")
    x.get("auth/session", comment="session after login by code")
    x.get("account/email", comment="the address nina signed up with (never verified by link): verified now?")
    x.post("auth/code/confirm", {"code": code}, comment="the code again, signed in")
    x.post("auth/code/request", {"email": "nina@example.com"}, comment="request while signed in")
    x.get("auth/session", comment="session after that")

    y = rec.device("y")
    y.post("auth/code/request", {"email": "NINA@example.com"}, comment="request (address in other case)")
    code = rec.last_code("nina@example.com")
    y.post("auth/code/confirm", {"code": WRONG_CODE}, comment="wrong code, attempt 1")
    y.post("auth/code/confirm", {}, comment="no code, attempt 2")
    y.post("auth/code/confirm", {"code": WRONG_CODE}, comment="wrong code, attempt 3")
    y.post("auth/code/confirm", {"code": code}, comment="right code after 3 bad attempts")
    y.get("auth/session", comment="session after the flow died")

    z = rec.device("z")
    z.post("auth/code/request", {"email": "nobody@example.com"}, comment="request for an unknown address")
    z.get("auth/session", comment="session during that flow")
    z.post("auth/code/confirm", {"code": WRONG_CODE}, comment="a code for the unknown address")

    t = rec.device("t")
    t.post("auth/code/request", {"email": "nina@example.com"}, comment="request, then wait past the 3 s timeout")
    code = rec.last_code("nina@example.com")
    time.sleep(4)
    t.get("auth/session", comment="session after the timeout")
    t.post("auth/code/confirm", {"code": code}, comment="right code after the timeout")
    t.get("auth/session", comment="session after that")

    q = rec.device("q")
    q.post("auth/code/request", {"email": "nina@example.com"}, comment="request, then cancel")
    q.delete("auth/session", comment="DELETE auth/session during the pending flow")
    q.post("auth/code/confirm", {"code": rec.last_code("nina@example.com")}, comment="the code after that")

    p = rec.device("p")
    p.post("auth/code/request", {"email": "nina@example.com"}, comment="request")
    login(p, "nina@example.com", comment="password login while a login code is pending")
    p.get("auth/session", comment="session")


@scenario(
    "login_by_code_resend",
    "Login by code with ACCOUNT_LOGIN_BY_CODE_SUPPORTS_RESEND=True.",
    ACCOUNT_LOGIN_BY_CODE_ENABLED=True,
    ACCOUNT_LOGIN_BY_CODE_SUPPORTS_RESEND=True,
)
def login_by_code_resend(rec: Recorder) -> None:
    n = rec.device("nina")
    signup(n, "nina@example.com")
    x = rec.device("x")
    x.post("auth/code/request", {"email": "nina@example.com"}, comment="request")
    first = rec.last_code("nina@example.com")
    x.post("auth/code/resend", comment="resend 1")
    x.post("auth/code/resend", comment="resend 2")
    x.post("auth/code/resend", comment="resend 3 (quota 2)")
    x.post("auth/code/confirm", {"code": first}, comment="the first code")
    x.post("auth/code/confirm", {"code": rec.last_code("nina@example.com")}, comment="the latest code")
    z = rec.device("z")
    z.post("auth/code/request", {"email": "nobody@example.com"}, comment="request for an unknown address")
    z.post("auth/code/resend", comment="resend for the unknown address")


# --------------------------------------------------------------------------
# rate limits (allauth's defaults)


def _hammer(rec: Recorder, label: str, fn: Callable[[int], object], cap: int) -> None:
    """Call fn(i) until it answers 429 (or a 400 rate-limit error), at most cap times."""
    allowed = 0
    outcome = None
    for i in range(1, cap + 1):
        r = fn(i)
        limited = r.status == 429 or any(
            e.get("code") in ("too_many_login_attempts", "rate_limited")
            for e in (r.json.get("errors") or [])
        )
        if limited:
            outcome = {"limited_at_attempt": i, "status": r.status}
            break
        allowed += 1
    rec.notes.setdefault("attempts", {})[label] = outcome or {
        "limited_at_attempt": None,
        "note": f"not limited within {cap} attempts",
    }


@scenario(
    "rate_limits",
    "allauth's default ACCOUNT_RATE_LIMITS: hammer each endpoint until it is "
    "limited. Verification by key, login by code on. Each block uses its own "
    "client address (127.0.0.N, see client_ip) and its own user, so per-IP and "
    "per-user budgets do not mix. 'observed.attempts' sums up.",
    ACCOUNT_RATE_LIMITS=RATE_LIMITS_DEFAULT,
    ACCOUNT_LOGIN_BY_CODE_ENABLED=True,
)
def rate_limits(rec: Recorder) -> None:
    o = rec.device("olga", ip="127.0.0.11")
    signup(o, "olga@example.com", comment="signup sends a verification mail (consumes confirm_email for the address)")
    _hammer(
        rec,
        "PUT account/email resend verification (confirm_email 1/180s/key)",
        lambda i: o.put("account/email", {"email": "olga@example.com"}, comment=f"resend verification #{i}"),
        4,
    )

    m = rec.device("mel", ip="127.0.0.12")
    signup(m, "mel@example.com")
    _hammer(
        rec,
        "POST account/email add (manage_email 10/m/user)",
        lambda i: m.post("account/email", {"email": f"mel{i}@example.com"}, comment=f"add address #{i}"),
        12,
    )
    _hammer(
        rec,
        "GET account/email after manage_email ran out",
        lambda i: m.get("account/email", comment=f"list #{i}"),
        2,
    )
    m.put("account/email", {"email": "mel1@example.com"}, comment="PUT (resend) after manage_email ran out")
    m.delete("account/email", {"email": "mel1@example.com"}, comment="DELETE after manage_email ran out")

    a = rec.device("anon-13", ip="127.0.0.13")
    _hammer(
        rec,
        "POST auth/password/request same address (reset_password 20/m/ip,5/m/key)",
        lambda i: a.post("auth/password/request", {"email": "olga@example.com"}, comment=f"reset request #{i}"),
        8,
    )
    a14 = rec.device("anon-14", ip="127.0.0.14")
    _hammer(
        rec,
        "POST auth/password/request distinct unknown addresses (reset_password 20/m/ip)",
        lambda i: a14.post("auth/password/request", {"email": f"u{i}@example.com"}, comment=f"reset request, address #{i}"),
        23,
    )
    a15 = rec.device("anon-15", ip="127.0.0.15")
    _hammer(
        rec,
        "POST auth/password/reset invalid key (reset_password_from_key 20/m/ip)",
        lambda i: a15.post("auth/password/reset", {"key": f"1-bad{i}", "password": NEW_PASSWORD}, comment=f"bad reset key #{i}"),
        23,
    )
    a15.get("auth/password/reset", headers={"X-Password-Reset-Key": "1-bad"}, comment="GET after the POSTs ran out")
    a16 = rec.device("anon-16", ip="127.0.0.16")
    _hammer(
        rec,
        "GET auth/password/reset invalid key (GETs are not rate limited)",
        lambda i: a16.get("auth/password/reset", headers={"X-Password-Reset-Key": f"1-bad{i}"}, comment=f"GET bad reset key #{i}"),
        22,
    )

    c17 = rec.device("code-17", ip="127.0.0.17")
    _hammer(
        rec,
        "POST auth/code/request same address (request_login_code 20/m/ip,3/m/key)",
        lambda i: c17.post("auth/code/request", {"email": "olga@example.com"}, comment=f"login code request #{i}"),
        6,
    )
    c18 = rec.device("code-18", ip="127.0.0.18")
    _hammer(
        rec,
        "POST auth/code/request distinct unknown addresses (request_login_code 20/m/ip)",
        lambda i: c18.post("auth/code/request", {"email": f"v{i}@example.com"}, comment=f"login code request, address #{i}"),
        23,
    )

    cp = rec.device("cat", ip="127.0.0.19")
    signup(cp, "cat@example.com")
    _hammer(
        rec,
        "POST account/password/change wrong current (change_password 5/m/user)",
        lambda i: cp.post("account/password/change", {"current_password": "wrong", "new_password": NEW_PASSWORD}, comment=f"change password #{i}"),
        7,
    )
    cp.post("account/password/change", {"current_password": PASSWORD, "new_password": NEW_PASSWORD}, comment="right current password after that")

    ra = rec.device("rea", ip="127.0.0.20")
    signup(ra, "rea@example.com")
    _hammer(
        rec,
        "POST auth/reauthenticate wrong password (counts as failed login: login_failed 5/300s/key)",
        lambda i: ra.post("auth/reauthenticate", {"password": "wrong"}, comment=f"reauthenticate, wrong #{i}"),
        7,
    )
    ra.post("auth/reauthenticate", {"password": PASSWORD}, comment="right password after that")
    login(rec.device("rea-2", ip="127.0.0.20"), "rea@example.com", comment="log in as that user after that")
    rb = rec.device("reb", ip="127.0.0.21")
    signup(rb, "reb@example.com")
    _hammer(
        rec,
        "POST auth/reauthenticate right password (reauthenticate 10/m/user)",
        lambda i: rb.post("auth/reauthenticate", {"password": PASSWORD}, comment=f"reauthenticate, right #{i}"),
        12,
    )

    lf = rec.device("login-22", ip="127.0.0.22")
    signup(rec.device("lou", ip="127.0.0.23"), "lou@example.com")
    _hammer(
        rec,
        "POST auth/login wrong password, one address (login_failed 5/300s/key)",
        lambda i: login(lf, "lou@example.com", "wrong-password", comment=f"wrong password #{i}"),
        7,
    )
    login(lf, "lou@example.com", comment="right password after that")
    lf24 = rec.device("login-24", ip="127.0.0.24")
    _hammer(
        rec,
        "POST auth/login wrong password, distinct unknown addresses (login_failed 10/m/ip)",
        lambda i: login(lf24, f"w{i}@example.com", "wrong-password", comment=f"wrong login, address #{i}"),
        12,
    )
    login(lf24, "olga@example.com", comment="right password for a known user from that address after that")

    sg = rec.device("signup-25", ip="127.0.0.25")
    _hammer(
        rec,
        "POST auth/signup (signup 20/m/ip)",
        lambda i: sg.post("auth/signup", {"email": "bad", "password": PASSWORD}, comment=f"signup (invalid) #{i}"),
        22,
    )


@scenario(
    "rate_limits_by_code",
    "allauth's default ACCOUNT_RATE_LIMITS with verification by code "
    "(confirm_email becomes 1/10s/key) and password reset by code.",
    ACCOUNT_RATE_LIMITS=RATE_LIMITS_DEFAULT,
    ACCOUNT_EMAIL_VERIFICATION="mandatory",
    ACCOUNT_EMAIL_VERIFICATION_BY_CODE_ENABLED=True,
    ACCOUNT_EMAIL_VERIFICATION_SUPPORTS_RESEND=True,
    ACCOUNT_PASSWORD_RESET_BY_CODE_ENABLED=True,
)
def rate_limits_by_code(rec: Recorder) -> None:
    p = rec.device("pia", ip="127.0.0.31")
    signup(p, "pia@example.com")
    _hammer(
        rec,
        "POST auth/email/verify/resend right after signup (confirm_email 1/10s/key)",
        lambda i: p.post("auth/email/verify/resend", comment=f"resend #{i}"),
        3,
    )
    p2 = rec.device("pia-2", ip="127.0.0.32")
    login(p2, "pia@example.com", comment="login of the unverified user within the 10 s window")
    p2.get("auth/session", comment="that device's session")
    for i in (1, 2, 3):
        p.post("auth/email/verify", {"key": WRONG_CODE}, comment=f"wrong code #{i} (attempt limit, not rate limit)")
    a = rec.device("anon", ip="127.0.0.33")
    _hammer(
        rec,
        "POST auth/password/request by code, same address (reset_password 5/m/key)",
        lambda i: a.post("auth/password/request", {"email": "pia@example.com"}, comment=f"reset request #{i}"),
        8,
    )


# --------------------------------------------------------------------------
# bad input


def _bad_inputs(dev: Device, method: str, path: str, cases: list[tuple[str, object]]) -> None:
    for label, body in cases:
        if isinstance(body, RawBody):
            dev.call(method, path, raw=body.text, headers=body.headers, comment=f"{method} {path}: {label}")
        else:
            dev.call(method, path, body, comment=f"{method} {path}: {label}")


class RawBody:
    def __init__(self, text: str | bytes, headers: dict | None = None):
        self.text = text
        self.headers = headers or {}


COMMON_BAD = [
    ("malformed JSON", RawBody('{"email": ')),
    ("a JSON array", RawBody('["x"]')),
    ("a JSON string", RawBody('"x"')),
    ("JSON null", RawBody("null")),
    ("empty body", RawBody("")),
    ("form-encoded body", RawBody("email=a%40example.com", {"Content-Type": "application/x-www-form-urlencoded"})),
    ("invalid UTF-8", RawBody(b'{"email": "\xff"}')),
    ("empty object", {}),
]


@scenario(
    "bad_input",
    "Malformed JSON, missing fields and wrong types on each endpoint: the 400 "
    "bodies. Verification optional by key, login by code on, reset by key.",
    ACCOUNT_LOGIN_BY_CODE_ENABLED=True,
)
def bad_input(rec: Recorder) -> None:
    u = rec.device("quinn")
    signup(u, "quinn@example.com")
    anon = rec.device("anonymous")
    email_types = [
        ("email: number", {"email": 123}),
        ("email: list", {"email": ["quinn@example.com"]}),
        ("email: object", {"email": {"a": 1}}),
        ("email: null", {"email": None}),
        ("email: true", {"email": True}),
        ("email: empty string", {"email": ""}),
        ("email: spaces around", {"email": "  quinn@example.com  "}),
        ("email: 255 characters", {"email": "a" * 243 + "@example.com"}),
        ("unknown extra field", {"email": "nobody@example.com", "extra": 1}),
    ]
    _bad_inputs(anon, "POST", "auth/password/request", COMMON_BAD + email_types)
    _bad_inputs(anon, "POST", "auth/code/request", COMMON_BAD[:1] + [("empty object", {})] + email_types[:4])
    _bad_inputs(
        anon,
        "POST",
        "auth/password/reset",
        COMMON_BAD
        + [
            ("key only", {"key": "1-abc"}),
            ("password only", {"password": NEW_PASSWORD}),
            ("key: number", {"key": 5, "password": NEW_PASSWORD}),
            ("password: number", {"key": "1-abc", "password": 12345678}),
            ("key: null", {"key": None, "password": NEW_PASSWORD}),
        ],
    )
    _bad_inputs(
        anon,
        "POST",
        "auth/email/verify",
        COMMON_BAD + [("key: number", {"key": 5}), ("key: null", {"key": None}), ("key: list", {"key": ["a"]})],
    )
    _bad_inputs(
        u,
        "POST",
        "account/password/change",
        COMMON_BAD
        + [
            ("new_password only", {"new_password": NEW_PASSWORD}),
            ("current_password only", {"current_password": PASSWORD}),
            ("new_password: number", {"current_password": PASSWORD, "new_password": 12345678}),
            ("current_password: number", {"current_password": 1, "new_password": NEW_PASSWORD}),
            ("new_password: list", {"current_password": PASSWORD, "new_password": ["x"]}),
        ],
    )
    _bad_inputs(u, "POST", "account/email", COMMON_BAD + email_types[:6])
    _bad_inputs(u, "PUT", "account/email", COMMON_BAD[:1] + [("empty object", {})] + email_types[:4])
    _bad_inputs(
        u,
        "PATCH",
        "account/email",
        COMMON_BAD[:1]
        + [
            ("empty object", {}),
            ("primary only", {"primary": True}),
            ("primary: string", {"email": "quinn@example.com", "primary": "yes"}),
            ("primary: \"false\"", {"email": "quinn@example.com", "primary": "false"}),
            ("primary: 1", {"email": "quinn@example.com", "primary": 1}),
            ("primary: 0", {"email": "quinn@example.com", "primary": 0}),
            ("email: number", {"email": 1, "primary": True}),
        ],
    )
    _bad_inputs(u, "DELETE", "account/email", COMMON_BAD[:1] + [("empty object", {})] + email_types[:4])
    _bad_inputs(
        u,
        "POST",
        "auth/reauthenticate",
        COMMON_BAD[:1] + [("empty object", {}), ("password: number", {"password": 1}), ("password: null", {"password": None})],
    )
    _bad_inputs(
        u,
        "POST",
        "auth/reauthenticate/code/request",
        COMMON_BAD[:1]
        + [("empty object", {}), ("email: number", {"email": 1}), ("email and phone", {"email": "quinn@example.com", "phone": "+15555550123"})],
    )
    lc = rec.device("code-device")
    lc.post("auth/code/request", {"email": "quinn@example.com"}, comment="start a login-by-code flow for the confirm cases")
    _bad_inputs(
        lc,
        "POST",
        "auth/code/confirm",
        COMMON_BAD[:1] + [("code: number", {"code": 12345678}), ("code: null", {"code": None})],
    )
    _bad_inputs(
        anon,
        "POST",
        "auth/login",
        COMMON_BAD[:1]
        + [
            ("empty object", {}),
            ("email: number", {"email": 1, "password": PASSWORD}),
            ("password: number", {"email": "quinn@example.com", "password": 1}),
            ("password: null", {"email": "quinn@example.com", "password": None}),
            ("username instead of email", {"username": "quinn", "password": PASSWORD}),
        ],
    )
    _bad_inputs(
        anon,
        "POST",
        "auth/signup",
        COMMON_BAD[:1]
        + [
            ("empty object", {}),
            ("email: number", {"email": 1, "password": PASSWORD}),
            ("password: list", {"email": "new@example.com", "password": ["x"]}),
        ],
    )
    _bad_inputs(anon, "POST", "tokens/refresh", COMMON_BAD[:1] + [("empty object", {}), ("refresh_token: number", {"refresh_token": 1})])
    u.call("GET", "auth/session", auth=False, headers={"X-Session-Token": INVALID_SESSION}, comment="unknown session token")
    u.call("PUT", "auth/session", comment="PUT auth/session (method not allowed)")
    anon.call("GET", "auth/code/request", comment="GET on a POST-only endpoint")
    anon.call("POST", "auth/password/change", {}, comment="a path that does not exist")


# --------------------------------------------------------------------------
# GET config / anonymous session, for every configuration


def record_config(server: Server, name: str) -> dict:
    rec = Recorder(server, "config", "")
    anon = rec.device("anonymous")
    anon.get("config", comment="GET config")
    anon.get("auth/session", comment="anonymous session: the flows")
    doc = rec.to_json()
    return {"configuration": name, "settings": doc["settings"], "exchanges": doc["exchanges"]}


EXTRA_CONFIGS = [
    (
        "everything_by_code",
        "verification, login and password reset by code",
        dict(
            ACCOUNT_EMAIL_VERIFICATION="mandatory",
            ACCOUNT_EMAIL_VERIFICATION_BY_CODE_ENABLED=True,
            ACCOUNT_LOGIN_BY_CODE_ENABLED=True,
            ACCOUNT_PASSWORD_RESET_BY_CODE_ENABLED=True,
        ),
    ),
    (
        "usersessions_track_activity",
        "USERSESSIONS_TRACK_ACTIVITY=True",
        dict(USERSESSIONS_TRACK_ACTIVITY=True),
    ),
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenarios", nargs="*", help="record only these (default: all, plus config.json)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (db, mail, server logs)")
    args = ap.parse_args()
    known = {s.name for s in SCENARIOS}
    unknown = set(args.scenarios) - known
    if unknown:
        ap.error(f"unknown scenarios: {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}")
    selected = [s for s in SCENARIOS if not args.scenarios or s.name in args.scenarios]

    os.makedirs(OUT, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="hallpass-allauth-record-")
    jwt_key = make_jwt_key()
    started = time.monotonic()
    config_runs = []
    failed = []
    try:
        template = make_template_db(workdir)
        for sc in selected:
            overrides = dict(sc.overrides)
            if overrides.get("HEADLESS_TOKEN_STRATEGY") == JWT_STRATEGY:
                overrides["HEADLESS_JWT_PRIVATE_KEY"] = jwt_key
            server = Server(workdir, template, sc.name, overrides)
            server.start()
            try:
                if not args.scenarios:
                    config_runs.append(record_config(server, sc.name))
                rec = Recorder(server, sc.name, sc.description)
                t0 = time.monotonic()
                try:
                    sc.fn(rec)
                except Exception as e:  # keep what was recorded, say what broke
                    failed.append(sc.name)
                    rec.notes["recorder_error"] = f"{type(e).__name__}: {e}"
                    print(f"!! {sc.name}: {type(e).__name__}: {e}", file=sys.stderr)
                write_json(os.path.join(OUT, f"{sc.name}.json"), rec.to_json())
                print(f"{sc.name}: {len(rec.exchanges)} exchanges, {time.monotonic() - t0:.1f}s")
            finally:
                server.stop()
        if not args.scenarios:
            for name, _desc, overrides in EXTRA_CONFIGS:
                if overrides is None:
                    continue
                server = Server(workdir, template, name, overrides)
                server.start()
                try:
                    config_runs.append(record_config(server, name))
                finally:
                    server.stop()
            write_json(
                os.path.join(OUT, "config.json"),
                {
                    "scenario": "config",
                    "description": "GET config and an anonymous GET auth/session under each configuration.",
                    "allauth_version": "65.22.1",
                    "runs": config_runs,
                },
            )
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"done in {time.monotonic() - started:.1f}s")
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def make_jwt_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    return (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )


def write_json(path: str, doc: dict) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    sys.exit(main())
