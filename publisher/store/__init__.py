"""publisher's state in a database: articles, subscribers, editions and their deliveries."""

from __future__ import annotations

from publisher.store.articles import ArticleStore
from publisher.store.db import Database
from publisher.store.deliveries import DeliveryStore
from publisher.store.editions import EditionStore
from publisher.store.leases import LeaseStore
from publisher.store.subscribers import SubscriberStore

__all__ = [
    "ArticleStore",
    "Database",
    "DeliveryStore",
    "EditionStore",
    "LeaseStore",
    "Store",
    "SubscriberStore",
]


class Store:
    """The database and a store for each kind of record; stages take the one they need."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.articles = ArticleStore(db)
        self.subscribers = SubscriberStore(db)
        self.editions = EditionStore(db)
        self.deliveries = DeliveryStore(db)
        self.leases = LeaseStore(db)

    @classmethod
    def open(cls, url: str) -> Store:
        """Connect, bring the schema up to date, and build the stores."""
        return cls(Database.open(url))

    def close(self) -> None:
        """Release every pooled connection."""
        self.db.close()
