"""The composition root: builds the store, the HTTP client and the sources from the settings."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from publisher.gather import SectionSources
from publisher.related.live import LiveRelated
from publisher.settings import Settings
from publisher.sources import SourceContext, build_source
from publisher.sources.http import new_client
from publisher.store import Store


@dataclass(kw_only=True)
class App:
    """Everything a command needs, built once from the settings."""

    settings: Settings
    store: Store
    http: httpx.Client
    # Set by a long-running process: the related index kept in memory between gathers.
    live_related: LiveRelated | None = None

    def keep_related_in_memory(self) -> LiveRelated:
        """Keep the related index in memory from now on (a long-running process)."""
        if self.live_related is None:
            path = self.settings.resolve(self.settings.related.index_path)
            self.live_related = LiveRelated(self.store.articles, path, self.settings.related)
        return self.live_related

    def section_sources(self, only: str | None = None) -> list[SectionSources]:
        """The configured sources of every section, or of the one named `only`."""
        sections = [self.settings.section(only)] if only else list(self.settings.sections)
        slugs = frozenset(s.slug for s in self.settings.sections)
        result = []
        for section in sections:
            context = SourceContext(
                section=section.slug,
                sections=slugs,
                site=self.settings.site,
                gather=self.settings.gather,
                http=self.http,
                tag_authority=self.settings.tag_authority,
            )
            sources = tuple(
                build_source(source, context, self.settings.resolve) for source in section.sources
            )
            result.append(SectionSources(slug=section.slug, sources=sources))
        return result

    def close(self) -> None:
        """Close the HTTP client and the database pool."""
        self.http.close()
        self.store.close()


def open_app(settings: Settings) -> App:
    """Connect to the database (migrating it) and build the shared pieces."""
    return App(
        settings=settings,
        store=Store.open(settings.database_url),
        http=new_client(
            timeout=settings.gather.http_timeout, user_agent=settings.gather.user_agent
        ),
    )
