"""What the scheduler runs: a gather (with feeds and the related index after it), and the
scheduled editions, each planned once under its key and set sending for the workers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.triggers.cron import CronTrigger

from publisher.app import App
from publisher.delivery.send import begin, notify_editors
from publisher.digest.build import Mailer
from publisher.digest.hold import hold_reasons
from publisher.errors import PublisherError
from publisher.models import Edition, EditionKind, EditionStatus, PlannedEdition, Subscriber
from publisher.pipeline import gather_and_publish, mailer
from publisher.service.leader import Leadership
from publisher.service.schedule import (
    Slot,
    due_slots,
    edition_triggers,
    last_fire,
    scheduled_edition,
)

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time, in UTC."""
    return datetime.now(UTC)


class Jobs:
    """The service's jobs on one App. Every job is safe to run twice at once, in two
    processes or after a restart: editions are keyed in the database."""

    def __init__(
        self, app: App, *, clock: Clock = utc_now, leadership: Leadership | None = None
    ) -> None:
        self.app = app
        self.clock = clock
        # With several `run` processes on one database, only the leader's jobs do work.
        self.leadership = leadership
        self.triggers: dict[EditionKind, CronTrigger] = edition_triggers(app.settings)
        self.grace = timedelta(minutes=app.settings.digest.grace_minutes)
        self._groups_seen: tuple[Any, list[tuple[str | None, int | None]]] | None = None
        self._planner: Mailer | None = None

    def gather(self) -> None:
        """Gather every section, rewrite the feeds that changed, update the related index."""
        if not self.leading:
            return
        run = gather_and_publish(self.app)
        sections = run.gathered.sections.values()
        log.info(
            "gathered new=%d updated=%d rejected=%d errors=%d feeds_written=%d",
            sum(s.new for s in sections),
            sum(s.updated for s in sections),
            sum(s.rejected for s in sections),
            sum(len(s.errors) for s in sections),
            len(run.feeds.written) if run.feeds else 0,
        )

    def edition(self, kind: EditionKind) -> PlannedEdition | None:
        """The edition of `kind` whose time came last: planned once and set sending, when it
        is at most `grace_minutes` late; None when there is none that recent."""
        if not self.leading:
            return None
        now = self.clock()
        fire = last_fire(self.triggers[kind], now)
        if fire is None:
            return None
        edition = scheduled_edition(kind, fire, self.app.settings.site.zone)
        if now - fire > self.grace:
            if self.app.store.editions.get(edition.key) is None:
                late = int((now - fire).total_seconds() // 60)
                log.warning(
                    "edition %s skipped: due %s, %d minutes ago (grace_minutes=%d)",
                    edition.key,
                    fire.isoformat(),
                    late,
                    self.grace.total_seconds() // 60,
                )
            return None
        planned = self._mailer().record(edition, now=now)
        status = self._start(planned)
        log.info(
            "edition due key=%s fire=%s created=%s status=%s recipients=%d",
            planned.edition.key,
            fire.isoformat(),
            planned.created,
            status.value,
            planned.deliveries,
        )
        return planned

    def tick(self) -> list[PlannedEdition]:
        """Local morning delivery: plan and start every slot that is due (readers whose hour
        has come on their local date and who were not served that date yet)."""
        digest = self.app.settings.digest
        if not self.leading or digest.delivery != "local":
            return []
        now = self.clock()
        slots = due_slots(
            self._groups(),
            now,
            site_zone=self.app.settings.site.zone,
            default_hour=digest.hour,
            grace=self.grace,
        )
        return [found for slot in slots if (found := self._slot(slot, now)) is not None]

    def _groups(self) -> list[tuple[str | None, int | None]]:
        """The readers' (zone, hour) groups, read again only when a reader changed."""
        store = self.app.store.subscribers
        marker = store.change_marker()
        if self._groups_seen is None or self._groups_seen[0] != marker:
            self._groups_seen = (marker, store.delivery_groups())
        return self._groups_seen[1]

    def _slot(self, slot: Slot, now: datetime) -> PlannedEdition | None:
        existing = self.app.store.editions.get(slot.key)
        if existing is not None and existing.edition.id is not None:
            status, _ = self.app.store.deliveries.status(existing.edition.id)
            if status is not EditionStatus.PLANNED:
                return None  # planned and started before (a reader who came late waits a day)
        local_date = slot.local_date.isoformat()
        subscribers = self.app.store.subscribers
        if existing is None and not any(
            subscribers.any_due(zone, hour, local_date) for zone, hour in slot.groups
        ):
            return None  # everyone of it was served that date already (moved here, say)

        def audience() -> list[Subscriber]:
            return [
                s for zone, hour in slot.groups for s in subscribers.due(zone, hour, local_date)
            ]

        edition = Edition(key=slot.key, kind=EditionKind.DAILY, cutoff=slot.at)
        planned = self._mailer().record(edition, now=now, audience=audience, local_date=local_date)
        status = self._start(planned)
        log.info(
            "slot due key=%s created=%s status=%s recipients=%d skipped=%d",
            slot.key,
            planned.created,
            status.value,
            planned.deliveries,
            planned.skipped,
        )
        return planned

    def _mailer(self) -> Mailer:
        """The planner of scheduled editions, made once (planning needs no related links)."""
        if self._planner is None:
            self._planner = mailer(self.app)
        return self._planner

    def _start(self, planned: PlannedEdition) -> EditionStatus:
        """Start a freshly planned edition (or hold it); one paused, held or cancelled before
        waits for an editor. The edition's status after."""
        assert planned.edition.id is not None
        status, _ = self.app.store.deliveries.status(planned.edition.id)
        return self._hold_or_begin(planned) if status is EditionStatus.PLANNED else status

    def _hold_or_begin(self, planned: PlannedEdition) -> EditionStatus:
        """Set the edition sending, or hold it for an editor when it looks wrong."""
        settings = self.app.settings
        anybody = planned.deliveries or planned.skipped  # no reader at all: nothing to hold
        check = settings.digest.hold and anybody
        reasons = hold_reasons(self.app.store, planned.edition, settings.digest) if check else []
        if not reasons:
            return begin(self.app.store.deliveries, planned)
        assert planned.edition.id is not None
        reason = "; ".join(reasons)
        held = self.app.store.deliveries.set_status(
            planned.edition.id,
            EditionStatus.HELD,
            reason=reason,
            only_from=(EditionStatus.PLANNED,),
        )
        if held:
            log.warning("edition held key=%s: %s", planned.edition.key, reason)
            self._tell_editors(planned, reason)
        return self.app.store.deliveries.status(planned.edition.id)[0]

    def _tell_editors(self, planned: PlannedEdition, reason: str) -> None:
        settings = self.app.settings
        if not settings.digest.editors:
            return
        key = planned.edition.key
        body = (
            f"The automatic send of {key} is held: {reason}.\n\n"
            f"It goes to {planned.deliveries:,} readers once an editor releases it, or is "
            f"cancelled, at {settings.public_url}/admin/editions/{key}\n"
        )
        try:
            notify_editors(
                settings, f"[{settings.site.name}] {key} is held", body, now=self.clock()
            )
        except PublisherError as exc:  # the dashboard still shows it
            log.error("editors not told of held edition key=%s: %s", key, exc)

    @property
    def leading(self) -> bool:
        """True when this process is to do the scheduled work (the leader, or the only one)."""
        return self.leadership is None or self.leadership.held

    def start_up(self) -> None:
        """At start-up: gather, then send each edition missed while the process was down
        (within the grace period; a no-op for one already planned)."""
        try:
            self.gather()
        finally:
            self.catch_up()

    def catch_up(self) -> list[PlannedEdition]:
        """The editions due within the grace period, planned and started once."""
        found = [planned for kind in self.triggers if (planned := self.edition(kind)) is not None]
        return found + self.tick()
