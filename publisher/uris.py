"""URIs for output: IRIs made into URIs, unsafe characters encoded, ids checked by their scheme.

Feeds must carry URIs (RFC 3986) in RSS `<link>`/`<guid>` and valid IRIs in Atom `<id>`; the
W3C validator also checks `urn:uuid:`, `tag:` and `urn:` ids against their own RFCs.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from urllib.parse import quote

import rfc3986
from rfc3986 import exceptions as uri_errors
from rfc3986 import validators

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_UUID = re.compile(r"^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
# RFC 8141: "urn:" NID ":" NSS, the NID 2-32 characters of letters, digits and inner hyphens.
_URN = re.compile(
    r"^urn:[A-Za-z0-9][A-Za-z0-9-]{0,30}[A-Za-z0-9]:"
    r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})+$",
    re.I,
)
# RFC 4151: "tag:" authorityName "," date ":" specific.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_DNS_NAME = rf"{_LABEL}(?:\.{_LABEL})*"
_EMAIL = r"[A-Za-z0-9\-._]+@" + _DNS_NAME
_DATE = r"\d{4}(?:-(?:0[1-9]|1[0-2])(?:-(?:0[1-9]|[12]\d|3[01]))?)?"
_TAG = re.compile(
    rf"^tag:(?:{_DNS_NAME}|{_EMAIL}),{_DATE}:"
    r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})*$"
)
_WEB = validators.Validator().require_presence_of("scheme", "host")
_WEB = _WEB.check_validity_of("scheme", "host", "port", "path", "query", "fragment")
_ANY = validators.Validator().require_presence_of("scheme")
_ANY = _ANY.check_validity_of("scheme", "path", "query", "fragment")
# What may stay unencoded in the specific part of a tag: URI built from an arbitrary id.
_TAG_SAFE = "-._~!$&'()*+,;=:@/"


@lru_cache(maxsize=65_536)
def web_uri(url: str) -> str | None:
    """An http(s) URL as a URI: IDNA host, non-ASCII and unsafe characters percent-encoded;
    None when it is not a usable http(s) URL (no host, a host that cannot be encoded)."""
    try:
        encoded = rfc3986.iri_reference(url.strip()).encode()
        _WEB.validate(encoded)
    except (uri_errors.RFC3986Exception, ValueError, UnicodeError):
        return None
    if encoded.scheme not in {"http", "https"}:
        return None
    return encoded.unsplit()


def has_scheme(value: str) -> bool:
    """True when the value starts like a URI (`scheme:`), so it must be a valid one."""
    return _SCHEME.match(value) is not None


@lru_cache(maxsize=65_536)
def valid_uri_id(value: str) -> bool:
    """True when `value` is a valid URI of its own scheme (http(s), urn:uuid, urn, tag, other)."""
    scheme = value.split(":", 1)[0].lower()
    if scheme in {"http", "https"}:
        return web_uri(value) == value
    if value.lower().startswith("urn:uuid:"):
        return _UUID.match(value) is not None
    if scheme == "urn":
        return _URN.match(value) is not None
    if scheme == "tag":
        return _TAG.match(value) is not None
    try:
        _ANY.validate(rfc3986.uri_reference(value))
    except uri_errors.RFC3986Exception:
        return False
    return value.isascii() and " " not in value


def tag_uri(authority: str, specific: str) -> str:
    """A tag: URI (RFC 4151) under `authority` ("host,date"), the specific part encoded."""
    return f"tag:{authority}:{quote(specific, safe=_TAG_SAFE)}"


def replacement_id(authority: str, source: str, upstream_id: str) -> str:
    """A stable tag: URI standing in for an upstream id that is not a valid URI."""
    digest = hashlib.sha256(f"{source}\x1f{upstream_id}".encode("utf-8", "replace")).hexdigest()
    return f"tag:{authority}:upstream-{digest[:32]}"
