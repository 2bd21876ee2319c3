"""Multi-customer detection: the Django side of ``caseline.text.similar``
(docs/incident-detection.md).

* Configuration (Django settings, else environment variables, else the defaults):
  ``CASELINE_DETECTION_THRESHOLD`` (0.25), ``CASELINE_DETECTION_WINDOW_HOURS`` (24),
  ``CASELINE_DETECTION_IDF_HOURS`` (168: the history the word statistics come from),
  ``CASELINE_DETECTION_JOIN_THRESHOLD`` (0.35), ``CASELINE_DETECTION_MIN_ORGS`` (1),
  ``CASELINE_DETECTION_ENABLED`` (1).
* One in-memory index per process (:func:`detector`): built on first use from the
  tickets of the last IDF hours (subject + first public customer message), refreshed
  incrementally by ticket id (only tickets with a higher id than the last seen are
  read) and expired by time; clusters restored from the stored proposals (direct matches
  at or above the join threshold) and from tickets linked to one incident.
* :func:`similar_for_ticket` — the cluster of a ticket (read-only).
* Services (each one transaction + an audit event): :func:`propose_for_ticket` (run by the
  huey task that ``ticket.created`` enqueues after commit; writes a ``DetectionProposal``
  and emails the incident managers, idempotent), :func:`link_proposal` (declare a new
  incident with every ticket of the cluster, or link them to an existing one — one
  action), :func:`dismiss_proposal`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Min

from caseline.accounts import roles as R
from caseline.accounts.models import User
from caseline.audit.services import record
from caseline.errors import Conflict, NotFound, ValidationFailed
from caseline.events import DomainEvent
from caseline.text import similar
from caseline.tickets.models import Message, Ticket
from caseline.timesource import now

from .models import DetectionMatch, DetectionProposal, Incident

# --------------------------------------------------------------------------- settings


@dataclass(frozen=True, slots=True)
class DetectionConfig:
    threshold: float = similar.DEFAULT_THRESHOLD
    window_hours: float = similar.DEFAULT_WINDOW_HOURS
    idf_hours: float = similar.DEFAULT_HISTORY_HOURS
    join_threshold: float = similar.DEFAULT_JOIN_THRESHOLD
    min_orgs: int = similar.DEFAULT_MIN_ORGS
    enabled: bool = True

    @property
    def window(self) -> timedelta:
        return timedelta(hours=self.window_hours)

    @property
    def history(self) -> timedelta:
        return timedelta(hours=max(self.idf_hours, self.window_hours))


def _setting(name: str, default: Any, cast: Any) -> Any:
    value = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return cast(value)
    except (TypeError, ValueError):
        return default


def _flag(value: Any) -> bool:
    return str(value).strip().lower() not in ("0", "false", "no", "off")


def config() -> DetectionConfig:
    """The detection settings now (read on every call: tests may override settings)."""
    return DetectionConfig(
        threshold=_setting("CASELINE_DETECTION_THRESHOLD", similar.DEFAULT_THRESHOLD, float),
        window_hours=_setting(
            "CASELINE_DETECTION_WINDOW_HOURS", similar.DEFAULT_WINDOW_HOURS, float
        ),
        idf_hours=_setting("CASELINE_DETECTION_IDF_HOURS", similar.DEFAULT_HISTORY_HOURS, float),
        join_threshold=_setting(
            "CASELINE_DETECTION_JOIN_THRESHOLD", similar.DEFAULT_JOIN_THRESHOLD, float
        ),
        min_orgs=_setting("CASELINE_DETECTION_MIN_ORGS", similar.DEFAULT_MIN_ORGS, int),
        enabled=_setting("CASELINE_DETECTION_ENABLED", True, _flag),
    )


# --------------------------------------------------------------------------- the index


def org_key(organization_id: int | None, requester_id: int) -> str:
    """A ticket's organization for the detector: its organization, else its requester
    (a contact without an organization is an organization of one)."""
    return f"o{organization_id}" if organization_id else f"c{requester_id}"


def first_messages(ticket_ids: Iterable[int]) -> dict[int, str]:
    """The first public customer message (author is a contact) of each ticket."""
    ids = list(ticket_ids)
    out: dict[int, str] = {}
    for start in range(0, len(ids), 900):
        chunk = ids[start : start + 900]
        firsts = (
            Message.objects.filter(
                ticket_id__in=chunk, kind=Message.Kind.PUBLIC, author_contact__isnull=False
            )
            .values("ticket_id")
            .annotate(first=Min("id"))
            .values_list("first", flat=True)
        )
        for ticket_id, body in Message.objects.filter(pk__in=list(firsts)).values_list(
            "ticket_id", "body_text"
        ):
            out[ticket_id] = body
    return out


@dataclass
class _State:
    cfg: DetectionConfig
    detector: similar.Detector
    last_ticket_id: int = 0
    last_match_id: int = 0
    last_link_id: int = 0
    db_alias: str = ""


_lock = threading.RLock()
_state: _State | None = None


def reset() -> None:
    """Forget this process's index (tests; a changed configuration rebuilds it anyway)."""
    global _state
    with _lock:
        _state = None


def _db_identity() -> str:
    from django.db import connection

    return f"{connection.vendor}:{connection.settings_dict.get('NAME')}"


def _new_state(cfg: DetectionConfig) -> _State:
    return _State(
        cfg=cfg,
        detector=similar.Detector(
            window=cfg.window,
            threshold=cfg.threshold,
            min_orgs=cfg.min_orgs,
            join_threshold=cfg.join_threshold,
            history=cfg.history,
        ),
        db_alias=_db_identity(),
    )


BATCH = 2000


def _add_tickets(state: _State, rows: list[dict[str, Any]]) -> None:
    bodies = first_messages(r["id"] for r in rows)
    det = state.detector
    items = [
        (
            r["id"],
            org_key(r["organization_id"], r["requester_id"]),
            r["created_at"],
            r["subject"],
            bodies.get(r["id"], ""),
        )
        for r in rows
    ]
    if len(items) > 50 and len(items) * 10 > len(det):  # a build: one weighting pass
        det.add_many(items)
    else:
        for item in items:
            det.add(*item)
    state.last_ticket_id = max(state.last_ticket_id, *(r["id"] for r in rows))


def _first_id_since(since: datetime) -> int:
    """The smallest ticket id created at or after ``since``, found by bisection over ids
    (ids grow with creation time; a few primary-key lookups instead of a scan of a table
    without a ``created_at`` index). Slightly early is harmless: rows are filtered anyway."""
    first = Ticket.objects.order_by("pk").values_list("pk", "created_at").first()
    last = Ticket.objects.order_by("-pk").values_list("pk", flat=True).first()
    if first is None or last is None or first[1] >= since:
        return 0
    lo, hi = first[0], last
    while lo < hi:
        mid = (lo + hi) // 2
        row = (
            Ticket.objects.filter(pk__gte=mid)
            .order_by("pk")
            .values_list("pk", "created_at")
            .first()
        )
        if row is None or row[1] >= since:
            hi = mid
        else:
            lo = row[0] + 1
    return max(0, lo - 1)


#: Tickets with ids this far below the highest seen are checked again on every refresh:
#: a transaction that took its id earlier may commit later.
LATE_COMMIT_SLACK = 200


def _refresh(state: _State, at: datetime) -> None:
    det = state.detector
    det.expire(at)
    since = at - state.cfg.history
    if state.last_ticket_id == 0:
        state.last_ticket_id = _first_id_since(since)
    else:
        recent = Ticket.objects.filter(
            pk__gt=max(0, state.last_ticket_id - LATE_COMMIT_SLACK),
            pk__lte=state.last_ticket_id,
            created_at__gte=since,
            merged_into__isnull=True,
        ).values_list("id", flat=True)
        missing = [i for i in recent if i not in det.index]
        if missing:
            _add_tickets(
                state,
                list(
                    Ticket.objects.filter(pk__in=missing)
                    .order_by("id")
                    .values("id", "subject", "organization_id", "requester_id", "created_at")
                ),
            )
    pending: list[dict[str, Any]] = []
    after = state.last_ticket_id
    while True:
        rows = list(
            Ticket.objects.filter(pk__gt=after, created_at__gte=since, merged_into__isnull=True)
            .order_by("id")
            .values("id", "subject", "organization_id", "requester_id", "created_at")[:BATCH]
        )
        pending.extend(rows)
        if len(rows) < BATCH:
            break
        after = rows[-1]["id"]
    if pending:
        _add_tickets(state, pending)
    # clusters: stored direct matches at or above the join threshold (not dismissed) ...
    for match_id, a, b in (
        DetectionMatch.objects.filter(
            pk__gt=state.last_match_id, direct=True, score__gte=state.cfg.join_threshold
        )
        .exclude(proposal__status=DetectionProposal.Status.DISMISSED)
        .values_list("id", "proposal__ticket_id", "ticket_id")
        .order_by("id")
    ):
        det.join(a, b)
        state.last_match_id = match_id
    # ... and tickets linked to one incident
    through = Incident.tickets.through
    last_of: dict[int, int] = {}
    for link_id, incident_id, ticket_id in (
        through.objects.filter(pk__gt=state.last_link_id)
        .values_list("id", "incident_id", "ticket_id")
        .order_by("id")
    ):
        state.last_link_id = link_id
        if incident_id not in last_of:
            first = (
                through.objects.filter(incident_id=incident_id)
                .order_by("id")
                .values_list("ticket_id", flat=True)
                .first()
            )
            last_of[incident_id] = first if first is not None else ticket_id
        det.join(last_of[incident_id], ticket_id)


def detector(at: datetime | None = None) -> similar.Detector:
    """This process's detector, refreshed from the database (cheap when nothing is new:
    three indexed reads). Rebuilt when the configuration or the database changed."""
    global _state
    cfg = config()
    at = at or now()
    with _lock:
        if _state is None or _state.cfg != cfg or _state.db_alias != _db_identity():
            _state = _new_state(cfg)
        _refresh(_state, at)
        return _state.detector


def _ensure_indexed(det: similar.Detector, ticket: Ticket, body: str) -> str:
    key = org_key(ticket.organization_id, ticket.requester_id)
    if ticket.pk not in det.index:
        det.add(ticket.pk, key, ticket.created_at, ticket.subject, body)
    return key


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class ClusterTicket:
    ticket: Ticket
    score: float
    direct: bool
    incidents: tuple[Incident, ...]


@dataclass(frozen=True)
class Cluster:
    """Tickets of other organizations that look like ``ticket`` (best first), the
    incidents any of them (or the ticket itself) is linked to, and the stored proposal."""

    ticket: Ticket
    fault: bool
    tickets: tuple[ClusterTicket, ...]
    incidents: tuple[Incident, ...]
    proposal: DetectionProposal | None
    config: DetectionConfig

    @property
    def organizations(self) -> int:
        return len({org_key(c.ticket.organization_id, c.ticket.requester_id) for c in self.tickets})

    @property
    def ticket_ids(self) -> list[int]:
        return [self.ticket.pk, *(c.ticket.pk for c in self.tickets)]


def _detect(ticket: Ticket, *, until: datetime | None) -> tuple[similar.Detection, DetectionConfig]:
    body = first_messages([ticket.pk]).get(ticket.pk, "")
    with _lock:
        det = detector()
        key = _ensure_indexed(det, ticket, body)
        found = det.detect(ticket.pk, key, ticket.created_at, ticket.subject, body, until=until)
        cfg = _state.cfg if _state else config()
    return found, cfg


def similar_for_ticket(ticket_id: int) -> Cluster:
    """The cluster of a ticket: other-organization tickets opened from ``window`` before
    it until now that look like it (scores; members of their clusters included), with the
    incidents they are linked to. Read-only. 404 for an unknown ticket."""
    ticket = Ticket.objects.select_related("organization", "requester").filter(pk=ticket_id).first()
    if ticket is None:
        raise NotFound(f"no ticket CL-{ticket_id}")
    found, cfg = _detect(ticket, until=max(now(), ticket.created_at))
    by_id = {
        t.pk: t
        for t in Ticket.objects.select_related("organization", "requester").filter(
            pk__in=[m.key for m in found.links]
        )
    }
    incidents_of: dict[int, list[Incident]] = {}
    ids = [ticket.pk, *by_id]
    for inc in (
        Incident.objects.filter(tickets__id__in=ids)
        .select_related("incident_manager")
        .distinct()
        .order_by("-id")
    ):
        for tid in inc.tickets.filter(pk__in=ids).values_list("id", flat=True):
            incidents_of.setdefault(tid, []).append(inc)
    direct = {m.key for m in found.direct}
    members = tuple(
        ClusterTicket(
            ticket=by_id[m.key],
            score=round(m.score, 3),
            direct=m.key in direct,
            incidents=tuple(incidents_of.get(m.key, ())),
        )
        for m in found.links
        if m.key in by_id
    )
    seen: dict[int, Incident] = {}
    for tid in ids:
        for inc in incidents_of.get(tid, ()):
            seen.setdefault(inc.pk, inc)
    proposal = DetectionProposal.objects.filter(ticket_id=ticket.pk).first()
    return Cluster(
        ticket=ticket,
        fault=found.fault,
        tickets=members,
        incidents=tuple(sorted(seen.values(), key=lambda i: -i.pk)),
        proposal=proposal,
        config=cfg,
    )


def open_proposals(limit: int = 200) -> list[DetectionProposal]:
    return list(
        DetectionProposal.objects.filter(status=DetectionProposal.Status.OPEN)
        .select_related("ticket", "ticket__organization")
        .prefetch_related("matches__ticket__organization")
        .order_by("-id")[:limit]
    )


def recent_proposals(limit: int = 50) -> list[DetectionProposal]:
    return list(
        DetectionProposal.objects.exclude(status=DetectionProposal.Status.OPEN)
        .select_related("ticket", "ticket__organization", "incident", "decided_by")
        .order_by("-id")[:limit]
    )


def get_proposal(proposal_id: int) -> DetectionProposal:
    proposal = (
        DetectionProposal.objects.select_related("ticket", "ticket__organization", "incident")
        .prefetch_related("matches__ticket__organization")
        .filter(pk=proposal_id)
        .first()
    )
    if proposal is None:
        raise NotFound(f"no detection proposal {proposal_id}")
    return proposal


# --------------------------------------------------------------------------- services


def incident_managers() -> list[User]:
    return list(
        User.objects.filter(groups__name=R.INCIDENT_MANAGER, is_active=True, kind=User.Kind.STAFF)
        .exclude(email="")
        .distinct()
        .order_by("id")
    )


def _proposals_url() -> str:
    from django.urls import reverse

    base = getattr(settings, "INCIDENT_BASE_URL", "") or getattr(settings, "PORTAL_BASE_URL", "")
    return f"{base.rstrip('/')}{reverse('detection_proposals')}"


def _org_label(ticket: Ticket) -> str:
    org = ticket.organization
    return org.name if org is not None else str(ticket.requester)


def propose_for_ticket(ticket_id: int) -> DetectionProposal | None:
    """Detect for a new ticket; when tickets of other organizations look like it, store a
    proposal (once per ticket) and email the incident managers (once per proposal and
    person). Returns the proposal, or None (no match, detection off, unknown ticket)."""
    cfg = config()
    if not cfg.enabled:
        return None
    ticket = Ticket.objects.select_related("organization", "requester").filter(pk=ticket_id).first()
    if ticket is None or ticket.merged_into_id is not None:
        return None
    existing = DetectionProposal.objects.filter(ticket_id=ticket.pk).first()
    if existing is not None:
        return existing
    found, cfg = _detect(ticket, until=ticket.created_at)
    if not found.links:
        return None
    direct = {m.key for m in found.direct}
    tickets = {
        t.pk: t
        for t in Ticket.objects.select_related("organization", "requester").filter(
            pk__in=[m.key for m in found.links]
        )
    }
    links = [m for m in found.links if m.key in tickets]
    if not links:
        return None
    at = now()
    with transaction.atomic():
        proposal, created = DetectionProposal.objects.get_or_create(
            ticket=ticket,
            defaults={
                "organizations_count": len({m.org for m in links}),
                "top_score": round(max(m.score for m in links), 4),
                "threshold": cfg.threshold,
                "created_at": at,
            },
        )
        if not created:
            return proposal
        DetectionMatch.objects.bulk_create(
            [
                DetectionMatch(
                    proposal=proposal,
                    ticket_id=m.key,
                    score=round(m.score, 4),
                    direct=m.key in direct,
                )
                for m in links
            ]
        )
        record(
            "incident.detection_proposed",
            "ticket",
            ticket.pk,
            actor=None,
            ticket_id=ticket.pk,
            at=at,
            data={
                "proposal": proposal.pk,
                "tickets": [m.key for m in links],
                "scores": [round(m.score, 3) for m in links],
                "organizations": proposal.organizations_count,
                "threshold": cfg.threshold,
            },
        )
        _notify_managers(proposal, ticket, [(tickets[m.key], m.score) for m in links], cfg)
    with _lock:  # this process's clusters learn the new links at once
        if _state is not None:
            for m in found.direct:
                if m.score >= cfg.join_threshold:
                    _state.detector.join(ticket.pk, m.key)
    return proposal


def _notify_managers(
    proposal: DetectionProposal,
    ticket: Ticket,
    matches: list[tuple[Ticket, float]],
    cfg: DetectionConfig,
) -> None:
    from caseline.notify.services import enqueue_email

    orgs = {(t.organization_id or -t.requester_id) for t, _ in matches}
    lines = [
        f"CL-{t.pk}  {_org_label(t)}  score {score:.2f}  {t.subject[:100]}" for t, score in matches
    ]
    subject = (
        f"[Caseline] Possible multi-customer incident: CL-{ticket.pk} looks like "
        f"{len(matches)} ticket(s) of {len(orgs)} other organization(s)"
    )
    text = (
        f"A new ticket, CL-{ticket.pk} ({_org_label(ticket)}): {ticket.subject}\n\n"
        f"looks like these tickets of other organizations opened in the last "
        f"{cfg.window_hours:g} hours:\n\n" + "\n".join(lines) + "\n\n"
        f"Link them to a new or existing incident in one action: {_proposals_url()}\n"
    )
    for user in incident_managers():
        enqueue_email(
            key=f"detect-{proposal.pk}-u{user.pk}",
            to=[user.email],
            subject=subject[:250],
            text=text,
            subject_type="ticket",
            subject_id=ticket.pk,
        )


def _lock_proposal(proposal_id: int) -> DetectionProposal:
    proposal = DetectionProposal.objects.select_for_update().filter(pk=proposal_id).first()
    if proposal is None:
        raise NotFound(f"no detection proposal {proposal_id}")
    return proposal


def proposal_ticket_ids(proposal: DetectionProposal) -> list[int]:
    return [proposal.ticket_id, *proposal.matches.values_list("ticket_id", flat=True)]


def link_proposal(
    proposal_id: int,
    actor: Any,
    *,
    incident_id: int | None = None,
    title: str = "",
    severity: int | None = None,
) -> Incident:
    """One action: link the proposal's ticket and every proposed ticket to the incident
    ``incident_id``, or declare a new incident with all of them (``source="detection"``,
    severity: the given one, else the most severe of the tickets). 409 when the proposal
    was already decided."""
    from . import services as incident_services

    if incident_id is not None and not isinstance(incident_id, int):
        raise ValidationFailed("incident_id must be an integer", fields={"incident_id": "integer"})
    with transaction.atomic():
        proposal = _lock_proposal(proposal_id)
        if proposal.status != DetectionProposal.Status.OPEN:
            raise Conflict(
                f"the proposal is already {proposal.status}",
                fields={"status": proposal.status},
                code="proposal_decided",
            )
        ids = proposal_ticket_ids(proposal)
        if incident_id is not None:
            if not Incident.objects.filter(pk=incident_id).exists():
                raise ValidationFailed(
                    "no such incident", fields={"incident_id": f"no incident {incident_id}"}
                )
            inc = incident_services.link_tickets(incident_id, actor, ids)
        else:
            if severity is None:
                severity = (
                    Ticket.objects.filter(pk__in=ids)
                    .order_by("severity")
                    .values_list("severity", flat=True)
                    .first()
                    or 1
                )
            ticket = proposal.ticket
            inc = incident_services.declare_incident(
                actor,
                title=title or ticket.subject[:300],
                severity=severity,
                ticket_ids=ids,
                source=Incident.Source.DETECTION,
            )
        at = now()
        proposal.status = DetectionProposal.Status.LINKED
        proposal.incident = inc
        proposal.decided_at = at
        proposal.decided_by = actor if getattr(actor, "pk", None) else None
        proposal.save(update_fields=["status", "incident", "decided_at", "decided_by"])
        record(
            "incident.detection_linked",
            "ticket",
            proposal.ticket_id,
            actor=actor,
            ticket_id=proposal.ticket_id,
            at=at,
            data={
                "proposal": proposal.pk,
                "incident": inc.pk,
                "new_incident": incident_id is None,
                "tickets": ids,
            },
        )
    return inc


def link_cluster(
    ticket_id: int,
    actor: Any,
    *,
    incident_id: int | None = None,
    title: str = "",
    severity: int | None = None,
) -> Incident:
    """The ticket page's one action: the ticket's stored open proposal, else a proposal
    made now from its current cluster, linked as :func:`link_proposal` does. 422 when the
    ticket has no cluster."""
    proposal = DetectionProposal.objects.filter(ticket_id=ticket_id).first()
    if proposal is None or proposal.status != DetectionProposal.Status.OPEN:
        cluster = similar_for_ticket(ticket_id)
        if not cluster.tickets:
            raise ValidationFailed(
                "no similar tickets of other organizations",
                fields={"ticket_id": "no cluster to link"},
            )
        with transaction.atomic():
            if proposal is not None:  # decided earlier: a fresh proposal replaces it
                DetectionProposal.objects.filter(pk=proposal.pk).delete()
            proposal = DetectionProposal.objects.create(
                ticket=cluster.ticket,
                organizations_count=cluster.organizations,
                top_score=max(c.score for c in cluster.tickets),
                threshold=cluster.config.threshold,
            )
            DetectionMatch.objects.bulk_create(
                [
                    DetectionMatch(
                        proposal=proposal, ticket=c.ticket, score=c.score, direct=c.direct
                    )
                    for c in cluster.tickets
                ]
            )
            record(
                "incident.detection_proposed",
                "ticket",
                ticket_id,
                actor=actor,
                ticket_id=ticket_id,
                data={
                    "proposal": proposal.pk,
                    "tickets": [c.ticket.pk for c in cluster.tickets],
                    "scores": [c.score for c in cluster.tickets],
                    "organizations": proposal.organizations_count,
                    "threshold": cluster.config.threshold,
                    "by_hand": True,
                },
            )
            return link_proposal(
                proposal.pk, actor, incident_id=incident_id, title=title, severity=severity
            )
    return link_proposal(
        proposal.pk, actor, incident_id=incident_id, title=title, severity=severity
    )


def dismiss_proposal(proposal_id: int, actor: Any) -> DetectionProposal:
    """Not one incident: the proposal is closed; its links no longer join clusters."""
    with transaction.atomic():
        proposal = _lock_proposal(proposal_id)
        if proposal.status != DetectionProposal.Status.OPEN:
            raise Conflict(
                f"the proposal is already {proposal.status}",
                fields={"status": proposal.status},
                code="proposal_decided",
            )
        at = now()
        proposal.status = DetectionProposal.Status.DISMISSED
        proposal.decided_at = at
        proposal.decided_by = actor if getattr(actor, "pk", None) else None
        proposal.save(update_fields=["status", "decided_at", "decided_by"])
        record(
            "incident.detection_dismissed",
            "ticket",
            proposal.ticket_id,
            actor=actor,
            ticket_id=proposal.ticket_id,
            at=at,
            data={"proposal": proposal.pk},
        )
    reset()  # a dismissed link must not keep two clusters joined in this process
    return proposal


# --------------------------------------------------------------------------- wiring


def on_ticket_created(event: DomainEvent) -> None:
    """``ticket.created`` subscriber: runs inside the creating transaction, so it only
    asks the queue to detect after commit (huey; immediate in tests)."""
    if not config().enabled:
        return
    ticket_id = event.subject_id

    def ring() -> None:
        from .detection_tasks import detect_ticket

        try:
            detect_ticket(ticket_id)
        except Exception:  # advisory: a lost detection is not a lost ticket
            import logging

            logging.getLogger(__name__).exception("detection for CL-%s not enqueued", ticket_id)

    transaction.on_commit(ring)


def close_covered_proposals(event: DomainEvent) -> None:
    """An incident was declared or got tickets (by any path): open proposals whose ticket
    and proposed tickets are now all linked to it are marked linked to it, so the
    proposals list never offers to declare a second incident for them. Runs inside the
    publishing transaction (two small queries and an update)."""
    if event.subject_type != "incident":
        return
    covered = set(
        Incident.tickets.through.objects.filter(incident_id=event.subject_id).values_list(
            "ticket_id", flat=True
        )
    )
    if not covered:
        return
    closing = [
        p
        for p in DetectionProposal.objects.filter(
            status=DetectionProposal.Status.OPEN, ticket_id__in=covered
        ).prefetch_related("matches")
        if {p.ticket_id, *(m.ticket_id for m in p.matches.all())} <= covered
    ]
    if closing:
        DetectionProposal.objects.filter(pk__in=[p.pk for p in closing]).update(
            status=DetectionProposal.Status.LINKED,
            incident_id=event.subject_id,
            decided_at=event.at,
            decided_by_id=event.actor_id,
        )


def connect() -> None:
    """Called from IncidentsConfig.ready(): the event subscriptions, the ticket panel and
    the huey task module."""
    from caseline import events
    from caseline.web import panels

    from . import detection_tasks  # noqa: F401  (registers the huey task)

    events.subscribe("ticket.created", on_ticket_created)
    events.subscribe("incident.declared", close_covered_proposals)
    events.subscribe("incident.tickets_linked", close_covered_proposals)
    panels.register(
        "ticket",
        panels.Panel(
            "similar",
            "Similar tickets elsewhere",
            "ticket_similar_panel",
            order=22,
            permission="accounts.view_all_tickets",
        ),
    )
