"""When editions are due: cron expressions in the site's zone, as APScheduler 3 triggers.

Two traps are handled here rather than left to the operator: a CronTrigger object ignores the
scheduler's zone (so every trigger gets the site's zone explicitly), and APScheduler numbers
the days of the week from Monday = 0 while crontab(5) has Sunday = 0, so numeric days are
turned into names before APScheduler reads them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo

from apscheduler.triggers.cron import CronTrigger

from publisher.digest.editions import edition_key
from publisher.errors import SettingsError
from publisher.models import Edition, EditionKind
from publisher.settings import Settings

_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")
_NUMBER = re.compile(r"(?<!/)\d+")  # a day number; not the step in */2
# Far enough back to find the previous fire of any schedule that fires at least weekly.
_HORIZON = timedelta(days=8)


def cron_trigger(expression: str, zone: tzinfo, *, key: str = "cron") -> CronTrigger:
    """A trigger for a five-field crontab expression, in `zone`, with crontab's day numbers."""
    fields = expression.split()
    if len(fields) != 5:
        raise SettingsError(f"{key}: {expression!r} is not a cron expression of five fields")
    fields[4] = _NUMBER.sub(lambda m: _day_name(m.group(), key), fields[4])
    try:
        return CronTrigger.from_crontab(" ".join(fields), timezone=zone)
    except ValueError as exc:
        raise SettingsError(
            f"{key}: {expression!r} is not a valid cron expression: {exc}"
        ) from None


def _day_name(number: str, key: str) -> str:
    if int(number) >= len(_DAYS):
        raise SettingsError(f"{key}: day of week {number} is out of range (0-7, 0 = Sunday)")
    return _DAYS[int(number)]


def edition_triggers(settings: Settings) -> dict[EditionKind, CronTrigger]:
    """The scheduled editions (daily, weekly) whose cron expression is set."""
    zone = settings.site.zone
    found = {}
    for kind, expression in (
        (EditionKind.DAILY, settings.digest.daily),
        (EditionKind.WEEKLY, settings.digest.weekly),
    ):
        if expression.strip():
            found[kind] = cron_trigger(expression, zone, key=f"digest.{kind.value}")
    return found


def last_fire(trigger: CronTrigger, now: datetime) -> datetime | None:
    """The trigger's latest fire time at or before `now` (within the last eight days)."""
    # All in UTC: arithmetic and comparisons on two datetimes of one zone use the wall
    # clock and ignore `fold`, so the two 01:30s of an autumn change would look alike.
    now = now.astimezone(UTC)
    found = None
    moment = trigger.get_next_fire_time(None, now - _HORIZON)
    while moment is not None and moment.astimezone(UTC) <= now:
        found = moment
        after = moment.astimezone(UTC) + timedelta(seconds=1)  # cron's resolution is a second
        moment = trigger.get_next_fire_time(moment, after)
    return found


def scheduled_edition(kind: EditionKind, fire: datetime, zone: tzinfo) -> Edition:
    """The edition a scheduled fire time stands for: keyed by the fire time's local date (so
    two schedulers, a restart or a repeated hour all name the same edition), cut off there."""
    return Edition(key=edition_key(kind, fire, zone), kind=kind, cutoff=fire)
