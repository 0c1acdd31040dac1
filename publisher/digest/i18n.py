"""The digest's own words in the reader's language: gettext catalogs (publisher/locale/<lang>/
LC_MESSAGES/messages.po, read with Babel and compiled in memory), English by default.

The messages are the `{% trans %}` blocks of the email templates; `catalog_gaps` says which of
them a catalog lacks (a test fails on any)."""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALES = Path(__file__).resolve().parents[1] / "locale"
# Messages of the Python code (the greeting is a per-reader value, made in build.py).
CODE_MESSAGES = frozenset({"Hello %(name)s,", "Hello,"})
TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "email"


def catalog_languages() -> list[str]:
    """The languages a catalog ships for (English is the templates' own)."""
    return sorted(p.name for p in LOCALES.iterdir() if (p / "LC_MESSAGES/messages.po").exists())


@cache
def translations(language: str) -> NullTranslations:
    """The catalog of `language` ("es", or "es" for "es-MX"), or no translation (English)."""
    for tag in (language, language.split("-", 1)[0]):
        path = LOCALES / tag.replace("-", "_") / "LC_MESSAGES" / "messages.po"
        if tag and path.exists():
            with path.open("rb") as po:
                catalog = read_po(po, locale=tag.replace("-", "_"))
            compiled = io.BytesIO()
            write_mo(compiled, catalog)
            compiled.seek(0)
            return Translations(compiled)
    return NullTranslations()


def template_messages() -> set[str]:
    """Every message of the email templates (what each catalog must translate)."""
    method = [("**.j2", "jinja2.ext:babel_extract")]
    options = {"**.j2": {"trimmed": "true"}}
    found = {
        message if isinstance(message, str) else message[0]
        for _, _, message, _, _ in extract_from_dir(
            TEMPLATES, method_map=method, options_map=options
        )
    }
    return found | CODE_MESSAGES


def catalog_gaps(language: str) -> set[str]:
    """The template messages `language`'s catalog leaves untranslated."""
    path = LOCALES / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as po:
        catalog = read_po(po)
    return {
        message
        for message in template_messages()
        if message not in catalog or not catalog[message].string
    }
