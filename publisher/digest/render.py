"""Rendering an edition: the page once, each block once, a variant joined from the pieces.

The HTML part is made of a page (digest.html.j2: head, masthead, footer) and blocks: a section
heading (section.html.j2) and an article with its related links (article.html.j2). premailer
inlines the page once per edition and each distinct block once (see inline.py); a variant is
its blocks' pieces joined into the page's, each piece quoted-printable encoded once, so the
cost of a variant does not depend on premailer. The text part is joined the same way from
digest.txt.j2, section.txt.j2 and article.txt.j2. Per-subscriber values (greeting, links)
go into slots whose markers are random for each renderer.

When the CSS has a selector that looks at siblings, the whole page is inlined for every
variant instead (logged once, naming the selector).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from babel.dates import format_date
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from publisher.digest.i18n import translations
from publisher.digest.inline import BODY_MARKER, Frame, Inliner, frame_of, sideways_selector
from publisher.digest.mime import EncodedVariant, Pieces, pieces_with_slots, qp_piece
from publisher.digest.plan import Variant
from publisher.models import Article, Edition, Link, RelatedLookup
from publisher.settings import Settings
from publisher.sources.fields import summary_from
from publisher.subscribers.tokens import Tokens

log = logging.getLogger(__name__)
SLOT_NAMES = ("greeting", "unsubscribe", "preferences")
PREHEADER_CHARS = 140
BUILT_IN_TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
_BLOCKS_PER_RUN = 200  # blocks inlined together in one premailer run


def template_folders(settings: Settings) -> list[Path]:
    """The operator's template folder first, then the built-in one for what it does not override."""
    folders = [settings.resolve(settings.digest.templates), BUILT_IN_TEMPLATES]
    return [f for f in dict.fromkeys(folders) if f.is_dir()]


def new_slots() -> dict[str, str]:
    """Markers for the per-subscriber values, random for each renderer: article text cannot
    contain one by chance or on purpose (and so never receives a subscriber's link)."""
    token = secrets.token_hex(12)
    return {name: f"pubslot{token}{name}" for name in SLOT_NAMES}


def no_related(article_ids: Sequence[str], digest: frozenset[str]) -> list[Sequence[Link]]:
    """No related links (a digest without them)."""
    return [()] * len(article_ids)


@dataclass(frozen=True, kw_only=True)
class RenderedVariant:
    """A variant's subject and both bodies, with `slots` (name → marker) where the
    per-subscriber values go."""

    fingerprint: str
    subject: str
    html: str
    text: str
    slots: dict[str, str]


@dataclass(frozen=True, kw_only=True)
class Block:
    """A section heading or an article, rendered, inlined and encoded once for an edition."""

    html: str
    text: str
    html_qp: bytes
    text_qp: bytes


class Renderer:
    """Renders the editions of one configuration; counts its premailer runs."""

    def __init__(
        self, settings: Settings, language: str = "", tokens: Tokens | None = None
    ) -> None:
        """`language`: the digest's words and dates in it (default: the site's); `tokens`:
        what signs the "view in your browser" link (unsigned without)."""
        self.settings = settings
        self.language = language
        self.tokens = tokens
        folders = template_folders(settings)
        self.env = Environment(
            extensions=["jinja2.ext.i18n"],
            loader=FileSystemLoader(folders),
            autoescape=select_autoescape(["html", "html.j2"], default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            auto_reload=False,
        )
        css = next(
            f / "email" / "digest.css" for f in folders if (f / "email" / "digest.css").exists()
        )
        self.css = css.read_text(encoding="utf-8")
        self.inliner = Inliner()
        self.slots = new_slots()
        self.env.install_gettext_translations(  # type: ignore[attr-defined]
            translations(language or settings.site.language), newstyle=True
        )
        self.locale = language.replace("-", "_") if language else settings.site.locale
        self.sideways = sideways_selector(self.css)
        if self.sideways:
            log.warning(
                "the digest CSS selector %r looks at siblings: every variant's whole page is "
                "inlined (slower); without such selectors each block is inlined once",
                self.sideways,
            )

    @property
    def premailer_runs(self) -> int:
        """premailer runs so far."""
        return self.inliner.runs

    def edition(self, edition: Edition, related: RelatedLookup = no_related) -> EditionRender:
        """What renders the variants of one edition (its pages and blocks cached)."""
        return EditionRender(self, edition, related)

    def render(
        self, edition: Edition, variant: Variant, related: RelatedLookup = no_related
    ) -> RenderedVariant:
        """Both bodies and the subject of one variant (one edition's render, used once)."""
        return self.edition(edition, related).rendered(variant)

    def with_utm(self, url: str, campaign: str) -> str:
        """The URL with the UTM parameters of the settings (existing ones are kept)."""
        digest = self.settings.digest
        if not digest.utm_source:
            return url
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        wanted = {
            "utm_source": digest.utm_source,
            "utm_medium": digest.utm_medium,
            "utm_campaign": campaign,
        }
        query.update({k: v for k, v in wanted.items() if v and k not in query})
        return urlunsplit(parts._replace(query=urlencode(query)))


class EditionRender:
    """One edition's page and blocks, each rendered and inlined once; variants joined."""

    def __init__(self, renderer: Renderer, edition: Edition, related: RelatedLookup) -> None:
        self.renderer = renderer
        self.edition = edition
        self.related = related
        settings = renderer.settings
        date = edition.cutoff.astimezone(settings.site.zone)
        self.long_date = format_date(date, "long", locale=renderer.locale)
        campaign = settings.digest.utm_campaign.format(edition=edition.key)
        self.tag = partial(renderer.with_utm, campaign=campaign)
        self.section_titles = {s.slug: s.title for s in settings.sections}
        self.common = _common_context(settings, edition, renderer, date)
        token = secrets.token_hex(12)
        self.marks = {name: f"pubmark{token}{name}" for name in ("title", "preheader", "body")}
        # Blocks are numbered: the numbers are found by section slug, or by article id and
        # the identity of its links (held in _keys, so that identity is never reused).
        self._numbers: dict[Any, int] = {}
        self._keys: list[tuple[str, Any]] = []
        self._blocks: list[Block | None] = []
        self._articles: dict[str, Article] = {}
        self._page: tuple[Pieces, Pieces] | None = None
        self._inlined: str | None = None
        self._frame: Frame | None = None

    # -- what a variant is made of -------------------------------------------------------

    def subject(self, variant: Variant) -> str:
        """The subject line of a variant."""
        return self.renderer.settings.digest.subject.format(
            site=self.renderer.settings.site.name,
            date=self.long_date,
            count=len(variant.articles),
            first_title=variant.articles[0].title,
        )

    def block_keys(self, variant: Variant) -> list[int]:
        """The blocks of a variant in order, by number: each section heading, then its
        articles (see `block_key`)."""
        ids = variant.ids
        numbers = self._numbers
        found: list[int] = []
        section = None
        for article, links in zip(variant.articles, self.related(ids, frozenset(ids)), strict=True):
            if article.section != section:
                section = article.section
                number = numbers.get(section)
                found.append(self._new(section, ("section", section)) if number is None else number)
            number = numbers.get((article.id, id(links)))
            found.append(self._article_number(article.id, links) if number is None else number)
        return found

    def block_key(self, number: int) -> tuple[str, Any]:
        """What block `number` is: ("section", slug) or ("article", (id, links))."""
        return self._keys[number]

    def _article_number(self, article_id: str, links: Sequence[Link]) -> int:
        handle = (article_id, id(links))
        number = self._numbers.get(handle)
        return self._new(handle, ("article", (article_id, links))) if number is None else number

    def _section_number(self, slug: str) -> int:
        number = self._numbers.get(slug)
        return self._new(slug, ("section", slug)) if number is None else number

    def _new(self, handle: Any, key: tuple[str, Any]) -> int:
        number = self._numbers[handle] = len(self._keys)
        self._keys.append(key)
        self._blocks.append(None)
        return number

    def warm_base(self, articles: Iterable[Article]) -> None:
        """Render and inline the page, each section heading and each article with the links
        it has in most digests (those holding none of its neighbours), once each."""
        articles = list(articles)
        ids = [article.id for article in articles]
        numbers = [
            self._numbers.get(slug) or self._new(slug, ("section", slug))
            for slug in dict.fromkeys(a.section for a in articles)
        ]
        for article_id, links in zip(ids, self.related(ids, frozenset()), strict=True):
            handle = (article_id, id(links))
            number = self._numbers.get(handle)
            found = (
                self._new(handle, ("article", (article_id, links))) if number is None else number
            )
            numbers.append(found)
        self._blocks_of(numbers, articles)
        self._pages()

    def warm(self, variants: Iterable[Variant]) -> dict[str, list[int]]:
        """Render and inline every block these variants hold, and the page (once each);
        return each variant's block keys (for `encoded`, so they are worked out once)."""
        variants = list(variants)
        keys = {variant.fingerprint: self.block_keys(variant) for variant in variants}
        distinct = dict.fromkeys(key for found in keys.values() for key in found)
        self._blocks_of(distinct, (article for v in variants for article in v.articles))
        self._pages()
        return keys

    # -- the fast path: encoded pieces -----------------------------------------------------

    def encoded(self, variant: Variant, keys: list[int] | None = None) -> EncodedVariant:
        """A variant as encoded pieces, for assembling its messages (`keys`: its block keys,
        if known)."""
        subject = self.subject(variant)
        if self.renderer.sideways:
            rendered = self.rendered(variant)
            return EncodedVariant(
                fingerprint=variant.fingerprint,
                subject=subject,
                html=pieces_with_slots(rendered.html, rendered.slots),
                text=pieces_with_slots(rendered.text, rendered.slots),
            )
        blocks = self._blocks_of(keys or self.block_keys(variant), variant.articles)
        html_page, text_page = self._pages()
        values = {"title": subject, "preheader": _preheader(variant)}
        in_html = {name: qp_piece(_lxml_text(value)) for name, value in values.items()}
        in_text = {name: qp_piece(value) for name, value in values.items()}
        body_html = b"".join([block.html_qp for block in blocks])
        body_text = b"".join([block.text_qp for block in blocks])
        return EncodedVariant(
            fingerprint=variant.fingerprint,
            subject=subject,
            html=_merged(_with(html_page, {**in_html, "body": body_html})),
            text=_merged(_with(text_page, {**in_text, "body": body_text})),
        )

    # -- whole strings: previews, tests and the fallback ----------------------------------

    def rendered(self, variant: Variant) -> RenderedVariant:
        """A variant's bodies as strings (slot markers still in place)."""
        subject = self.subject(variant)
        keys = self.block_keys(variant)
        self._articles.update((article.id, article) for article in variant.articles)
        text_body = "".join(self._render_block(self._keys[n], "txt") for n in keys)
        text = self._render_page("txt", subject, _preheader(variant), text_body)
        if self.renderer.sideways:
            html = self.renderer.inliner.page(self.whole_page(variant))
        else:
            html = self._joined_html(subject, variant, self._blocks_of(keys, variant.articles))
        return RenderedVariant(
            fingerprint=variant.fingerprint,
            subject=subject,
            html=html,
            text=text,
            slots=self.renderer.slots,
        )

    def whole_page(self, variant: Variant) -> str:
        """The variant's whole page as Jinja renders it, before any CSS is inlined."""
        keys = self.block_keys(variant)
        self._articles.update((article.id, article) for article in variant.articles)
        body = Markup("".join(self._render_block(self._keys[n], "html") for n in keys))
        return self._render_page("html", self.subject(variant), _preheader(variant), body)

    # -- inside ------------------------------------------------------------------------

    def _joined_html(self, subject: str, variant: Variant, blocks: list[Block]) -> str:
        page = self._inlined_skeleton()
        page = page.replace(self.marks["title"], _lxml_text(subject))
        page = page.replace(self.marks["preheader"], _lxml_text(_preheader(variant)))
        return page.replace(f"<!--{BODY_MARKER}-->", "".join(b.html for b in blocks))

    def _pages(self) -> tuple[Pieces, Pieces]:
        """The inlined page and the text page, encoded around their slots, once."""
        if self._page is None:
            marks = self.marks
            html = self._inlined_skeleton().replace(f"<!--{BODY_MARKER}-->", marks["body"])
            text = self._render_page("txt", marks["title"], marks["preheader"], marks["body"])
            slots = {**self.renderer.slots, **marks}
            self._page = (pieces_with_slots(html, slots), pieces_with_slots(text, slots))
        return self._page

    def _skeleton(self) -> str:
        """The page with markers for the subject, the preheader and the blocks."""
        body = Markup(f"<!--{BODY_MARKER}-->")
        return self._render_page("html", self.marks["title"], self.marks["preheader"], body)

    def _inlined_skeleton(self) -> str:
        if self._inlined is None:
            self._inlined = self.renderer.inliner.page(self._skeleton())
        return self._inlined

    def _render_page(self, kind: str, subject: str, preheader: str, body: str) -> str:
        context = {**self.common, "subject": subject, "preheader": preheader, "body": body}
        return self.renderer.env.get_template(f"email/digest.{kind}.j2").render(context)

    def _render_block(self, key: tuple[str, Any], kind: str) -> str:
        name, value = key
        if name == "section":
            context = {"section": {"title": self.section_titles.get(value, value)}}
        else:
            article_id, links = value
            context = {"article": _article(self._articles[article_id], links, self.tag)}
        return self.renderer.env.get_template(f"email/{name}.{kind}.j2").render(context)

    def _blocks_of(self, numbers: Iterable[int], articles: Iterable[Article]) -> list[Block]:
        numbers = list(numbers)
        blocks = self._blocks
        found = [blocks[n] for n in numbers]
        if any(block is None for block in found):
            missing = list(dict.fromkeys(n for n in numbers if blocks[n] is None))
            self._articles.update((article.id, article) for article in articles)
            for start in range(0, len(missing), _BLOCKS_PER_RUN):
                self._inline_blocks(missing[start : start + _BLOCKS_PER_RUN])
            found = [blocks[n] for n in numbers]
        return found  # type: ignore[return-value]

    def _inline_blocks(self, numbers: list[int]) -> None:
        if self._frame is None:
            self._frame = frame_of(self._skeleton())
        keys = [self._keys[n] for n in numbers]
        html = [self._render_block(key, "html") for key in keys]
        inlined = self.renderer.inliner.blocks(self._frame, html)
        for number, key, block_html in zip(numbers, keys, inlined, strict=True):
            text = self._render_block(key, "txt")
            self._blocks[number] = Block(
                html=block_html,
                text=text,
                html_qp=qp_piece(block_html),
                text_qp=qp_piece(text),
            )


def _common_context(
    settings: Settings, edition: Edition, renderer: Renderer, date: Any
) -> dict[str, object]:
    return {
        "site": {
            "name": settings.site.name,
            "url": settings.site.url,
            "language": settings.site.language,
        },
        "edition": {
            "key": edition.key,
            "kind": edition.kind.value,
            "date": format_date(date, "full", locale=renderer.locale),
        },
        "css": Markup(renderer.css),  # the operator's own file: not escaped
        "links": {"archive": _archive_link(settings, edition, renderer.tokens)},
        "slots": renderer.slots,
        "sender_line": settings.digest.postal_address,
    }


def _archive_link(settings: Settings, edition: Edition, tokens: Tokens | None) -> str:
    """The edition's web copy; signed, so that it opens for an edition with fewer readers
    than the public archive shows."""
    link = f"{settings.public_url}/archive/{edition.key}"
    return f"{link}?{urlencode({'s': tokens.edition(edition.key)})}" if tokens else link


def _with(pieces: Pieces, values: dict[str, bytes]) -> Pieces:
    """The page's pieces with this variant's own values (encoded bytes) in their slots."""
    return [values.get(piece, piece) if isinstance(piece, str) else piece for piece in pieces]


def _merged(pieces: Pieces) -> Pieces:
    """Runs of encoded bytes joined, so a message is filled from a few pieces."""
    merged: Pieces = []
    run: list[bytes] = []
    for piece in pieces:
        if isinstance(piece, bytes):
            run.append(piece)
            continue
        merged.extend((b"".join(run), piece))
        run = []
    merged.append(b"".join(run))
    return merged


def _lxml_text(value: str) -> str:
    """Text escaped as lxml writes a text node, so a value put in after premailer matches it."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _article(
    article: Article, related: Sequence[Link], tag: Callable[[str], str]
) -> dict[str, object]:
    return {
        "title": article.title,
        "url": tag(article.url),
        # Cut as gathered summaries are (a writer's own may be long): 40 fit under 100 KB.
        "summary": summary_from(article.summary),
        "image": article.image,
        "image_alt": article.image_alt or article.title,
        "related": [{"title": link.title, "url": tag(link.url)} for link in related],
    }


def _preheader(variant: Variant) -> str:
    text = " · ".join(article.title for article in variant.articles[:3])
    return text if len(text) <= PREHEADER_CHARS else text[: PREHEADER_CHARS - 1].rstrip() + "…"
