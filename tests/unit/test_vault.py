"""Sealing with a candidate key: what a sealed value holds, and what opens it."""

from __future__ import annotations

import json
from datetime import date

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from plumbing.vault import CandidateKey, Unreadable, Vault, _unb64, new_master_key, parse_previous_master_keys

SECRET = bytes(range(32))
DATA = {"given_name": "Zoë", "email": "zoe@example.org", "phone": None, "since": date(2026, 2, 1), "tags": ["a", "b"]}


def test_a_seal_holds_the_sorted_compact_json_any_aes_gcm_of_the_key_opens():
    """The cipher is set up once per key; what it writes is what a fresh one reads."""
    key = CandidateKey("cand_x", 3, SECRET)
    sealed = key.seal(DATA, "contact")
    plaintext = AESGCM(SECRET).decrypt(_unb64(sealed.nonce), _unb64(sealed.ciphertext), b"cand_x#3|contact")
    assert plaintext == json.dumps(DATA, separators=(",", ":"), sort_keys=True, default=str).encode()
    assert key.open(sealed, "contact") == {**DATA, "since": "2026-02-01"}
    assert [key.seal(DATA, "contact").nonce for _ in range(3)] != [sealed.nonce] * 3  # a fresh nonce each time


def test_a_seal_opens_only_with_its_key_and_purpose():
    key = CandidateKey("cand_x", 1, SECRET)
    sealed = key.seal(DATA, "contact")
    with pytest.raises(Unreadable):
        key.open(sealed, "demographics")
    with pytest.raises(Unreadable):
        CandidateKey("cand_x", 1, b"z" * 32).open(sealed, "contact")
    with pytest.raises(Unreadable):
        CandidateKey("cand_y", 1, SECRET).open(sealed, "contact")
    assert CandidateKey("cand_x", 1, SECRET).open(sealed, "contact")["email"] == "zoe@example.org"


def test_keys_compare_by_candidate_version_and_secret_only():
    assert CandidateKey("cand_x", 1, SECRET) == CandidateKey("cand_x", 1, SECRET)
    assert hash(CandidateKey("cand_x", 1, SECRET)) == hash(CandidateKey("cand_x", 1, SECRET))
    assert CandidateKey("cand_x", 1, SECRET) != CandidateKey("cand_x", 2, SECRET)


def test_previous_master_keys_are_a_comma_separated_list_and_a_bad_one_names_the_setting():
    a, b = new_master_key(), new_master_key()
    assert parse_previous_master_keys(None) == parse_previous_master_keys(" ") == ()
    assert parse_previous_master_keys(f"{a}, {b},") == (_unb64(a), _unb64(b))
    with pytest.raises(ValueError, match="TALENTLOOP_MASTER_KEY_PREVIOUS"):
        parse_previous_master_keys(f"{a},not-a-key")


def test_a_vault_wraps_with_its_current_key_and_unwraps_with_a_previous_one_too():
    old_key, new_key = new_master_key(), new_master_key()
    old = Vault.configured(old_key)
    wrapped_old = old._wrap("cand_x", SECRET)
    rotating = Vault.configured(new_key, f"{new_master_key()},{old_key}")
    assert rotating._unwrap("cand_x", 1, wrapped_old).secret == SECRET
    wrapped_new = rotating._wrap("cand_x", SECRET)
    assert Vault.configured(new_key)._unwrap("cand_x", 1, wrapped_new).secret == SECRET  # the new key alone
    with pytest.raises(Unreadable, match="nor a previous one"):
        old._unwrap("cand_x", 1, wrapped_new)
    with pytest.raises(Unreadable):
        rotating._unwrap("cand_y", 1, wrapped_old)  # bound to its candidate, whatever the key
