"""Articles from a folder of Markdown files with YAML (---) or TOML (+++) front matter."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import frontmatter
import yaml
from frontmatter.default_handlers import BaseHandler, YAMLHandler
from markdown_it import MarkdownIt

from publisher.errors import ItemRejected, SourceError
from publisher.languages import language_tag
from publisher.models import Article, Candidate
from publisher.sanitize import clean_html, plain_text
from publisher.settings import MarkdownSourceSettings
from publisher.sources import fields
from publisher.sources.base import Batch, Previous, SourceContext

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _FastYAML(YAMLHandler):
    def load(self, fm: str, **kwargs: Any) -> Any:
        return yaml.load(fm, Loader=_YAML_LOADER)


class _StdlibTOML(BaseHandler):
    # python-frontmatter's own TOMLHandler needs the old `toml` package; tomllib is stdlib.
    FM_BOUNDARY = re.compile(r"^\+{3,}\s*$", re.MULTILINE)
    START_DELIMITER = END_DELIMITER = "+++"

    def load(self, fm: str, **kwargs: Any) -> Any:
        return tomllib.loads(fm)


_HANDLERS = (_FastYAML(), _StdlibTOML())
_PARSE_ERRORS = (yaml.YAMLError, tomllib.TOMLDecodeError, ValueError)


class MarkdownSource:
    """A folder of `*.md` files; unchanged files (same mtime and size) are skipped unread."""

    def __init__(
        self, settings: MarkdownSourceSettings, context: SourceContext, root: Path
    ) -> None:
        self.key = f"{context.section}:markdown:{settings.path}"
        self.root = root
        self.host = ""  # local: no per-host limit
        self.context = context
        self.markdown = MarkdownIt("commonmark", {"html": True}).enable("table")

    def fetch(self, previous: Previous) -> Batch:
        """Read every new or modified file under the folder."""
        if not self.root.is_dir():
            raise SourceError(str(self.root), "folder not found (check sections.sources.path)")
        batch = Batch()
        for origin, stat in self._files():
            fingerprint = f"{stat.st_mtime_ns}:{stat.st_size}"
            if previous.fingerprints.get(origin) == fingerprint:
                batch.unchanged += 1
                batch.kept_origins.add(origin)
                continue
            try:
                batch.candidates.append(self._read(Path(origin), stat.st_size, fingerprint))
            except ItemRejected as rejected:
                batch.rejections.append(rejected.as_rejection())
        return batch

    def _files(self) -> Iterator[tuple[str, os.stat_result]]:
        """(path, stat) of every Markdown file below the folder, by path; plain strings, as
        an unchanged file costs only this."""
        stack = [str(self.root)]
        found: list[tuple[str, os.stat_result]] = []
        while stack:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    if entry.is_dir() and not entry.name.startswith("."):
                        stack.append(entry.path)
                    elif entry.name.endswith(".md") and entry.is_file():
                        found.append((entry.path, entry.stat()))
        return iter(sorted(found, key=lambda item: item[0]))

    def _read(self, path: Path, size: int, fingerprint: str) -> Candidate:
        where = str(path)
        fields.check_size(size, limit=self.context.gather.max_article_bytes, where=where)
        text = _decode(path.read_bytes(), where)
        meta, body = _split(text, where)
        article = self._article(meta, body, path, where)
        return Candidate(article=article, origin=where, fingerprint=fingerprint)

    def _article(self, meta: dict[str, Any], body: str, path: Path, where: str) -> Article:
        site = self.context.site
        title = fields.required_text(meta.get("title"), where=where, key="title")
        if "date" not in meta:
            raise ItemRejected(where, "date: required field is missing")
        published = fields.parse_date(meta["date"], zone=site.zone, where=where, key="date")
        updated = published
        if meta.get("updated") is not None:
            updated = fields.parse_date(meta["updated"], zone=site.zone, where=where, key="updated")
        section = self._section(meta, path, where)
        slug = fields.slug(meta.get("slug") or path.stem, where=where)
        url = f"{site.url}/{section}/{slug}/"
        content = clean_html(self.markdown.render(body), url)
        summary = fields.optional_text(meta.get("summary"))
        return Article(
            id=fields.article_id(
                str(meta.get("id") or ""),
                fallback=f"{section}/{slug}",
                source=self.key,
                authority=self.context.tag_authority,
            ),
            url=url,
            title=title,
            summary=summary or fields.summary_from(plain_text(content)),
            content=content,
            section=section,
            authors=fields.text_list(
                meta.get("authors", meta.get("author")), where=where, key="authors"
            ),
            tags=fields.text_list(meta.get("tags"), where=where, key="tags"),
            published=published,
            updated=max(updated, published),
            image=fields.absolute_url(meta.get("image"), url),
            image_alt=fields.optional_text(meta.get("image_alt")),
            language=language_tag(meta.get("lang") or meta.get("language")),
            draft=meta.get("draft") is True,
        )

    def _section(self, meta: dict[str, Any], path: Path, where: str) -> str:
        relative = path.relative_to(self.root).parts
        default = relative[0] if len(relative) > 1 else self.context.section
        section = str(meta.get("section") or default)
        if section not in self.context.sections:
            known = ", ".join(sorted(self.context.sections))
            raise ItemRejected(where, f"section: unknown section {section!r} (known: {known})")
        return section


def _decode(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise ItemRejected(
            where, f"not valid UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start}"
        ) from None


def _split(text: str, where: str) -> tuple[dict[str, Any], str]:
    handler = frontmatter.detect_format(text, _HANDLERS)
    if handler is None:
        raise ItemRejected(
            where, "no front matter (expected YAML between --- lines or TOML between +++ lines)"
        )
    try:
        front, body = handler.split(text)
        metadata = handler.load(front)
    except _PARSE_ERRORS as exc:
        kind = "TOML" if isinstance(handler, _StdlibTOML) else "YAML"
        reason = " ".join(str(exc).split())
        raise ItemRejected(where, f"front matter is not valid {kind}: {reason}") from None
    if not isinstance(metadata, dict):
        raise ItemRejected(where, "front matter must be a mapping of keys to values")
    return metadata, body
