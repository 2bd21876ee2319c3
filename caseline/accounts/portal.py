"""Customer portal sign-in: one-time sign-in links ("magic links") and portal logins.

A customer is a ``User`` of kind ``customer`` linked one-to-one to their ``Contact``; the
tickets they see follow from that contact (``caseline.tickets.queries.visible_tickets``).

Sign-in links:

* :func:`request_link` -- someone typed an address into the portal's sign-in form. When
  the address belongs to a contact that may use the portal, a link is emailed (outbox)
  and ``True`` returned; otherwise nothing happens and ``False`` is returned. Callers
  must answer both cases identically, so the form never reveals whether an address is
  known. At most ``PORTAL_LINKS_PER_HOUR`` links per address per hour (default 5): more
  requests are dropped silently, also to stop the form being used to flood an inbox.
* :func:`consume_link` -- the secret from the link, exchanged once for the portal user
  (created on first use for a contact that has none). The secret is random (256 bits);
  only its SHA-256 digest is stored. A link works once and for ``PORTAL_LINK_MINUTES``
  (default 15); using one retires every other outstanding link of the same contact.

Audit events: ``portal.link_sent`` (never the secret), ``portal.user_created``,
``portal.signed_in`` (method ``link`` or ``password``).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q

from caseline.audit.services import record
from caseline.errors import Conflict, ValidationFailed
from caseline.timesource import now

from .models import Contact, MagicLink, User
from .tokens import digest

SECRET_BYTES = 32


class LinkRefused(ValidationFailed):
    """The sign-in link cannot be used: ``reason`` is ``invalid``, ``used``, ``expired``
    or ``inactive``."""

    code = "link_refused"

    def __init__(self, reason: str, message: str):
        super().__init__(message, fields={"link": reason})
        self.reason = reason


def link_minutes() -> int:
    return int(getattr(settings, "PORTAL_LINK_MINUTES", 15))


def links_per_hour() -> int:
    return int(getattr(settings, "PORTAL_LINKS_PER_HOUR", 5))


def normalize(address: str) -> str:
    """A lower-cased valid address, or ValidationFailed (the only error the request form
    shows; it says nothing about whether the address is known)."""
    value = (address or "").strip().lower()
    try:
        if len(value) > 254:
            raise DjangoValidationError("too long")
        validate_email(value)
    except DjangoValidationError:
        raise ValidationFailed(
            "enter a valid email address", fields={"email": "not a valid email address"}
        ) from None
    return value


def _contact_for(address: str) -> Contact | None:
    from .services import contact_by_email

    return contact_by_email(address)


def portal_user_of(contact: Contact) -> User | None:
    return User.objects.filter(contact=contact, kind=User.Kind.CUSTOMER).first()


def _may_sign_in(contact: Contact, address: str) -> bool:
    """The contact has an active portal user, or one can be created for this address."""
    user = portal_user_of(contact)
    if user is not None:
        return user.is_active
    return not User.objects.filter(Q(email__iexact=address) | Q(username__iexact=address)).exists()


def ensure_portal_user(
    contact: Contact,
    *,
    email: str | None = None,
    password: str | None = None,
    actor: User | None = None,
) -> User:
    """The contact's portal user, created when it has none (username and email: ``email``
    or the contact's primary address; no usable password unless ``password`` is given).
    Conflict when another user already holds the address; ValidationFailed for a weak
    password. Appends ``portal.user_created``."""
    with transaction.atomic():
        existing = portal_user_of(contact)
        if existing is not None:
            return existing
        address = normalize(email or contact.primary_email)
        if password is not None:
            try:
                validate_password(password)
            except DjangoValidationError as exc:
                raise ValidationFailed(
                    "the password is not valid", fields={"password": " ".join(exc.messages)}
                ) from None
        taken = User.objects.filter(Q(email__iexact=address) | Q(username__iexact=address))
        if taken.exists():
            raise Conflict(f"another user already signs in as {address}", fields={"email": "taken"})
        user = User(
            username=address,
            email=address,
            kind=User.Kind.CUSTOMER,
            contact=contact,
            display_name=contact.name[:150],
            time_zone=contact.time_zone or "UTC",
            is_staff=False,
        )
        if password is not None:
            user.set_password(password)
        else:
            user.set_unusable_password()
        try:
            with transaction.atomic():
                user.save()
        except IntegrityError:  # another request created it first
            found = portal_user_of(contact)
            if found is None:
                raise Conflict(
                    f"another user already signs in as {address}", fields={"email": "taken"}
                ) from None
            return found
        record(
            "portal.user_created",
            "user",
            user.pk,
            actor=actor,
            data={"contact_id": contact.pk, "email": address, "password": password is not None},
        )
    return user


def request_link(address: str, *, link_url: Callable[[str], str], ip: str = "") -> bool:
    """Email a one-time sign-in link to ``address`` when it belongs to a contact who may
    use the portal and the address is under its hourly limit. ``link_url(secret)`` makes
    the absolute URL. Returns whether a link was sent -- never show that to the caller."""
    address = normalize(address)
    with transaction.atomic():
        contact = _contact_for(address)
        if contact is None:
            return False
        # Serialise requests for one contact, so the hourly limit holds under concurrency.
        contact = Contact.objects.select_for_update().get(pk=contact.pk)
        if not _may_sign_in(contact, address):
            return False
        at = now()
        recent = MagicLink.objects.filter(email=address, created_at__gt=at - timedelta(hours=1))
        if recent.count() >= links_per_hour():
            return False
        secret = secrets.token_urlsafe(SECRET_BYTES)
        minutes = link_minutes()
        link = MagicLink.objects.create(
            contact=contact,
            email=address,
            digest=digest(secret),
            created_at=at,
            expires_at=at + timedelta(minutes=minutes),
            requested_ip=(ip or "")[:64],
        )
        url = link_url(secret)
        from caseline.notify.services import enqueue_email

        enqueue_email(
            key=f"portal-link-{link.pk}",
            to=[address],
            subject="Your sign-in link for the support portal",
            text=(
                f"Hello {contact.name},\n\n"
                f"use this link to sign in to the support portal:\n\n{url}\n\n"
                f"It works once and expires in {minutes} minutes. If you did not ask for "
                "it, ignore this email: nobody can sign in without it.\n"
            ),
            subject_type="contact",
            subject_id=contact.pk,
        )
        record(
            "portal.link_sent",
            "contact",
            contact.pk,
            at=at,
            data={"email": address, "link_id": link.pk, "ip": (ip or "")[:64]},
        )
    return True


def find_link(secret: str) -> MagicLink | None:
    """The stored link of ``secret`` (a read: the confirmation page checks it before the
    customer presses the button)."""
    if not secret or len(secret) > 200:
        return None
    return MagicLink.objects.filter(digest=digest(secret)).first()


def link_problem(link: MagicLink | None) -> LinkRefused | None:
    if link is None:
        return LinkRefused("invalid", "this sign-in link is not valid")
    if link.used_at is not None:
        return LinkRefused("used", "this sign-in link has already been used")
    if link.expires_at <= now():
        return LinkRefused("expired", "this sign-in link has expired")
    return None


def consume_link(secret: str, *, ip: str = "") -> User:
    """Exchange a sign-in link's secret for its contact's portal user (created on first
    use) and retire the link (and the contact's other outstanding links). LinkRefused
    when the link is unknown, used, expired or its user deactivated; nothing changes then."""
    if not secret or len(secret) > 200:
        raise LinkRefused("invalid", "this sign-in link is not valid")
    with transaction.atomic():
        link = MagicLink.objects.select_for_update().filter(digest=digest(secret)).first()
        problem = link_problem(link)
        if problem is not None:
            raise problem
        assert link is not None
        from .services import resolve_merged

        contact = resolve_merged(link.contact)
        # merge_contacts points every earlier merge at the survivor: chains are one long
        seen = {link.contact_id, contact.pk}
        user = portal_user_of(contact)
        if user is not None and not user.is_active:
            raise LinkRefused("inactive", "this portal account is deactivated")
        if user is None:
            try:
                user = ensure_portal_user(contact, email=link.email)
            except Conflict:
                raise LinkRefused("invalid", "this address cannot sign in to the portal") from None
        at = now()
        MagicLink.objects.filter(contact_id__in=seen, used_at__isnull=True).update(used_at=at)
        record(
            "portal.signed_in",
            "user",
            user.pk,
            actor=user,
            at=at,
            data={"method": "link", "link_id": link.pk, "ip": (ip or "")[:64]},
        )
    return user


def record_password_sign_in(user: User, *, ip: str = "") -> None:
    """Audit a customer's password sign-in (Django's login() sets last_login)."""
    with transaction.atomic():
        record(
            "portal.signed_in",
            "user",
            user.pk,
            actor=user,
            data={"method": "password", "ip": (ip or "")[:64]},
        )
