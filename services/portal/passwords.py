"""Passwords, hashed with argon2id (argon2-cffi's defaults, RFC 9106's second recommended
parameter set); a hash made with older parameters is replaced at the next sign-in."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()  # Type.ID is the default
# Checked when the e-mail names no user, so an unknown address costs as long as a wrong password.
_DUMMY = _HASHER.hash("not anyone's password")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify(password_hash: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash or _DUMMY, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _HASHER.check_needs_rehash(password_hash)
