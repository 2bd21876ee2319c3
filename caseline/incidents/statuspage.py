"""The public status page: components, the incidents marked public, their public
broadcasts, 14 days of history, and email subscriptions (double opt-in)
(docs/broadcasts.md).

Reading: :func:`snapshot` builds the whole page as one JSON-ready dict with three queries
(components; public incidents of the window with their impacts; their public
broadcasts) and keeps it in Django's cache for ``STATUS_PAGE_CACHE_SECONDS`` (default
10 s). Every service here and every broadcast drops it in the process that made the
change, at commit; other processes see a change within the cache time.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.validators import EmailValidator
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse

from caseline.audit.services import record
from caseline.errors import NotFound, ValidationFailed
from caseline.events import DomainEvent
from caseline.notify.services import enqueue_email
from caseline.timesource import now

from .models import Broadcast, Incident, IncidentComponent, StatusComponent, StatusSubscriber

log = logging.getLogger(__name__)

CACHE_KEY = "caseline:status-page:v1"
HISTORY_DAYS = 14
LIVE = (
    Incident.Status.INVESTIGATING,
    Incident.Status.IDENTIFIED,
    Incident.Status.MONITORING,
)
SEVERITY = {s: i for i, s in enumerate(StatusComponent.Status.values)}
CONFIRM_RESEND_SECONDS = 600
SUBSCRIBE_PER_MINUTE = 5


def cache_seconds() -> int:
    return int(getattr(settings, "STATUS_PAGE_CACHE_SECONDS", 10))


def invalidate() -> None:
    transaction.on_commit(lambda: cache.delete(CACHE_KEY))


def base_url() -> str:
    return (getattr(settings, "PORTAL_BASE_URL", "") or "http://localhost:8000").rstrip("/")


def page_url() -> str:
    return base_url() + reverse("status_page")


def confirm_url(token: str) -> str:
    return base_url() + reverse("status_confirm", kwargs={"token": token})


def unsubscribe_url(token: str) -> str:
    return base_url() + reverse("status_unsubscribe", kwargs={"token": token})


# --- components -------------------------------------------------------------------------------


def _clean_component(data: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    fields: dict[str, str] = {}
    out: dict[str, Any] = {}
    for name, limit, required in (("name", 100, True), ("group", 100, False)):
        if name in data or (creating and required):
            value = data.get(name)
            value = value.strip() if isinstance(value, str) else ("" if value is None else None)
            if value is None:
                fields[name] = "text"
            elif required and not value:
                fields[name] = "required"
            elif len(value) > limit:
                fields[name] = f"at most {limit} characters"
            out[name] = value
    if "description" in data and data["description"] is not None:
        if not isinstance(data["description"], str) or len(data["description"]) > 300:
            fields["description"] = "text of at most 300 characters"
        out["description"] = data["description"]
    if "position" in data and data["position"] is not None:
        pos = data["position"]
        if isinstance(pos, bool) or not isinstance(pos, int) or not 0 <= pos <= 1_000_000:
            fields["position"] = "0-1000000"
        out["position"] = pos
    if fields:
        detail = "; ".join(f"{k}: {v}" for k, v in fields.items())
        raise ValidationFailed(f"invalid component: {detail}", fields=fields)
    return out


def create_component(actor: Any, **data: Any) -> StatusComponent:
    clean = _clean_component(data, creating=True)
    if StatusComponent.objects.filter(name=clean["name"]).exists():
        raise ValidationFailed("invalid component", fields={"name": "already exists"})
    with transaction.atomic():
        comp = StatusComponent.objects.create(updated_at=now(), **clean)
        record(
            "status_component.changed",
            "status_component",
            comp.pk,
            actor=actor,
            data={"action": "created", "name": comp.name, "group": comp.group},
        )
        invalidate()
    return comp


def update_component(component_id: int, actor: Any, **data: Any) -> StatusComponent:
    clean = _clean_component(data, creating=False)
    with transaction.atomic():
        comp = StatusComponent.objects.select_for_update().filter(pk=component_id).first()
        if comp is None:
            raise NotFound(f"status component {component_id} not found")
        if (
            clean.get("name")
            and StatusComponent.objects.filter(name=clean["name"]).exclude(pk=comp.pk).exists()
        ):
            raise ValidationFailed("invalid component", fields={"name": "already exists"})
        changes = {}
        for field, value in clean.items():
            if getattr(comp, field) != value:
                changes[field] = (getattr(comp, field), value)
                setattr(comp, field, value)
        if changes:
            comp.updated_at = now()
            comp.save(update_fields=[*changes, "updated_at"])
            record(
                "status_component.changed",
                "status_component",
                comp.pk,
                actor=actor,
                changes=changes,
                data={"action": "updated"},
            )
            invalidate()
    return comp


def delete_component(component_id: int, actor: Any) -> None:
    with transaction.atomic():
        comp = StatusComponent.objects.select_for_update().filter(pk=component_id).first()
        if comp is None:
            raise NotFound(f"status component {component_id} not found")
        name = comp.name
        comp.delete()
        record(
            "status_component.changed",
            "status_component",
            component_id,
            actor=actor,
            data={"action": "deleted", "name": name},
        )
        invalidate()


def refresh_components(component_ids: list[int] | None = None) -> None:
    """Each component's status: the worst impact of the live incidents on it."""
    qs = StatusComponent.objects.all()
    if component_ids is not None:
        qs = qs.filter(pk__in=component_ids)
    worst: dict[int, str] = {}
    for cid, status in IncidentComponent.objects.filter(
        incident__status__in=LIVE, component__in=qs
    ).values_list("component_id", "status"):
        if SEVERITY[status] > SEVERITY.get(worst.get(cid, "operational"), 0):
            worst[cid] = status
    at = now()
    for comp in qs.select_for_update():
        status = worst.get(comp.pk, StatusComponent.Status.OPERATIONAL)
        if comp.status != status:
            StatusComponent.objects.filter(pk=comp.pk).update(status=status, updated_at=at)


def set_status_page(
    incident_id: int,
    actor: Any,
    *,
    public: Any = None,
    public_title: Any = None,
    components: Any = None,
) -> Incident:
    """Put an incident on the status page (or take it off), its public title, and the
    impact it declares per component (``{component_id: status}``; replaces the list)."""
    fields: dict[str, str] = {}
    if public is not None and not isinstance(public, bool):
        fields["public"] = "true or false"
    if public_title is not None and (not isinstance(public_title, str) or len(public_title) > 300):
        fields["public_title"] = "text of at most 300 characters"
    impacts: dict[int, str] | None = None
    if components is not None:
        impacts = {}
        if not isinstance(components, dict):
            fields["components"] = "an object of component id -> status"
        else:
            known = set(StatusComponent.objects.values_list("pk", flat=True))
            for key, status in components.items():
                try:
                    cid = int(key)
                except (TypeError, ValueError):
                    cid = -1
                if cid not in known:
                    fields[f"components.{key}"] = "no such component"
                elif status not in StatusComponent.Status.values or status == "operational":
                    fields[f"components.{key}"] = "degraded, partial_outage or major_outage"
                else:
                    impacts[cid] = status
    if fields:
        detail = "; ".join(f"{k}: {v}" for k, v in fields.items())
        raise ValidationFailed(f"invalid status page fields: {detail}", fields=fields)
    with transaction.atomic():
        inc = Incident.objects.select_for_update().filter(pk=incident_id).first()
        if inc is None:
            raise NotFound(f"no incident INC-{incident_id}")
        changes: dict[str, tuple[Any, Any]] = {}
        if public is not None and inc.public != public:
            changes["public"] = (inc.public, public)
            inc.public = public
        if public_title is not None and inc.public_title != public_title.strip():
            changes["public_title"] = (inc.public_title, public_title.strip())
            inc.public_title = public_title.strip()
        touched: set[int] = set()
        if impacts is not None:
            old = dict(
                IncidentComponent.objects.filter(incident=inc).values_list("component_id", "status")
            )
            if old != impacts:
                changes["components"] = (
                    {str(k): v for k, v in sorted(old.items())},
                    {str(k): v for k, v in sorted(impacts.items())},
                )
                IncidentComponent.objects.filter(incident=inc).delete()
                IncidentComponent.objects.bulk_create(
                    [
                        IncidentComponent(incident=inc, component_id=cid, status=s)
                        for cid, s in impacts.items()
                    ]
                )
                touched = set(old) | set(impacts)
        if changes:
            inc.updated_at = now()
            inc.save(
                update_fields=[f for f in ("public", "public_title") if f in changes]
                + ["updated_at"]
            )
            if touched:
                refresh_components(sorted(touched))
            record(
                "incident.status_page_changed",
                "incident",
                inc.pk,
                actor=actor,
                subject=inc,
                changes=changes,
            )
            invalidate()
    return inc


def on_incident_changed(event: DomainEvent) -> None:
    """An incident's status moved (resolved: its impacts stop counting)."""
    ids = list(
        IncidentComponent.objects.filter(incident_id=event.subject_id).values_list(
            "component_id", flat=True
        )
    )
    if ids:
        refresh_components(ids)
    invalidate()


# --- reading ----------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def build_snapshot(at: datetime | None = None) -> dict[str, Any]:
    """The page's data (three queries)."""
    at = at or now()
    since = at - timedelta(days=HISTORY_DAYS)
    components = list(StatusComponent.objects.all())
    incidents = list(
        Incident.objects.filter(public=True)
        .filter(Q(status__in=LIVE) | Q(declared_at__gte=since) | Q(resolved_at__gte=since))
        .order_by("-declared_at", "-id")[:200]
    )
    ids = [i.pk for i in incidents]
    updates: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    impacts: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    names = {c.pk: c.name for c in components}
    if ids:
        for b in Broadcast.objects.filter(incident_id__in=ids, public=True).order_by(
            "-created_at", "-id"
        ):
            updates[b.incident_id].append(
                {
                    "id": b.pk,
                    "at": _iso(b.created_at),
                    "status": b.incident_status,
                    "body": b.body,
                    "next_update_at": _iso(b.next_update_at),
                }
            )
        for inc_id, cid, status in IncidentComponent.objects.filter(
            incident_id__in=ids
        ).values_list("incident_id", "component_id", "status"):
            impacts[inc_id].append(
                {
                    "id": cid,
                    "name": names.get(cid, ""),
                    "status": status,
                    "label": StatusComponent.Status(status).label,
                }
            )

    def out(i: Incident) -> dict[str, Any]:
        return {
            "id": i.pk,
            "reference": i.reference,
            "title": i.public_title or i.title,
            "status": i.status,
            "severity": i.severity,
            "declared_at": _iso(i.declared_at),
            "resolved_at": _iso(i.resolved_at),
            "next_update_at": _iso(i.next_update_at) if i.status in LIVE else None,
            "components": impacts[i.pk],
            "updates": updates[i.pk],
        }

    current = [out(i) for i in incidents if i.status in LIVE]
    history = [out(i) for i in incidents if i.status not in LIVE]
    worst = max((SEVERITY[c.status] for c in components), default=0)
    overall = StatusComponent.Status.values[worst]
    groups: dict[str, list[dict[str, Any]]] = {}
    for c in components:
        groups.setdefault(c.group, []).append(
            {
                "id": c.pk,
                "name": c.name,
                "description": c.description,
                "status": c.status,
                "label": StatusComponent.Status(c.status).label,
            }
        )
    return {
        "generated_at": _iso(at),
        "status": overall,
        "components": [{"group": g, "components": cs} for g, cs in groups.items()],
        "incidents": current,
        "history": history,
        "history_days": HISTORY_DAYS,
    }


def snapshot() -> dict[str, Any]:
    """The cached page data (see the module docstring)."""
    data = cache.get(CACHE_KEY)
    if data is None:
        data = build_snapshot()
        cache.set(CACHE_KEY, data, cache_seconds())
    return data


# --- subscriptions ----------------------------------------------------------------------------

_email_validator = EmailValidator()


def _clean_email(raw: Any) -> str:
    email = raw.strip().lower() if isinstance(raw, str) else ""
    try:
        if not email or len(email) > 254:
            raise ValueError
        _email_validator(email)
    except Exception:
        raise ValidationFailed("invalid email address", fields={"email": "a valid email address"})
    return email


def subscribe(raw_email: Any, *, client: str = "") -> StatusSubscriber:
    """Ask for a subscription: a confirmation link is emailed (double opt-in). Rate
    limited per client address (``SUBSCRIBE_PER_MINUTE``) and per email address (one
    confirmation mail per ``CONFIRM_RESEND_SECONDS``). The answer never tells whether the
    address was subscribed already."""
    from caseline.api import ratelimit
    from caseline.api.auth import RateLimited

    email = _clean_email(raw_email)
    if client:
        verdict = ratelimit.check(f"status-subscribe:{client}", limit=SUBSCRIBE_PER_MINUTE)
        if not verdict.allowed:
            raise RateLimited(verdict.retry_after, verdict.limit)
    at = now()
    try:
        with transaction.atomic():
            sub = StatusSubscriber.objects.select_for_update().filter(email=email).first()
            if sub is None:
                sub = StatusSubscriber.objects.create(
                    email=email, token=secrets.token_urlsafe(32), created_at=at
                )
            if sub.active:
                return sub
            if sub.confirmation_sent_at and sub.confirmation_sent_at > at - timedelta(
                seconds=CONFIRM_RESEND_SECONDS
            ):
                return sub  # a confirmation is on its way
            if sub.unsubscribed_at is not None:
                sub.unsubscribed_at = None
                sub.confirmed_at = None
                sub.token = secrets.token_urlsafe(32)  # old links stop working
            sub.confirmation_sent_at = at
            sub.save()
            link = confirm_url(sub.token)
            enqueue_email(
                key=f"status-confirm-{sub.pk}-{int(at.timestamp())}",
                to=[email],
                subject="Confirm your subscription to our status page",
                text=(
                    "Someone (hopefully you) asked to receive our status page updates at this "
                    f"address.\n\nConfirm: {link}\n\nIf it was not you, ignore this mail: "
                    "nothing is sent without the confirmation.\n"
                ),
                headers={"Auto-Submitted": "auto-generated"},
                subject_type="status_subscriber",
                subject_id=sub.pk,
            )
            record(
                "status_subscriber.changed",
                "status_subscriber",
                sub.pk,
                data={"action": "requested"},
            )
    except IntegrityError:  # the same address subscribed at the same moment
        return StatusSubscriber.objects.get(email=email)
    return sub


def _by_token(token: Any) -> StatusSubscriber:
    sub = None
    if isinstance(token, str) and 10 <= len(token) <= 64:
        sub = StatusSubscriber.objects.select_for_update().filter(token=token).first()
    if sub is None:
        raise NotFound("this link is not valid (any more)")
    return sub


def confirm(token: Any) -> StatusSubscriber:
    with transaction.atomic():
        sub = _by_token(token)
        if sub.unsubscribed_at is not None:
            raise NotFound("this link is not valid (any more)")
        if sub.confirmed_at is None:
            sub.confirmed_at = now()
            sub.save(update_fields=["confirmed_at"])
            record(
                "status_subscriber.changed",
                "status_subscriber",
                sub.pk,
                data={"action": "confirmed"},
            )
    return sub


def unsubscribe(token: Any) -> StatusSubscriber:
    with transaction.atomic():
        sub = _by_token(token)
        if sub.unsubscribed_at is None:
            sub.unsubscribed_at = now()
            sub.save(update_fields=["unsubscribed_at"])
            record(
                "status_subscriber.changed",
                "status_subscriber",
                sub.pk,
                data={"action": "unsubscribed"},
            )
    return sub
