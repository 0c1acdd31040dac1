"""Language tags (BCP 47) as articles and readers carry them."""

from __future__ import annotations

import re

_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


def language_tag(raw: object) -> str:
    """A BCP 47 language tag in its usual case ("pt-BR"), or "" (the site's language) when
    there is none or it is not a tag: a wrong tag never costs the article."""
    text = str(raw or "").strip().replace("_", "-")
    if not _LANGUAGE.match(text) or len(text) > 35:
        return ""
    head, *rest = text.split("-")
    tail = [
        part.upper() if len(part) == 2 else part.title() if len(part) == 4 else part.lower()
        for part in rest
    ]
    return "-".join([head.lower(), *tail])
