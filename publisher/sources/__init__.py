"""Content sources, looked up by their `type` in the settings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from publisher.settings import SourceSettings
from publisher.sources.base import Batch, ContentSource, Previous, SourceContext

__all__ = ["Batch", "ContentSource", "Previous", "SourceContext", "build_source"]


def _markdown(
    settings: Any, context: SourceContext, resolve: Callable[[str], Any]
) -> ContentSource:
    from publisher.sources.markdown import MarkdownSource

    return MarkdownSource(settings, context, resolve(settings.path))


def _feed(settings: Any, context: SourceContext, resolve: Callable[[str], Any]) -> ContentSource:
    from publisher.sources.feed import FeedSource

    return FeedSource(settings, context)


def _wordpress(
    settings: Any, context: SourceContext, resolve: Callable[[str], Any]
) -> ContentSource:
    from publisher.sources.wordpress import WordPressSource

    return WordPressSource(settings, context)


_BUILDERS = {"markdown": _markdown, "feed": _feed, "wordpress": _wordpress}


def build_source(
    settings: SourceSettings, context: SourceContext, resolve: Callable[[str], Any]
) -> ContentSource:
    """The source a `[[sections.sources]]` entry describes."""
    return _BUILDERS[settings.type](settings, context, resolve)
