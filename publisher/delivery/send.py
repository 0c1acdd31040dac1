"""An editor's sends: an edition started (or resumed), a test copy, a confirmation request."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from publisher.delivery.transports import Outgoing, Transport, build_transport
from publisher.digest.build import Mailer, preview_subscriber
from publisher.digest.message import PreparedVariant
from publisher.digest.notices import Notices
from publisher.errors import UserError
from publisher.models import EditionStatus, PlannedEdition, Subscriber, SubscriberStatus
from publisher.settings import Settings
from publisher.store import DeliveryStore, SubscriberStore
from publisher.store.subscribers import NewSubscriber

log = logging.getLogger(__name__)
STARTABLE = (EditionStatus.PLANNED, EditionStatus.PAUSED, EditionStatus.HELD)


def begin(deliveries: DeliveryStore, planned: PlannedEdition) -> EditionStatus:
    """Set a planned, paused or held edition sending (a sending or done one stays as it is);
    the status it then has. A cancelled edition is refused."""
    edition_id = planned.edition.id
    assert edition_id is not None
    status, reason = deliveries.status(edition_id)
    if status is EditionStatus.CANCELLED:
        raise UserError(f"{planned.edition.key} was cancelled ({reason or 'no reason given'})")
    if status in STARTABLE:
        deliveries.set_status(edition_id, EditionStatus.SENDING, only_from=STARTABLE)
        log.info("edition sending key=%s (was %s)", planned.edition.key, status.value)
        if deliveries.finish_if_done(edition_id):  # nothing to send: a reader-less edition
            return EditionStatus.DONE
    return deliveries.status(edition_id)[0]


def send_test(
    mailer: Mailer, transport: Transport, planned: PlannedEdition, email: str, *, now: datetime
) -> str:
    """Send one copy of the edition to `email`, its subject prefixed `[TEST]`, recording
    nothing (a subscriber's address gets their own digest; any other, every section's).
    Returns the subject sent."""
    edition = planned.edition
    reader = mailer.subscribers.by_email(email) or _stand_in(mailer, email, now)
    plan = mailer.plan(edition, [reader])
    if not plan.recipients:  # they had it all already: show the newest articles instead
        plan = mailer.latest(edition, reader, mailer.settings.digest.max_articles)
    if not plan.recipients:
        raise UserError(f"nothing to send to {email}: no article of their sections")
    fingerprint = plan.recipients[0][1]
    variant = plan.variants[fingerprint]
    encoded = mailer.edition_render(plan, variant.language).encoded(variant)
    encoded = replace(encoded, subject=f"[TEST] {encoded.subject}")
    # A stand-in for an address nobody subscribed with: links that lead to the sign-up page.
    known = (
        mailer.recipient(reader, edition, variant.language)
        if reader.id
        else mailer.anonymous(edition)
    )
    recipient = replace(
        known,
        name=reader.name,
        email=email,
        message_id=make_msgid("test", domain=mailer.domain),
    )
    data = PreparedVariant(encoded, mailer.envelope(edition)).message(recipient)
    transport.send(
        Outgoing(
            sender=parseaddr(mailer.settings.digest.sender)[1],
            recipient=email,
            data=data,
            message_id=recipient.message_id,
        )
    )
    log.info("test sent edition=%s to=%s", edition.key, email)
    return encoded.subject


def send_confirmation(
    notices: Notices, transport: Transport, subscriber: Subscriber, *, now: datetime
) -> None:
    """Send a pending subscriber the request to confirm (TransportError when it cannot)."""
    message = notices.confirmation(subscriber, now=now)
    transport.send(
        Outgoing(
            sender=parseaddr(notices.settings.digest.sender)[1],
            recipient=subscriber.email,
            data=message.as_bytes(policy=policy.SMTP),
            message_id=str(message["Message-ID"]),
        )
    )
    log.info("confirmation sent subscriber=%d", subscriber.id)


def notify_editors(settings: Settings, subject: str, body: str, *, now: datetime) -> None:
    """Mail the editors (`digest.editors`) a plain-text note through the configured transport
    (TransportError when it cannot)."""
    sender = parseaddr(settings.digest.sender)[1]
    transport = build_transport(settings)
    try:
        for editor in settings.digest.editors:
            message = EmailMessage()
            message["From"] = settings.digest.sender
            message["To"] = editor
            message["Subject"] = subject
            message["Date"] = format_datetime(now)
            message["Message-ID"] = make_msgid("editors", domain=sender.rsplit("@", 1)[-1])
            message["Auto-Submitted"] = "auto-generated"
            message.set_content(body)
            transport.send(
                Outgoing(
                    sender=sender,
                    recipient=editor,
                    data=message.as_bytes(policy=policy.SMTP),
                    message_id=str(message["Message-ID"]),
                )
            )
    finally:
        transport.close()
    log.info("editors told: %s", subject)


@dataclass(frozen=True, kw_only=True)
class Subscription:
    """The outcome of a sign-up: the subscriber, whether this call added them, and whether
    they are to be asked to confirm (False: already subscribed, or suppressed)."""

    subscriber: Subscriber
    created: bool
    to_confirm: bool = True


def enrol(subscribers: SubscriberStore, new: NewSubscriber, *, now: datetime) -> Subscription:
    """Store a sign-up: a new address as pending; one that unsubscribed as pending again
    (with a new secret); one already pending as it is. Any other is left alone."""
    found = subscribers.by_email(new.email)
    if found is not None and found.status is SubscriberStatus.UNSUBSCRIBED:
        subscribers.resubscribe(found.id, new, now=now)  # they confirm again
        found = subscribers.by_id(found.id)
    elif found is not None and found.status is not SubscriberStatus.PENDING:
        return Subscription(subscriber=found, created=False, to_confirm=False)
    subscriber = found or subscribers.add(new, now=now)
    return Subscription(subscriber=subscriber, created=found is None)


def subscribe(
    subscribers: SubscriberStore,
    notices: Notices,
    transport: Transport,
    new: NewSubscriber,
    *,
    now: datetime,
) -> Subscription:
    """Add a pending subscriber and send the confirmation request; for an address already
    pending, send the request again (people lose mail). A confirmed address is a UserError.
    The subscriber is stored before the mail goes: when the transport fails (TransportError),
    calling again sends it."""
    done = enrol(subscribers, new, now=now)
    if not done.to_confirm:
        raise UserError(f"{new.email} is already subscribed ({done.subscriber.status.value})")
    send_confirmation(notices, transport, done.subscriber, now=now)
    return done


def _stand_in(mailer: Mailer, email: str, now: datetime) -> Subscriber:
    every = [section.slug for section in mailer.settings.sections]
    return replace(preview_subscriber(every, now), email=email, name="")
