"""The portal's words in English and Spanish: gettext catalogues (locales/<lang>/LC_MESSAGES/
messages.po, made with Babel from locales/messages.pot) read at start, no compile step.

Templates and code say `_("English text", name=value)`: the message is looked up in the
page's language, then formatted with the named values (after escaping, in templates). The
catalogues are checked for completeness by tests/unit/test_portal_i18n.py.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from services.portal.domain import LANGUAGES

LOCALES = Path(__file__).parent / "locales"
DOMAIN = "messages"

Gettext = Callable[..., str]


@cache
def translations(language: str) -> Translations:
    with (LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as fh:
        catalog = read_po(fh, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def gettext_for(language: str) -> Gettext:
    """`_(message, **values)` in `language` (English for a language we do not have)."""
    table = translations(language if language in LANGUAGES else "en")

    def _(message: str, **values: object) -> str:
        text = table.gettext(message)
        return text % values if values else text

    return _


def load_all() -> None:
    """Read every catalogue now, so a broken one stops the process at start, not a page later."""
    for language in LANGUAGES:
        translations(language)
