"""When editions are due: cron expressions in the site's zone, as APScheduler 3 triggers.

Two traps are handled here rather than left to the operator: a CronTrigger object ignores the
scheduler's zone (so every trigger gets the site's zone explicitly), and APScheduler numbers
the days of the week from Monday = 0 while crontab(5) has Sunday = 0, so numeric days are
turned into names before APScheduler reads them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

from publisher.digest.editions import edition_key
from publisher.errors import SettingsError
from publisher.models import Edition, EditionKind
from publisher.settings import Settings

_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Far enough back to find the previous fire of any schedule that fires at least weekly.
_HORIZON = timedelta(days=8)


def cron_trigger(expression: str, zone: tzinfo, *, key: str = "cron") -> CronTrigger:
    """A trigger for a five-field crontab expression, in `zone`, with crontab's day numbers."""
    fields = expression.split()
    if len(fields) != 5:
        raise SettingsError(f"{key}: {expression!r} is not a cron expression of five fields")
    fields[4] = _day_names(fields[4], key)
    try:
        return CronTrigger.from_crontab(" ".join(fields), timezone=zone)
    except ValueError as exc:
        raise SettingsError(
            f"{key}: {expression!r} is not a valid cron expression: {exc}"
        ) from None


def _day_names(field: str, key: str) -> str:
    """A crontab day-of-week field (0 or 7 is Sunday; ranges, lists, steps, names) as the
    explicit day names APScheduler reads the same way: "1-5" is "mon,tue,wed,thu,fri"."""
    if field == "*":
        return field
    days: set[int] = set()
    for part in field.lower().split(","):
        span, _, step = part.partition("/")
        if span == "*":
            low, high = 0, 6
        else:
            first, _, last = span.partition("-")
            low = _day_number(first, key)
            high = _day_number(last, key) if last else (6 if step else low)
            if high == 0 and last:  # "5-7" or "5-0": up to Sunday, the end of the week
                high = 7
        if not step.isdigit() and step:
            raise SettingsError(f"{key}: day-of-week step {step!r} is not a number")
        every = int(step) if step else 1
        if every < 1 or low > high:
            raise SettingsError(f"{key}: day-of-week {part!r} is not a range of days")
        days.update(day % 7 for day in range(low, high + 1, every))
    return ",".join(_DAYS[day] for day in sorted(days))


def _day_number(text: str, key: str) -> int:
    if text.isdigit() and int(text) < len(_DAYS):
        return int(text)
    if text[:3] in _DAYS:
        return _DAYS.index(text[:3])
    raise SettingsError(f"{key}: day of week {text!r} is not 0-7 (0 = Sunday) or a day's name")


def edition_triggers(settings: Settings) -> dict[EditionKind, CronTrigger]:
    """The scheduled editions (daily, weekly) whose cron expression is set."""
    zone = settings.site.zone
    found = {}
    daily = settings.digest.daily if settings.digest.delivery == "site" else ""
    for kind, expression in (
        (EditionKind.DAILY, daily),
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


@dataclass(kw_only=True)
class Slot:
    """One local-morning edition: the readers whose local date, hour and UTC offset agree."""

    key: str
    local_date: date
    at: datetime  # the instant it is due
    groups: list[tuple[str | None, int | None]] = field(default_factory=list)  # (zone, hour)


def slot_instant(local_date: date, hour: int, zone: tzinfo) -> datetime:
    """When `hour` o'clock of `local_date` happens in `zone`. An hour skipped by a spring
    change comes at the same distance after midnight (02:30 becomes 03:30); a repeated
    autumn hour comes at its first occurrence."""
    midnight = datetime.combine(local_date, time(0), tzinfo=zone).astimezone(UTC)
    wall = datetime.combine(local_date, time(hour), tzinfo=zone)
    instant = wall.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != wall.replace(tzinfo=None):
        return midnight + timedelta(hours=hour)  # a local time that does not exist
    return instant


def slot_key(local_date: date, hour: int, offset: timedelta) -> str:
    """`daily:2026-12-02T07:00+05:30`: the local date and hour, and the offset from UTC."""
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"daily:{local_date.isoformat()}T{hour:02d}:00{sign}{hours:02d}:{rest:02d}"


def due_slots(
    groups: list[tuple[str | None, int | None]],
    now: datetime,
    *,
    site_zone: tzinfo,
    default_hour: int,
    grace: timedelta,
) -> list[Slot]:
    """The slots due at `now` (their instant passed at most `grace` ago) for these
    (zone, hour) groups, earliest first. A group whose hour has not come yet on its
    local date is not due; the local date it is due on is the reader's own."""
    slots: dict[str, Slot] = {}
    for name, hour in groups:
        zone = _zone(name) or site_zone
        local_hour = default_hour if hour is None else hour
        today = now.astimezone(zone).date()
        # Yesterday too: an evening hour missed just before midnight is still within grace.
        for local_date in (today - timedelta(days=1), today):
            at = slot_instant(local_date, local_hour, zone)
            if not at <= now <= at + grace:
                continue
            offset = at.astimezone(zone).utcoffset() or timedelta(0)
            key = slot_key(local_date, local_hour, offset)
            slot = slots.setdefault(key, Slot(key=key, local_date=local_date, at=at))
            slot.groups.append((name, hour))
    return sorted(slots.values(), key=lambda slot: (slot.at, slot.key))


@cache  # a tick asks for every group's zone; ZoneInfo's own cache is slower than this
def _zone(name: str | None) -> tzinfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None  # validated on entry; a zone the system no longer knows: the site's
