"""Who may do what: roles, password hashing, sign-in with rate limiting, idle-expiring sessions.

Roles: a **viewer** reads everything and decides nothing; a **moderator** also
decides, labels, claims and undoes their own decisions; an **admin** also
undoes anyone's decisions and manages users. The store enforces these rules on
every write (:func:`require`), so a page that forgot to hide a button still
cannot record a viewer's decision.

Passwords are kept only as argon2id hashes (``argon2-cffi``). A failed sign-in
says the same whether the name exists or not, and after
``MAX_FAILED_SIGN_INS`` failures within ``FAILED_SIGN_IN_WINDOW`` a name is
refused until the window has passed. A session is a random token held by the
browser tab; the store keeps only its SHA-256, and the session ends after
``idle`` without activity or at sign-out.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from functools import cache
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

if TYPE_CHECKING:
    from moderation.store import Store

ROLES = ("viewer", "moderator", "admin")
# what each role may do; the store checks these names
PERMISSIONS = {
    "viewer": frozenset(),
    "moderator": frozenset({"decide", "label", "claim"}),
    "admin": frozenset({"decide", "label", "claim", "undo_others", "manage_users", "manage_desk"}),
}
# a store without any user is a single-user store: its one user is in charge (local use on 127.0.0.1)
SINGLE_USER_ROLE = "admin"
MAX_FAILED_SIGN_INS = 5
FAILED_SIGN_IN_WINDOW = timedelta(minutes=15)
DEFAULT_IDLE = timedelta(minutes=30)
DEFAULT_CLAIM = timedelta(minutes=5)  # how long a moderator's claim on a comment holds
MIN_PASSWORD_LENGTH = 8
SIGN_IN_REFUSED = "Unknown user name or wrong password."

# addresses that only this machine reaches: the dashboard may run without sign-in there
LOCAL_ADDRESSES = ("127.0.0.1", "localhost", "::1")

_hasher = PasswordHasher()


@cache
def _unknown_user_hash() -> str:
    # verified against when the name is unknown, so both failures take the same time
    return _hasher.hash(secrets.token_hex(16))


class Forbidden(PermissionError):
    """The user's role does not allow the action (or the name is not a user of a team store)."""


class SignInRefused(Exception):
    """A sign-in failed; the message never says whether the name exists."""


@dataclass(frozen=True)
class Session:
    """A signed-in user: ``token`` is the secret the browser tab holds."""

    token: str
    user: str
    role: str


def require(role: str | None, permission: str, user: str) -> None:
    """Raise :class:`Forbidden` unless ``role`` has ``permission`` (``role`` None: not a user)."""
    if role is None:
        raise Forbidden(f"{user!r} is not a user of this store; an admin adds users with "
                        "`python -m moderation users add NAME --role moderator --store URL`")
    if permission not in PERMISSIONS[role]:
        raise Forbidden(f"{user} is a {role}: a {role} may not {permission.replace('_', ' ')}")


def is_local(address: str | None) -> bool:
    """Whether a server on ``address`` is reachable only from this machine (None or "": every interface)."""
    return address in LOCAL_ADDRESSES


def check_role(role: str) -> str:
    """``role`` if it is one of :data:`ROLES`, else ValueError."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    return role


def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` (at least ``MIN_PASSWORD_LENGTH`` characters)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches ``password_hash`` (None: unknown user, checked against a dummy hash)."""
    try:
        return _hasher.verify(password_hash or _unknown_user_hash(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def token_digest(token: str) -> str:
    """What the store keeps of a session token."""
    return hashlib.sha256(token.encode()).hexdigest()


def sign_in(store: Store, name: str, password: str) -> Session:
    """Check ``name`` and ``password``; a new session, or :class:`SignInRefused`.

    Every attempt is logged (``sign_in`` or ``sign_in_failed``); the password never is.
    """
    name = name.strip()
    now = datetime.now(UTC)
    if store.count_events("sign_in_failed", name, now - FAILED_SIGN_IN_WINDOW) >= MAX_FAILED_SIGN_INS:
        store.log_event(name, "sign_in_failed", name, "refused: too many failed sign-ins")
        minutes = int(FAILED_SIGN_IN_WINDOW.total_seconds() // 60)
        raise SignInRefused(f"Too many failed sign-ins for this name; try again in {minutes} minutes.")
    user = store.user(name)
    if not verify_password(user["password_hash"] if user else None, password):
        store.log_event(name, "sign_in_failed", name, "wrong name or password")
        raise SignInRefused(SIGN_IN_REFUSED)
    token = secrets.token_urlsafe(32)
    store.open_session(token_digest(token), user["name"])
    store.log_event(user["name"], "sign_in", user["name"])
    return Session(token, user["name"], user["role"])


def current_session(store: Store, token: str | None, idle: timedelta = DEFAULT_IDLE) -> Session | None:
    """The live session of ``token`` (its idle clock restarted), None when unknown, signed out or idle too long."""
    if not token:
        return None
    found = store.touch_session(token_digest(token), idle)
    return Session(token, found["name"], found["role"]) if found else None


def sign_out(store: Store, token: str) -> None:
    """End the session of ``token`` (logged as ``sign_out``)."""
    name = store.close_session(token_digest(token))
    if name:
        store.log_event(name, "sign_out", name)
