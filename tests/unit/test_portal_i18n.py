"""The portal's catalogues are complete: every message the templates and the code mark is in
the template (messages.pot) and in English and Spanish, every Spanish message is translated
with the same placeholders, and every status, reason and role the pages name has a message."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from contracts.events import DeclineReason, PartnerStatus
from services.portal import i18n, messages, present
from services.portal.domain import LANGUAGES, ORG_KINDS, ROLES

pytestmark = pytest.mark.unit

PORTAL = Path(i18n.__file__).parent
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def extracted() -> set[str]:
    """What `pybabel extract -F services/portal/babel.cfg -k N_` finds (docs/portals.md)."""
    method_map = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(str(PORTAL), method_map, keywords=keywords):
        found.add(message if isinstance(message, str) else message[0])
    return found


def catalogue(name: str):  # type: ignore[no-untyped-def]
    path = PORTAL / "locales" / (name if name.endswith(".pot") else f"{name}/LC_MESSAGES/messages.po")
    with path.open("rb") as fh:
        return read_po(fh)


def test_the_template_has_every_message_the_code_and_templates_mark() -> None:
    marked = extracted()
    assert len(marked) > 100
    pot = {m.id for m in catalogue("messages.pot") if m.id}
    assert marked - pot == set(), "run pybabel extract (docs/portals.md, Translations)"
    assert pot - marked == set(), "messages no page uses any more"


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_language_has_every_message_translated(language: str) -> None:
    pot = {m.id for m in catalogue("messages.pot") if m.id}
    cat = catalogue(language)
    entries = {m.id: m for m in cat if m.id}
    assert set(entries) == pot
    for msgid, entry in entries.items():
        assert entry.string and not entry.fuzzy, f"{language}: {msgid!r} untranslated"
        assert set(PLACEHOLDER.findall(entry.string)) == set(PLACEHOLDER.findall(msgid)), (language, msgid)
        if language == "en":
            assert entry.string == msgid
    # The page's gettext finds them (the compiled catalogue is the one the portal reads).
    _ = i18n.gettext_for(language)
    assert _("Sign in") == {"en": "Sign in", "es": "Iniciar sesión"}[language]
    assert _("Welcome, %(name)s", name="Ana") == {"en": "Welcome, Ana", "es": "Bienvenido/a, Ana"}[language]


def test_every_status_reason_role_and_kind_has_a_message() -> None:
    assert set(messages.STATUSES) == {s.value for s in PartnerStatus}
    assert set(present.REASONS) == {r.value for r in DeclineReason}
    assert set(messages.ROLES) == set(ROLES)
    assert set(messages.ORG_KINDS) == set(ORG_KINDS)


def test_a_language_we_do_not_have_is_english() -> None:
    assert i18n.gettext_for("fr")("Sign in") == "Sign in"


def test_the_catalogues_are_as_the_documented_commands_write_them(tmp_path: Path) -> None:
    """docs/portals.md's extract and update, run on these sources, change nothing: so a
    message's update is its own diff, and entries added by hand elsewhere than pybabel puts
    them are caught here rather than moved in someone else's next update."""
    import shutil
    import subprocess
    import sys

    root = PORTAL.parent.parent
    locales = tmp_path / "locales"
    shutil.copytree(PORTAL / "locales", locales)
    babel = [sys.executable, "-m", "babel.messages.frontend"]
    subprocess.run(
        [*babel, "extract", "-F", str(PORTAL / "babel.cfg"), "-k", "N_", "--no-location", "--sort-output",
         "--omit-header", "-w", "120", "-o", str(locales / "messages.pot"), "services/portal"],
        cwd=root, check=True, capture_output=True,
    )
    subprocess.run(
        [*babel, "update", "-i", str(locales / "messages.pot"), "-d", str(locales), "--ignore-obsolete",
         "--ignore-pot-creation-date", "-w", "120"],
        cwd=root, check=True, capture_output=True,
    )
    for name in ("messages.pot", "en/LC_MESSAGES/messages.po", "es/LC_MESSAGES/messages.po"):
        assert (locales / name).read_bytes() == (PORTAL / "locales" / name).read_bytes(), (
            f"{name} is not as docs/portals.md's pybabel commands write it: run them"
        )
