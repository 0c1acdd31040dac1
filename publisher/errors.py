"""The one exception root of publisher and its subclasses.

Every error carries enough context to say which item failed and how to fix it;
only the CLI and the web layer turn them into exit codes or pages.
"""

from publisher.models import Rejection


class PublisherError(Exception):
    """Root of every error publisher raises on purpose."""


class SettingsError(PublisherError):
    """The settings file is missing, unreadable or has a wrong key, type or value."""


class StoreError(PublisherError):
    """The database cannot be opened, migrated or written."""


class UserError(PublisherError):
    """A command was asked for something that does not exist or cannot be done."""


class SourceError(PublisherError):
    """A whole source failed (HTTP error, timeout, not a feed); other sources go on."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


class ItemRejected(PublisherError):
    """One item (file, feed entry, WordPress post) was refused; the rest of the run goes on."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason

    def as_rejection(self) -> Rejection:
        """The rejection record gathering reports and counts."""
        return Rejection(where=self.where, reason=self.reason)
