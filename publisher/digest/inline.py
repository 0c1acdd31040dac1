"""CSS inlined with premailer: once for the page around the blocks, once for each block.

premailer gives an element the style of every CSS rule whose selector matches it, in order of
specificity. A selector can only look up the tree (ancestors) and sideways (siblings). A block
inlined inside a copy of its ancestor chain, with the same tags and attributes, therefore
gets exactly the style it gets in the whole page, unless a selector looks sideways: a `+` or
`~` combinator, or :first-child, :last-child and :nth-child (the structural pseudo-classes
premailer inlines; others stay in the <style> block for the mail client). With such a
selector the renderer inlines the whole page instead.

lxml serialises an element the same wherever it stands, so a block cut out of its inlined
wrapper is byte for byte what premailer writes for it in the whole page.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass

os.environ.setdefault("PREMAILER_CACHE_MAXSIZE", "4096")  # read when premailer is imported

import cssutils
from lxml import etree
from premailer import Premailer

cssutils.log.setLevel(logging.CRITICAL)  # premailer's CSS parser logs every vendor property
log = logging.getLogger(__name__)
BODY_MARKER = "pubbody"
_SIDEWAYS = re.compile(r"[+~]|:(first-child|last-child|nth-child)")
_START, _END = "<!--pubblock-start-->", "<!--pubblock-end-->"


def premailer(html: str) -> Premailer:
    """premailer as publisher uses it: no network, @media kept with !important, classes kept,
    no width/height attributes copied from the CSS onto images (invalid HTML), no float
    copied onto `align`."""
    return Premailer(
        html,
        strip_important=False,
        allow_network=False,
        disable_validation=True,
        preserve_internal_links=True,
        remove_classes=False,
        disable_basic_attributes=["width", "height"],
        # It parses every image's inlined style with validation (cssutils: ~4 ms an image)
        # to copy a float onto `align`; the digest floats no image.
        align_floating_images=False,
        cssutils_logging_level=logging.CRITICAL,
    )


def sideways_selector(css: str) -> str | None:
    """The first selector premailer would inline that looks at siblings, or None."""
    rules, _ = premailer("<html></html>")._parse_style_rules(css, 0)
    return next((selector for _, selector, _ in rules if _SIDEWAYS.search(selector)), None)


@dataclass(frozen=True, kw_only=True)
class Frame:
    """Where the blocks stand in the page: the document around the body marker, as text."""

    before: str  # from <!DOCTYPE> to the open tag of the marker's parent
    after: str  # the close tags after it


def frame_of(page: str) -> Frame:
    """The page cut down to its head and the chain of elements holding the body marker."""
    tree = etree.fromstring(page, etree.HTMLParser()).getroottree()
    marker = next(c for c in tree.iter(etree.Comment) if c.text == BODY_MARKER)
    chain = list(marker.iterancestors())[::-1]
    head = tree.getroot().find("head")
    head_html = etree.tostring(head, method="html", encoding="unicode") if head is not None else ""
    opens = "".join(_open_tag(element) for element in chain[1:])
    before = f"{tree.docinfo.doctype}{_open_tag(chain[0])}{head_html}{opens}"
    return Frame(before=before, after="".join(f"</{e.tag}>" for e in reversed(chain)))


def _open_tag(element: etree._Element) -> str:
    shell = etree.Element(element.tag, attrib=dict(element.attrib))
    return etree.tostring(shell, method="html", encoding="unicode").removesuffix(
        f"</{element.tag}>"
    )


class Inliner:
    """Runs premailer on a whole page or on blocks in their frame; counts the runs."""

    def __init__(self) -> None:
        self.runs = 0

    def page(self, html: str) -> str:
        """The page with its CSS inlined (the @media rules stay in a <style> block)."""
        self.runs += 1
        return premailer(html).transform(pretty_print=False)

    def blocks(self, frame: Frame, blocks: list[str]) -> list[str]:
        """Each block with its CSS inlined as it would be in the page (one premailer run)."""
        inner = "".join(f"{_START}{block}{_END}" for block in blocks)
        inlined = self.page(f"{frame.before}{inner}{frame.after}")
        found = re.findall(f"{re.escape(_START)}(.*?){re.escape(_END)}", inlined, re.S)
        if len(found) != len(blocks):
            raise ValueError("a block's markup is not a whole fragment (check its template)")
        return found
