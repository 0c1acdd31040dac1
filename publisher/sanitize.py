"""HTML sanitising and plain-text extraction, the one policy every source goes through."""

from __future__ import annotations

import html
import re

import nh3

_TAGS = nh3.ALLOWED_TAGS | {"figure", "figcaption", "picture", "source"}
_ATTRIBUTES = {
    **nh3.ALLOWED_ATTRIBUTES,
    "img": nh3.ALLOWED_ATTRIBUTES.get("img", set()) | {"loading", "width", "height"},
    "source": {"src", "type", "media"},
}
_SCHEMES = {"http", "https", "mailto"}
_SPACE = re.compile(r"\s+")
# Characters XML 1.0 forbids (and lone surrogates, which cannot be encoded); lxml refuses them.
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def clean_html(fragment: str, base_url: str) -> str:
    """Sanitise HTML: no script, event handler or javascript: URL; relative URLs made absolute."""
    return nh3.clean(
        strip_forbidden(fragment),
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes=_SCHEMES,
        url_relative=("rewrite_with_base", base_url),
    )


def plain_text(fragment: str) -> str:
    """The text of an HTML fragment, entities decoded (once) and whitespace collapsed."""
    if "<" not in fragment and "&" not in fragment:
        return collapse(fragment)
    text = nh3.clean(strip_forbidden(fragment), tags=set(), clean_content_tags={"script", "style"})
    return _SPACE.sub(" ", html.unescape(text)).strip()


def collapse(text: str) -> str:
    """Plain text as written (no entity decoding), whitespace collapsed, XML-safe."""
    return _SPACE.sub(" ", strip_forbidden(text)).strip()


def text_to_html(text: str) -> str:
    """Plain text as escaped HTML paragraphs (blank lines separate paragraphs)."""
    paragraphs = (collapse(part) for part in re.split(r"\n\s*\n", strip_forbidden(text)))
    return "".join(f"<p>{html.escape(part, quote=False)}</p>" for part in paragraphs if part)


def strip_forbidden(text: str) -> str:
    """Remove the characters XML 1.0 does not allow (control characters, U+FFFE, U+FFFF)."""
    return _XML_FORBIDDEN.sub("", text)
