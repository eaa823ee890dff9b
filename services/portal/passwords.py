"""Passwords, hashed with argon2id. The cost is argon2-cffi's default (RFC 9106's second
recommended parameter set: 3 passes over 64 MiB) unless the settings lower it
(TALENTLOOP_PORTAL_ARGON2_TIME_COST, _MEMORY_KIB: the tests do, to stay fast on a busy
machine); a hash made with other parameters is replaced at the next sign-in."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()  # Type.ID is the default
# Checked when the e-mail names no user, so an unknown address costs as long as a wrong password.
_dummy = _hasher.hash("not anyone's password")


def configure(time_cost: int, memory_kib: int) -> None:
    """The process's hashing cost (set once, at start)."""
    global _hasher, _dummy
    if (_hasher.time_cost, _hasher.memory_cost) != (time_cost, memory_kib):
        _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)
        _dummy = _hasher.hash("not anyone's password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _dummy, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
