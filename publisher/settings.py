"""The one settings object: `settings.toml` validated, with secrets from the environment."""

from __future__ import annotations

import os
import re
import secrets
import string
import tomllib
from email.utils import parseaddr
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from publisher.errors import SettingsError

DEFAULT_CONFIG = "settings.toml"
SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]*$"
# `all` names the whole-site feed; the others are the web app's own paths.
RESERVED_SLUGS = frozenset(
    {"all", "admin", "archive", "confirm", "feeds", "healthz", "media", "preferences"}
    | {"subscribe", "unsubscribe", "static"}
)


def _no_control(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError(f"{value!r} holds a line break or another control character")
    return value


def format_fields(value: str, **sample: object) -> str:
    """Check a `{field}` template: only the named fields, plainly, and it fills in."""
    known = ", ".join(f"{{{name}}}" for name in sample)
    try:
        parsed = list(string.Formatter().parse(value))
    except ValueError as exc:
        raise ValueError(f"{exc} (write a literal brace as {{{{ or }}}})") from None
    for _, field, _, _ in parsed:
        if field is not None and field not in sample:
            raise ValueError(f"unknown field {{{field}}} (use {known})")
    try:
        value.format(**sample)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise ValueError(f"cannot be filled in: {exc}") from None
    return value


def _no_trailing_slash(value: str) -> str:
    return value.rstrip("/")


_CONTROL = re.compile("[\x00-\x1f\x7f]")
# Text that ends up in a mail header: a line break there would start a header of its own.
HeaderText = Annotated[str, AfterValidator(_no_control)]
# URLs are kept without a trailing slash, so paths can be appended with "/".
SiteUrl = Annotated[str, Field(pattern=r"^https?://[^/\s]+"), AfterValidator(_no_trailing_slash)]
HttpUrl = Annotated[str, Field(pattern=r"^https?://"), AfterValidator(_no_trailing_slash)]
OptionalUrl = Annotated[str, Field(pattern=r"^(https?://.*)?$"), AfterValidator(_no_trailing_slash)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SiteSettings(_Strict):
    name: HeaderText = Field(min_length=1)
    url: SiteUrl
    language: str = "en"
    timezone: str = "UTC"
    description: str = ""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name like 'Europe/Paris')"
            ) from None
        return value

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        from babel import Locale, UnknownLocaleError

        try:
            Locale.parse(value.replace("-", "_"))
        except (UnknownLocaleError, ValueError):
            raise ValueError(
                f"unknown language {value!r} (use a code like 'en', 'es', 'fr' or 'pt-BR')"
            ) from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        """The site's time zone, for dates given without one."""
        return ZoneInfo(self.timezone)

    @property
    def locale(self) -> str:
        """The language as a Babel locale name (`pt-BR` → `pt_BR`), for dates and numbers."""
        return self.language.replace("-", "_")


class StorageSettings(_Strict):
    url: str = "sqlite:///var/publisher.db"


class MarkdownSourceSettings(_Strict):
    type: Literal["markdown"]
    path: str = Field(min_length=1)


class FeedSourceSettings(_Strict):
    type: Literal["feed"]
    url: Annotated[str, Field(pattern=r"^https?://")]


class WordPressSourceSettings(_Strict):
    type: Literal["wordpress"]
    url: HttpUrl
    category: int | None = Field(default=None, ge=1)
    language: str = ""  # the posts' language (the REST API does not say); "": the site's


SourceSettings = Annotated[
    MarkdownSourceSettings | FeedSourceSettings | WordPressSourceSettings,
    Field(discriminator="type"),
]


class SectionSettings(_Strict):
    slug: Annotated[str, Field(pattern=SLUG_PATTERN)]
    title: str = Field(min_length=1)
    description: str = ""
    sources: tuple[SourceSettings, ...] = ()

    @field_validator("slug")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in RESERVED_SLUGS:
            raise ValueError(f"{value!r} is reserved (the whole-site feed or a web page)")
        return value


class GatherSettings(_Strict):
    interval_minutes: int = Field(default=10, ge=1)
    max_article_bytes: int = Field(default=1_000_000, ge=1_000)
    max_response_bytes: int = Field(default=20_000_000, ge=10_000)
    http_timeout: float = Field(default=20.0, gt=0)
    user_agent: str = "publisher/0.1 (+https://github.com/publisher)"
    workers: int = Field(default=32, ge=1, le=256)  # sources fetched at once
    per_host: int = Field(default=4, ge=1, le=64)  # requests at once to one host
    deadline: float = Field(default=600.0, gt=0)  # seconds for a whole gather's fetching


class FeedSettings(_Strict):
    path: str = "feeds"
    items: int = Field(default=50, ge=1, le=1000)
    url: OptionalUrl = ""  # default: site.url + /feeds
    websub_hub: Annotated[str, Field(pattern=r"^(https?://.*)?$")] = ""
    # The date in tag: URIs (RFC 4151) made for Atom ids that are not URIs; never change it.
    tag_date: Annotated[str, Field(pattern=r"^\d{4}(-\d{2}(-\d{2})?)?$")] = "2026"


class RelatedSettings(_Strict):
    """Related articles: the text similarity a link needs, and how the candidates are ordered."""

    limit: int = Field(default=3, ge=1, le=50)
    index_path: str = "var/related-index"
    text_weight: float = Field(default=1.0, ge=0)
    tags_weight: float = Field(default=0.25, ge=0)
    section_weight: float = Field(default=0.05, ge=0)
    recency_weight: float = Field(default=0.1, ge=0)
    recency_half_life_days: float = Field(default=30.0, gt=0)
    # The floor on the cosine: the other terms only order links that pass it; behind
    # `fill_after` such links, the last slots may take links down to `fill_similarity`
    # (at or above min_similarity it fills nothing). Chosen with
    # bench/related_quality.py --sweep (README, "How the floors were chosen").
    min_similarity: float = Field(default=0.14, ge=0, le=1)
    fill_similarity: float = Field(default=0.05, ge=0, le=1)
    fill_after: int = Field(default=2, ge=0, le=50)
    duplicate_similarity: float = Field(default=0.7, gt=0, le=1)


class DigestSettings(_Strict):
    sender: HeaderText = "TodayPress <digest@todaypress.example>"
    daily: str = "0 6 * * *"  # cron, in site.timezone; "" sends no daily edition
    weekly: str = "0 7 * * 1"  # day of week as in crontab(5): 0 or 7 is Sunday, 1 Monday
    # An edition whose time passed while publisher was down is sent at start-up when it is
    # at most this late; a later one is skipped (and logged): old news is not news.
    grace_minutes: int = Field(default=180, ge=1, le=24 * 60)
    # "site": one daily edition at `daily` in the site's zone. "local": each reader's digest
    # at their own hour in their own zone (default `hour` in the site's zone), planned by a
    # tick every `tick_minutes` into one edition slot per local date, hour and UTC offset.
    delivery: Literal["site", "local"] = "site"
    hour: int = Field(default=7, ge=0, le=23)
    # The languages readers may choose on the web pages (any tag is accepted elsewhere).
    languages: tuple[str, ...] = ("en", "es", "fr")
    tick_minutes: int = Field(default=5, ge=1, le=60)
    # The safety hold of automatic sends: an edition that looks wrong waits for an editor,
    # who is told on the dashboard and by mail at these addresses.
    editors: tuple[str, ...] = ()
    hold: bool = True
    hold_growth: float = Field(default=3.0, gt=1)  # times the median article count of the
    hold_history: int = Field(default=14, ge=1, le=365)  # last editions of the same kind
    hold_repeat_share: float = Field(default=0.5, gt=0, le=1)  # readers with a repeat
    # {site}, {date}, {count} and {first_title} are filled in.
    subject: HeaderText = "{site} — {date}: {first_title}"
    max_per_section: int = Field(default=10, ge=1, le=100)
    # In all: about 40 keep the HTML part under Gmail's 102 KB clipping limit.
    max_articles: int = Field(default=40, ge=1, le=200)
    workers: int = Field(default=0, ge=0, le=64)  # processes building messages; 0 = one per core
    lookback_days: int = Field(default=3, ge=1, le=60)
    # A new subscriber's first digest also carries what appeared this long before they joined.
    first_digest_hours: int = Field(default=24, ge=0, le=24 * 14)
    related_links: int = Field(default=3, ge=0, le=5)
    postal_address: str = "TodayPress, 1 Press Street, Example City"
    unsubscribe_mailto: HeaderText = ""
    templates: str = "templates"
    utm_source: str = "newsletter"
    utm_medium: str = "email"
    utm_campaign: str = "{edition}"

    @field_validator("sender")
    @classmethod
    def _address(cls, value: str) -> str:
        _, address = parseaddr(value)
        if "@" not in address:
            raise ValueError(f"{value!r} has no email address (write 'Name <address>')")
        return value

    @field_validator("subject")
    @classmethod
    def _subject_fields(cls, value: str) -> str:
        return format_fields(value, site="Site", date="28 November 2026", count=3, first_title="T")

    @field_validator("utm_campaign")
    @classmethod
    def _campaign_fields(cls, value: str) -> str:
        return format_fields(value, edition="daily:2026-11-28")


class SmtpSettings(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=25, ge=1, le=65535)
    security: Literal["none", "starttls", "tls"] = "none"
    username: str = ""  # the password comes from PUBLISHER_SMTP_PASSWORD
    connections: int = Field(default=4, ge=1, le=100)  # reused connections, in parallel
    rate: float = Field(default=0, ge=0)  # messages a second in all; 0: no limit
    timeout: float = Field(default=30.0, gt=0)
    messages_per_connection: int = Field(default=1000, ge=1)  # then a fresh connection
    helo: str = ""  # the name given in EHLO; default: the sender's domain


class OutboxSettings(_Strict):
    path: str = "var/outbox"


class DkimSettings(_Strict):
    domain: str = ""  # empty: messages are not signed; the key comes from PUBLISHER_DKIM_KEY
    selector: str = ""


class DeliverySettings(_Strict):
    transport: Literal["smtp", "outbox"] = "outbox"
    retries: int = Field(default=5, ge=0, le=50)  # tries after the first, for 4xx and drops
    retry_seconds: float = Field(default=60.0, gt=0)  # the first wait; it doubles each time
    lease_seconds: float = Field(default=300.0, gt=0)  # then a claimed row is claimed again
    batch: int = Field(default=200, ge=1, le=10_000)  # rows claimed at once
    workers: int = Field(default=1, ge=0, le=64)  # `publisher worker` processes `run` keeps
    # The send pauses when more than error_ratio of the last error_window results failed.
    error_window: int = Field(default=500, ge=10)
    error_ratio: float = Field(default=0.1, gt=0, le=1)
    smtp: SmtpSettings = SmtpSettings()
    outbox: OutboxSettings = OutboxSettings()
    dkim: DkimSettings = DkimSettings()


class ScheduleSettings(_Strict):
    # One `publisher run` per database schedules: it holds this lease, renewed every third
    # of it; when it dies, another takes over once the lease has run out.
    leader_lease_seconds: float = Field(default=30.0, ge=1.0, le=3600.0)


class WebSettings(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    # Where subscribers reach the web pages (links in emails); default: site.url.
    public_url: OptionalUrl = ""
    threads: int = Field(default=8, ge=1, le=256)  # requests served at once
    media: str = "content/media"  # files served under /media/ (the articles' images)
    # Sign-ups per client address (flask-limiter syntax): a form must not become a mail cannon.
    subscribe_limit: str = "5 per minute; 30 per hour"
    login_limit: str = "10 per minute; 50 per hour"
    # An edition sent to fewer readers is not in the web archive: its articles (and a
    # local-morning slot's key) would tell what those few readers chose.
    archive_min_readers: int = Field(default=5, ge=1)
    # Where the rate limits count (flask-limiter's storage URI): each process's memory by
    # default; with several web processes, a shared store such as "redis://host:6379".
    limiter_storage: str = "memory://"


class SecuritySettings(_Strict):
    # Used when PUBLISHER_SECRET_KEY is unset: created on first use (mode 0600), then kept.
    secret_key_file: str = "var/secret.key"


class Secrets(_Strict):
    """Values that only ever come from the environment, never from the file."""

    secret_key: str = ""
    smtp_password: str = ""
    admin_password: str = ""
    dkim_key: str = ""

    def __repr__(self) -> str:
        return "Secrets(<hidden>)"

    __str__ = __repr__


class Settings(_Strict):
    """Everything publisher is configured with; built once by `load_settings`, passed explicitly."""

    site: SiteSettings
    storage: StorageSettings = StorageSettings()
    sections: tuple[SectionSettings, ...] = Field(min_length=1)
    gather: GatherSettings = GatherSettings()
    feeds: FeedSettings = FeedSettings()
    related: RelatedSettings = RelatedSettings()
    digest: DigestSettings = DigestSettings()
    delivery: DeliverySettings = DeliverySettings()
    web: WebSettings = WebSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    security: SecuritySettings = SecuritySettings()
    base_dir: Path = Path(".")
    secrets: Secrets = Field(default=Secrets(), repr=False)

    @model_validator(mode="after")
    def _unique_slugs(self) -> Settings:
        seen: set[str] = set()
        for index, section in enumerate(self.sections):
            if section.slug in seen:
                raise ValueError(f"sections[{index}].slug: {section.slug!r} is used twice")
            seen.add(section.slug)
        return self

    def section(self, slug: str) -> SectionSettings:
        """The section with this slug, or a SettingsError naming the known ones."""
        for section in self.sections:
            if section.slug == slug:
                return section
        known = ", ".join(s.slug for s in self.sections)
        raise SettingsError(f"unknown section {slug!r} (known: {known})")

    @property
    def public_url(self) -> str:
        """The base URL of publisher's web pages, as linked from emails."""
        return self.web.public_url or self.site.url

    def resolve(self, path: str) -> Path:
        """A path from the settings, relative to the settings file's folder."""
        return (self.base_dir / path).resolve()

    @property
    def tag_authority(self) -> str:
        """The `authority,date` part of tag: URIs, from the site's host and `feeds.tag_date`."""
        host = self.site.url.split("://", 1)[1].split("/", 1)[0].split(":", 1)[0]
        return f"{host},{self.feeds.tag_date}"

    @property
    def database_url(self) -> str:
        """The storage URL with a relative SQLite path made relative to the settings file."""
        url = self.storage.url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and url != "sqlite://":
            return prefix + str(self.resolve(url[len(prefix) :]))
        return url


def secret_key(settings: Settings) -> str:
    """The key that signs subscribers' links: PUBLISHER_SECRET_KEY, else the key file of the
    settings, created with a random key (mode 0600) the first time one is needed."""
    if settings.secrets.secret_key:
        return settings.secrets.secret_key
    path = settings.resolve(settings.security.secret_key_file)
    try:
        return _read_key(path) or _create_key(path)
    except OSError as exc:
        raise SettingsError(
            f"security.secret_key_file: cannot use {path}: {exc.strerror or exc} "
            "(or set PUBLISHER_SECRET_KEY)"
        ) from None


def _read_key(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return ""


def _create_key(path: Path) -> str:
    """Write a new random key beside `path` and link it into place: of two processes doing
    this at once, one link wins and both read the same key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(secrets.token_urlsafe(48) + "\n")
    try:
        os.link(temp, path)
    except FileExistsError:
        pass
    finally:
        temp.unlink()
    return _read_key(path)


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    """Read, validate and return the settings; raise SettingsError with one line naming the key."""
    config = Path(path or os.environ.get("PUBLISHER_CONFIG") or DEFAULT_CONFIG)
    try:
        raw = tomllib.loads(config.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(
            f"{config}: settings file not found (use --config or PUBLISHER_CONFIG)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{config}: cannot read settings file: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{config}: not valid TOML: {exc}") from None
    return settings_from_dict(raw, base_dir=config.parent, name=str(config))


def settings_from_dict(
    raw: dict[str, Any], *, base_dir: Path = Path("."), name: str = "settings"
) -> Settings:
    """Validate a settings mapping (as read from TOML) and apply environment overrides."""
    for forbidden in ("base_dir", "secrets"):
        if forbidden in raw:
            raise SettingsError(f"{name}: {forbidden}: not a settings key")
    data = _with_environment(raw)
    try:
        return Settings(**data, base_dir=base_dir, secrets=_secrets_from_environment())
    except ValidationError as exc:
        raise SettingsError(f"{name}: {_describe(exc)}") from None


def _with_environment(raw: dict[str, Any]) -> dict[str, Any]:
    database_url = os.environ.get("PUBLISHER_DATABASE_URL")
    if not database_url:
        return raw
    storage = {**raw.get("storage", {}), "url": database_url}
    return {**raw, "storage": storage}


def _secrets_from_environment() -> Secrets:
    return Secrets(
        secret_key=os.environ.get("PUBLISHER_SECRET_KEY", ""),
        smtp_password=os.environ.get("PUBLISHER_SMTP_PASSWORD", ""),
        admin_password=os.environ.get("PUBLISHER_ADMIN_PASSWORD", ""),
        dkim_key=os.environ.get("PUBLISHER_DKIM_KEY", ""),
    )


def _describe(exc: ValidationError) -> str:
    """One line for the first problem: the dotted key, what is wrong, and how many more."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    key = _dotted(first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown key (check its spelling and table)"
    elif first["type"] == "missing":
        message = "required key is missing"
    elif first["type"] == "union_tag_invalid":
        message = "type must be one of 'markdown', 'feed', 'wordpress'"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{key}: {message}{more}" if key else f"{message}{more}"


def _dotted(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts[-1] = f"{parts[-1]}[{part}]" if parts else f"[{part}]"
        elif part not in {"markdown", "feed", "wordpress"}:
            parts.append(part)
    return ".".join(parts)
