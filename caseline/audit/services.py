"""Appending to the audit timeline, and publishing the matching domain event."""

from __future__ import annotations

from typing import Any

from caseline.events import DomainEvent, publish
from caseline.timesource import now

from .models import AuditEvent


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if hasattr(value, "pk"):
        return value.pk
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def record(
    event_type: str,
    subject_type: str,
    subject_id: int,
    *,
    actor: Any = None,
    ticket_id: int | None = None,
    changes: dict[str, tuple[Any, Any]] | None = None,
    data: dict[str, Any] | None = None,
    at=None,
    publish_event: bool = True,
    subject: Any = None,
) -> list[AuditEvent]:
    """Append audit rows for one state change and publish one domain event.

    ``changes`` maps field -> (old, new); each becomes its own row so the timeline reads
    field by field. Must be called inside the service's transaction. ``subject``: the
    saved row the event is about, handed to subscribers in-process
    (``DomainEvent.subject``) so they need not read it again.
    """
    at = at or now()
    actor_id = getattr(actor, "pk", None)
    label = getattr(actor, "email", "") or ("system" if actor is None else str(actor))
    payload = _jsonable(data or {})
    rows: list[AuditEvent] = []
    if changes:
        for field, (old, new) in changes.items():
            rows.append(
                AuditEvent(
                    subject_type=subject_type,
                    subject_id=subject_id,
                    ticket_id=ticket_id,
                    type=event_type,
                    actor_id=actor_id,
                    actor_label=label,
                    at=at,
                    field=field,
                    old=_jsonable(old),
                    new=_jsonable(new),
                    data=payload,
                )
            )
    else:
        rows.append(
            AuditEvent(
                subject_type=subject_type,
                subject_id=subject_id,
                ticket_id=ticket_id,
                type=event_type,
                actor_id=actor_id,
                actor_label=label,
                at=at,
                data=payload,
            )
        )
    if len(rows) == 1:
        rows[0].save()
    else:
        AuditEvent.objects.bulk_create(rows)
    if publish_event:
        event_data = dict(payload)
        if changes:
            event_data["changes"] = {f: _jsonable(list(v)) for f, v in changes.items()}
        publish(
            DomainEvent(
                type=event_type,
                subject_type=subject_type,
                subject_id=subject_id,
                at=at,
                actor_id=actor_id,
                data=event_data,
                audit_id=rows[0].pk,
                subject=subject,
            )
        )
    return rows
