"""Single messages to one subscriber outside the digest: the confirmation request of double
opt-in, rendered from `email/confirm.html.j2` and `.txt.j2` (an operator's templates first)."""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid, parseaddr

from publisher.digest.inline import premailer
from publisher.digest.render import Renderer
from publisher.models import Subscriber
from publisher.settings import Settings, secret_key
from publisher.subscribers.tokens import Purpose, Tokens


class Notices:
    """Builds the messages sent to one subscriber at a time."""

    def __init__(self, settings: Settings, renderer: Renderer | None = None) -> None:
        self.settings = settings
        self.renderer = renderer or Renderer(settings)
        self.tokens = Tokens(secret_key(settings))
        self.domain = parseaddr(settings.digest.sender)[1].rsplit("@", 1)[-1]

    def confirm_url(self, subscriber: Subscriber) -> str:
        """The signed link that confirms this subscriber."""
        token = self.tokens.make(subscriber, Purpose.CONFIRM)
        return f"{self.settings.public_url}/confirm/{token}"

    def confirmation(self, subscriber: Subscriber, *, now: datetime) -> EmailMessage:
        """The message asking a pending subscriber to confirm, with its signed link."""
        settings = self.settings
        titles = {section.slug: section.title for section in settings.sections}
        subject = f"Confirm your subscription to {settings.site.name}"
        context = {
            "site": {"name": settings.site.name, "language": settings.site.language},
            "subject": subject,
            "greeting": f"Hello {subscriber.name}," if subscriber.name else "Hello,",
            "email": subscriber.email,
            "frequency": subscriber.frequency.value,
            "sections": [titles.get(slug, slug) for slug in subscriber.sections],
            "confirm_url": self.confirm_url(subscriber),
            "sender_line": settings.digest.postal_address,
            "css": self.renderer.css,
        }
        env = self.renderer.env
        text = env.get_template("email/confirm.txt.j2").render(context)
        page = env.get_template("email/confirm.html.j2").render(context)
        message = EmailMessage()
        message["From"] = settings.digest.sender
        message["To"] = formataddr((subscriber.name, subscriber.email))
        message["Subject"] = subject
        message["Date"] = format_datetime(now)
        message["Message-ID"] = make_msgid("confirm", domain=self.domain)
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to this
        message.set_content(text)
        message.add_alternative(premailer(page).transform(), subtype="html")
        return message
