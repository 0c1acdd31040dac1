"""Quoted-printable pieces: a body encoded once, in parts that are joined without re-encoding.

Every piece but the last ends in a soft line break (`=` CRLF), so the decoded body is exactly
the parts joined, and no encoded line is longer than 76 characters (RFC 2045) wherever a part
ends.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass
from email.quoprimime import body_encode

CRLF = b"\r\n"
Pieces = list[bytes | str]  # encoded bytes, and the names of per-subscriber slots between them


@dataclass(frozen=True, kw_only=True)
class EncodedVariant:
    """A variant ready for assembly: its subject and both bodies as encoded pieces."""

    fingerprint: str
    subject: str
    html: Pieces
    text: Pieces


_PLAIN = re.compile(r"[!-<>-~]+")  # printable ASCII but "=": quoted-printable leaves it as it is


def qp(text: str) -> bytes:
    """Text as quoted-printable UTF-8, lines within 76 characters, CRLF line ends."""
    if _PLAIN.fullmatch(text):  # a URL, a token: only split into lines (the common case)
        lines = [text[i : i + 75] for i in range(0, len(text), 75)]
        return "=\r\n".join(lines).encode("ascii")
    if "\n" not in text and "\r" not in text:
        # One line (a title, a greeting): binascii's encoder, in C, when its lines fit.
        encoded = binascii.b2a_qp(text.encode("utf-8"), istext=False)
        lines = encoded.split(b"\n")
        if len(lines[-1]) <= 75 and all(len(line) <= 76 for line in lines):
            return b"\r\n".join(lines)
    # email.quoprimime keeps every line within 76 characters; binascii.b2a_qp lets a line
    # reach 78 when it encodes a space before a line break. It works on bytes seen as latin-1.
    latin = text.replace("\r\n", "\n").encode("utf-8").decode("latin-1")
    # 75: a piece's last line is followed by its soft line break "=", and stays within 76.
    return body_encode(latin, maxlinelen=75, eol="\r\n").encode("ascii")


def qp_piece(text: str, *, last: bool = False) -> bytes:
    """One piece: encoded, ending in a soft line break (a hard one if it ends the body)."""
    return qp(text) + (CRLF if last else b"=" + CRLF)


def pieces_with_slots(body: str, slots: dict[str, str]) -> Pieces:
    """A whole body encoded between its slot markers: bytes alternate with slot names."""
    names = {marker: name for name, marker in slots.items()}
    pattern = re.compile("|".join(map(re.escape, slots.values())) or "(?!)")
    pieces: Pieces = []
    position = 0
    for match in pattern.finditer(body):
        pieces.append(qp_piece(body[position : match.start()]))
        pieces.append(names[match.group()])
        position = match.end()
    pieces.append(qp_piece(body[position:], last=True))
    return pieces


def fill(pieces: Pieces, values: dict[str, str]) -> bytes:
    """The body's bytes with each slot's value encoded in its place."""
    return b"".join(
        piece if isinstance(piece, bytes) else qp_piece(values[piece]) for piece in pieces
    )
