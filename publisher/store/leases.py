"""Named leases in the database: whoever holds an unexpired one is the only holder.

Taking or renewing is one conditional UPDATE (the holder, or anyone once it has expired), or
an INSERT when nobody ever held it; both are atomic on SQLite and PostgreSQL, so two
processes asking at once never both get it. Times come from the callers' clocks: keep the
machines' clocks in sync (NTP), and the lease several times longer than any skew."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, insert, select, update

from publisher.store.db import Database, dialect_insert
from publisher.store.schema import leases

SCHEDULER = "scheduler"  # the lease of the one `publisher run` that schedules


@dataclass(frozen=True, kw_only=True)
class Lease:
    """Who holds a lease, and until when."""

    name: str
    owner: str
    acquired_at: datetime
    expires_at: datetime


class LeaseStore:
    """Take, renew, give back and look up named leases."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def acquire(self, name: str, owner: str, *, now: datetime, until: datetime) -> bool:
        """Take the lease, or renew it when `owner` holds it; False while another holds an
        unexpired one."""
        renew = (
            update(leases)
            .where(leases.c.name == name)
            .where((leases.c.owner == owner) | (leases.c.expires_at < now))
            .values(owner=owner, expires_at=until)
        )
        with self.db.writing() as conn:
            held = conn.execute(select(leases.c.owner).where(leases.c.name == name)).first()
            if conn.execute(renew).rowcount == 1:
                if held is not None and held.owner != owner:
                    conn.execute(
                        update(leases).where(leases.c.name == name).values(acquired_at=now)
                    )
                return True
            if held is not None:
                return False
            place = {"name": name, "owner": owner, "acquired_at": now, "expires_at": until}
            first = dialect_insert(conn)(leases).values(place)
            taken = first.on_conflict_do_nothing().returning(leases.c.name)
            return conn.execute(taken).first() is not None

    def release(self, name: str, owner: str) -> bool:
        """Give the lease back (only its holder can); True if it was held by `owner`."""
        with self.db.writing() as conn:
            gone = delete(leases).where(leases.c.name == name, leases.c.owner == owner)
            return conn.execute(gone).rowcount == 1

    def share(self, group: str, owner: str, *, now: datetime, until: datetime) -> int:
        """Hold `owner`'s place in `group` until `until` and count the places held now: how
        many processes share something (the SMTP rate). Places left to expire by a process
        that died are forgotten here."""
        name = _place(group, owner)
        places = leases.c.name.like(f"{group}:%")
        with self.db.writing() as conn:
            conn.execute(delete(leases).where(places, leases.c.expires_at < now))
            renew = update(leases).where(leases.c.name == name).values(expires_at=until)
            if conn.execute(renew).rowcount == 0:
                place = {"name": name, "owner": owner, "acquired_at": now, "expires_at": until}
                conn.execute(insert(leases).values(place))
            return int(conn.execute(select(func.count()).where(places)).scalar_one())

    def leave(self, group: str, owner: str) -> bool:
        """Give `owner`'s place in `group` back (the others count one fewer at once)."""
        return self.release(_place(group, owner), owner)

    def holder(self, name: str) -> Lease | None:
        """The lease as stored (it may have expired), or None."""
        with self.db.reading() as conn:
            row = conn.execute(select(leases).where(leases.c.name == name)).first()
        return None if row is None else Lease(**row._mapping)


def _place(group: str, owner: str) -> str:
    """A place's lease name: the owner hashed, as an owner (host name, pid) may be longer
    than a lease name can be."""
    return f"{group}:{hashlib.sha256(owner.encode()).hexdigest()[:32]}"
