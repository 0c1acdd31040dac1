"""Rendering a variant: Jinja2, then premailer once, then slots for per-subscriber values."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import groupby
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

os.environ.setdefault("PREMAILER_CACHE_MAXSIZE", "4096")  # read when premailer is imported

import cssutils
from babel.dates import format_date
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from premailer import Premailer

from publisher.digest.plan import Variant
from publisher.models import Article, Edition
from publisher.settings import Settings

cssutils.log.setLevel(logging.CRITICAL)  # premailer's CSS parser logs every vendor property
SLOT_NAMES = ("greeting", "unsubscribe", "preferences")
PREHEADER_CHARS = 140
BUILT_IN_TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def template_folders(settings: Settings) -> list[Path]:
    """The operator's template folder first, then the built-in one for what it does not override."""
    folders = [settings.resolve(settings.digest.templates), BUILT_IN_TEMPLATES]
    return [f for f in dict.fromkeys(folders) if f.is_dir()]


@dataclass(frozen=True, kw_only=True)
class Link:
    """A related link under an article."""

    title: str
    url: str


def new_slots() -> dict[str, str]:
    """Markers for the per-subscriber values, random for each renderer: article text cannot
    contain one by chance or on purpose (and so never receives a subscriber's link)."""
    token = secrets.token_hex(12)
    return {name: f"pubslot{token}{name}" for name in SLOT_NAMES}


@dataclass(frozen=True, kw_only=True)
class RenderedVariant:
    """A variant's subject and both bodies, with `slots` (name → marker) where the
    per-subscriber values go."""

    fingerprint: str
    subject: str
    html: str
    text: str
    slots: dict[str, str]


RelatedLookup = Callable[[Sequence[str]], Mapping[str, Sequence[Link]]]


class Renderer:
    """Renders variants of an edition; counts its premailer runs (one per variant)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        folders = template_folders(settings)
        self.env = Environment(
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
        self.premailer_runs = 0
        self.slots = new_slots()
        self.locale = settings.site.locale

    def render(self, edition: Edition, variant: Variant, related: RelatedLookup) -> RenderedVariant:
        """Both bodies and the subject of one variant."""
        context = self._context(edition, variant, related)
        html = self.env.get_template("email/digest.html.j2").render(context)
        text = self.env.get_template("email/digest.txt.j2").render(context)
        return RenderedVariant(
            fingerprint=variant.fingerprint,
            subject=context["subject"],
            html=self._inline(html),
            text=text,
            slots=self.slots,
        )

    def _inline(self, html: str) -> str:
        self.premailer_runs += 1
        inliner = Premailer(
            html,
            strip_important=False,
            allow_network=False,
            disable_validation=True,
            preserve_internal_links=True,
            remove_classes=False,
            cssutils_logging_level=logging.CRITICAL,
        )
        return inliner.transform(pretty_print=False)

    def _context(
        self, edition: Edition, variant: Variant, related: RelatedLookup
    ) -> dict[str, object]:
        settings = self.settings
        links = related(variant.ids)
        date = edition.cutoff.astimezone(settings.site.zone)
        titles = [article.title for article in variant.articles]
        subject = settings.digest.subject.format(
            site=settings.site.name,
            date=format_date(date, "long", locale=self.locale),
            count=len(titles),
            first_title=titles[0],
        )
        return {
            "site": {
                "name": settings.site.name,
                "url": settings.site.url,
                "language": settings.site.language,
            },
            "edition": {
                "key": edition.key,
                "kind": edition.kind.value,
                "date": format_date(date, "full", locale=self.locale),
            },
            "subject": subject,
            "preheader": _preheader(titles),
            "css": Markup(self.css),  # the operator's own file: not escaped
            "sections": self._sections(edition, variant, links),
            "links": {"archive": f"{settings.public_url}/archive/{edition.key}"},
            "slots": self.slots,
            "sender_line": settings.digest.postal_address,
        }

    def _sections(
        self, edition: Edition, variant: Variant, links: Mapping[str, Sequence[Link]]
    ) -> list[dict[str, object]]:
        titles = {section.slug: section.title for section in self.settings.sections}
        campaign = self.settings.digest.utm_campaign.format(edition=edition.key)
        tag = partial(self.with_utm, campaign=campaign)
        return [
            {
                "title": titles.get(slug, slug),
                "articles": [
                    _article(article, links.get(article.id, ()), tag) for article in group
                ],
            }
            for slug, group in groupby(variant.articles, key=lambda a: a.section)
        ]

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


def _article(
    article: Article, related: Sequence[Link], tag: Callable[[str], str]
) -> dict[str, object]:
    return {
        "title": article.title,
        "url": tag(article.url),
        "summary": article.summary,
        "image": article.image,
        "image_alt": article.image_alt or article.title,
        "related": [{"title": link.title, "url": tag(link.url)} for link in related],
    }


def _preheader(titles: Sequence[str]) -> str:
    text = " · ".join(titles[:3])
    return text if len(text) <= PREHEADER_CHARS else text[: PREHEADER_CHARS - 1].rstrip() + "…"
