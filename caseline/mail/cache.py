"""Per-process caches of the ingest path: rows that do not change from one message to
the next (our mailbox addresses, the staff addresses, acknowledgement templates, the
mailboxes of the SMTP receiver, teams and product areas of mailboxes).

Each cache reloads at most every ``CACHE_SECONDS`` and is cleared at once by
``post_save``/``post_delete`` of its models in this process (connected in
``MailConfig.ready``). A change made by another process is therefore seen within
``CACHE_SECONDS``; what the caches hold is only ever a hint or configuration, never a
decision that cannot wait that long (a cached staff address is re-checked against the
user row before it is trusted).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")

CACHE_SECONDS = 5.0


class TtlValue(Generic[T]):
    """One value loaded by ``loader``; reloaded when older than ``seconds`` or cleared."""

    def __init__(self, loader: Callable[[], T], seconds: float = CACHE_SECONDS) -> None:
        self._loader = loader
        self._seconds = seconds
        self._at = 0.0
        self._loaded = False
        self._value: T | None = None

    def get(self) -> T:
        if not self._loaded or time.monotonic() - self._at > self._seconds:
            value = self._loader()
            self._value, self._at, self._loaded = value, time.monotonic(), True
            return value
        return self._value  # type: ignore[return-value]

    def clear(self, *_: Any, **__: Any) -> None:
        self._loaded = False
        self._value = None


def _staff_addresses() -> dict[str, int]:
    from caseline.accounts.models import User

    out: dict[str, int] = {}
    rows = (
        User.objects.filter(kind=User.Kind.STAFF, is_active=True)
        .exclude(email="")
        .order_by("-id")
        .values_list("email", "id")
    )
    for email, pk in rows:  # descending ids: the lowest id of an address wins
        out[email.lower()] = pk
    return out


def _ack_templates() -> dict[int | None, Any]:
    from .models import AckTemplate

    out: dict[int | None, Any] = {}
    for row in AckTemplate.objects.filter(active=True).order_by("-id"):
        out[row.team_id] = row  # descending ids: the lowest id per team wins
    return out


def _mailbox_addresses() -> frozenset[str]:
    from .models import Mailbox

    return frozenset(a.lower() for a in Mailbox.objects.values_list("address", flat=True))


def _mailboxes() -> tuple[dict[int, Any], dict[str, Any]]:
    """(every mailbox by id, the active ones by lower-cased address)."""
    from .models import Mailbox

    by_id: dict[int, Any] = {}
    by_address: dict[str, Any] = {}
    for box in Mailbox.objects.order_by("-name", "-id"):  # the first by name wins
        by_id[box.pk] = box
        if box.active:
            by_address[box.address.strip().lower()] = box
    return by_id, by_address


def mailbox_by_address(address: str) -> Any:
    """A copy of the active mailbox with this address (case-insensitive), or None."""
    box = mailboxes.get()[1].get((address or "").strip().lower())
    return copy.copy(box) if box is not None else None


def mailboxes_by_id(ids: list[int]) -> list[Any]:
    """Copies of the mailboxes with these ids (active or not), in id order."""
    by_id = mailboxes.get()[0]
    return [copy.copy(by_id[pk]) for pk in sorted(set(ids)) if pk in by_id]


mailbox_addresses: TtlValue[frozenset[str]] = TtlValue(_mailbox_addresses)
mailboxes: TtlValue[tuple[dict[int, Any], dict[str, Any]]] = TtlValue(_mailboxes)
staff_addresses: TtlValue[dict[str, int]] = TtlValue(_staff_addresses)
ack_templates: TtlValue[dict[int | None, Any]] = TtlValue(_ack_templates)


class TtlRows:
    """Model rows by primary key, each kept ``seconds``; hands out copies."""

    def __init__(self, model_path: str, seconds: float = CACHE_SECONDS) -> None:
        self._model_path = model_path
        self._seconds = seconds
        self._rows: dict[int, tuple[float, Any]] = {}

    def get(self, pk: int | None) -> Any:
        if pk is None:
            return None
        hit = self._rows.get(pk)
        if hit is None or time.monotonic() - hit[0] > self._seconds:
            from django.apps import apps

            model = apps.get_model(self._model_path)
            row = model.objects.filter(pk=pk).first()
            if row is None:
                self._rows.pop(pk, None)
                return None
            hit = (time.monotonic(), row)
            self._rows[pk] = hit
        return copy.copy(hit[1])

    def clear(self, *_: Any, **__: Any) -> None:
        self._rows.clear()


teams = TtlRows("accounts.Team")
product_areas = TtlRows("accounts.ProductArea")


def clear_all(*_: Any, **__: Any) -> None:
    """Forget everything (tests call this between cases; signals clear single caches)."""
    for cache in (mailbox_addresses, mailboxes, staff_addresses, ack_templates):
        cache.clear()
    teams.clear()
    product_areas.clear()


def connect_signals() -> None:
    from django.db.models.signals import post_delete, post_save

    from caseline.accounts.models import ProductArea, Team, User

    from .models import AckTemplate, Mailbox

    pairs: list[tuple[Any, Callable[..., None], str]] = [
        (Mailbox, mailbox_addresses.clear, "addr"),
        (Mailbox, mailboxes.clear, "boxes"),
        (User, staff_addresses.clear, "staff"),
        (AckTemplate, ack_templates.clear, "ack"),
        (Team, teams.clear, "team"),
        (ProductArea, product_areas.clear, "area"),
    ]
    for model, handler, name in pairs:
        post_save.connect(handler, sender=model, dispatch_uid=f"mail-cache-{name}-save")
        post_delete.connect(handler, sender=model, dispatch_uid=f"mail-cache-{name}-del")
