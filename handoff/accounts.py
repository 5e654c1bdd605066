"""Accounts of the people who use the console and the partner API: roles and Argon2 hashes."""

from __future__ import annotations

import functools
import re
import secrets
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from core.store import Store

ROLES = ("counsellor", "supervisor", "partner", "admin")
_USERNAME = re.compile(r"^[A-Za-z0-9._-]{2,64}$")
MIN_PASSWORD_CHARS = 10

_hasher = PasswordHasher()


class AccountError(ValueError):
    """The account cannot be created as asked."""


def add_user(store: Store, username: str, role: str, password: str) -> None:
    """Create an account; the password is kept only as an Argon2 hash."""
    if not _USERNAME.match(username):
        raise AccountError("the name may use letters, digits, dot, dash and underscore (2 to 64)")
    if role not in ROLES:
        raise AccountError(f"the role must be one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD_CHARS:
        raise AccountError(f"the password needs at least {MIN_PASSWORD_CHARS} characters")
    if store.get_user(username) is not None:
        raise AccountError(f"an account named {username!r} already exists")
    store.add_user(username, role, _hasher.hash(password))


def remove_user(store: Store, username: str) -> None:
    """Remove an account and end its sessions (its open consoles close within seconds).

    Refused while it holds open cases: the women in them would wait for someone who is gone.
    """
    if store.get_user(username) is None:
        raise AccountError(f"there is no account named {username!r}")
    held = store.cases_held_by(username)
    if held:
        numbers = ", ".join(f"#{case_id}" for case_id in held)
        raise AccountError(f"{username!r} holds open cases ({numbers}): transfer or close them first")
    store.remove_user(username)


def new_password() -> str:
    return secrets.token_urlsafe(12)


@functools.cache
def _unknown_user_hash() -> str:
    """Verified against for unknown names, so that a wrong name takes as long as a wrong password.
    Made at the first such login, not at import: Argon2 takes 64 MiB, which every process that
    imports this module (the gateway at start, each `maak` command) would otherwise pay."""
    return _hasher.hash(secrets.token_urlsafe(16))


def check_password(store: Store, username: str, password: str) -> dict[str, Any] | None:
    """The account if the password is right, else None (same time and answer for an unknown name)."""
    user = store.get_user(username) if _USERNAME.match(username) else None
    try:
        _hasher.verify(user["password_hash"] if user else _unknown_user_hash(), password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    return user
