"""Read paths of the learning app: post-mortem lists and details, and the trends
(docs/learning.md). Grouped queries (one per grouping and subject kind) on both databases.

Definitions used by the trends:

* **MTTR** (mean time to resolve): escalation ``opened_at`` -> ``resolved_at``; incident
  ``declared_at`` -> ``resolved_at``; over the subjects resolved in the window (opened in
  it for the month buckets); a reopened subject counts its latest resolution.
* **MTTA** (mean time to acknowledge): incident ``declared_at`` -> the first
  acknowledgement by a person (a page acknowledged, or the case-owner handoff
  acknowledged, whichever came first); escalation ``opened_at`` -> the first response of
  its owner: the escalation taken on (``active_at``) or the first recorded customer update
  or internal sync, whichever came first. Subjects without one are left out.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Count, F, Min, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import TruncMonth

from caseline.errors import NotFound
from caseline.timesource import now

from .models import ActionItem, PostMortem, RootCauseCategory

RECURRING_WINDOW = timedelta(days=90)
SIMILAR_TEXT = 0.5  # Jaccard similarity of the root-cause words
_STOP = set(
    "the a an and or of to in on at for by with from was were is are be been it its this that "
    "which as not no into after before when our we they their".split()
)


def list_postmortems(
    *, status: str | None = None, q: str | None = None, category: int | None = None
) -> QuerySet[PostMortem]:
    qs = PostMortem.objects.select_related(
        "escalation", "incident", "root_cause_category", "product_area", "review"
    ).annotate(
        open_actions=Count("action_items", filter=Q(action_items__status="open"), distinct=True)
    )
    if status:
        qs = qs.filter(status__in=[s.strip() for s in status.split(",") if s.strip()])
    if category:
        qs = qs.filter(root_cause_category_id=category)
    if q:
        qs = qs.filter(title__icontains=q)
    return qs


def get_postmortem(pm_id: int) -> PostMortem:
    pm = (
        PostMortem.objects.select_related(
            "escalation",
            "escalation__organization",
            "incident",
            "root_cause_category",
            "product_area",
            "published_by",
        )
        .prefetch_related("authors", "timeline", "action_items__owner", "review__attendees")
        .filter(pk=pm_id)
        .first()
    )
    if pm is None:
        raise NotFound(f"no post-mortem PM-{pm_id}")
    return pm


def review_of(pm: PostMortem):
    try:
        return pm.review
    except PostMortem.review.RelatedObjectDoesNotExist:
        return None


def for_escalation(escalation_id: int) -> PostMortem | None:
    return PostMortem.objects.filter(escalation_id=escalation_id).select_related("review").first()


def for_incident(incident_id: int) -> PostMortem | None:
    return PostMortem.objects.filter(incident_id=incident_id).select_related("review").first()


def categories(*, include_inactive: bool = False) -> QuerySet[RootCauseCategory]:
    qs = RootCauseCategory.objects.all()
    return qs if include_inactive else qs.filter(active=True)


def get_action_item(item_id: int) -> ActionItem:
    item = ActionItem.objects.select_related("owner", "post_mortem").filter(pk=item_id).first()
    if item is None:
        raise NotFound(f"no action item {item_id}")
    return item


# --- trends --------------------------------------------------------------------------------


def _month(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value[:7]
    return value.strftime("%Y-%m")


def _rows(qs, key: str) -> list[dict[str, Any]]:
    return [{"key": r[key] if r[key] is not None else "—", "n": r["n"]} for r in qs]


def _merge(esc: list[dict], inc: list[dict]) -> list[dict[str, Any]]:
    out: dict[Any, dict[str, Any]] = {}
    for kind, rows in (("escalations", esc), ("incidents", inc)):
        for r in rows:
            slot = out.setdefault(r["key"], {"key": r["key"], "escalations": 0, "incidents": 0})
            slot[kind] += r["n"]
    return sorted(out.values(), key=lambda r: (-(r["escalations"] + r["incidents"]), str(r["key"])))


def _words(text: str) -> frozenset[str]:
    return frozenset(w for w in re.findall(r"[a-z0-9]{3,}", (text or "").lower()) if w not in _STOP)


def similarity(a: str, b: str) -> float:
    """Jaccard similarity of two root-cause texts' significant words (0..1)."""
    wa, wb = _words(a), _words(b)
    if not wa or not wb:
        return 0.0
    return len(wa & wb) / len(wa | wb)


def _seconds(a: datetime | None, b: datetime | None) -> float | None:
    if a is None or b is None or b < a:
        return None
    return (b - a).total_seconds()


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def trends(*, since: datetime | None = None, until: datetime | None = None) -> dict[str, Any]:
    """Escalations and incidents opened in [since, until] (default: the last 12 months)
    by month, product area, organization and root-cause category; recurring root causes;
    MTTA and MTTR (seconds; see the module docstring)."""
    from caseline.escalations.models import CadenceEntry, Escalation
    from caseline.incidents.models import Incident

    until = until or now()
    since = since or (until - timedelta(days=365))
    esc = Escalation.objects.filter(opened_at__gte=since, opened_at__lte=until)
    inc = Incident.objects.filter(declared_at__gte=since, declared_at__lte=until)

    by_month = _merge(
        [
            {"key": _month(r["m"]), "n": r["n"]}
            for r in esc.annotate(m=TruncMonth("opened_at", tzinfo=UTC))
            .values("m")
            .annotate(n=Count("id"))
            .order_by()
        ],
        [
            {"key": _month(r["m"]), "n": r["n"]}
            for r in inc.annotate(m=TruncMonth("declared_at", tzinfo=UTC))
            .values("m")
            .annotate(n=Count("id"))
            .order_by()
        ],
    )
    by_month.sort(key=lambda r: r["key"])
    by_area = _merge(
        _rows(
            esc.values(area=F("tickets__product_area__name"))
            .annotate(n=Count("id", distinct=True))
            .order_by(),
            "area",
        ),
        _rows(
            inc.values(area=F("product_areas__name"))
            .annotate(n=Count("id", distinct=True))
            .order_by(),
            "area",
        ),
    )
    by_org = _merge(
        _rows(esc.values(org=F("organization__name")).annotate(n=Count("id")).order_by(), "org"),
        _rows(
            inc.values(org=F("organizations__name"))
            .annotate(n=Count("id", distinct=True))
            .order_by(),
            "org",
        ),
    )
    pm_esc = PostMortem.objects.filter(escalation__in=esc.values("id"))
    pm_inc = PostMortem.objects.filter(incident__in=inc.values("id"))
    by_category = _merge(
        _rows(
            pm_esc.values(cat=F("root_cause_category__name")).annotate(n=Count("id")).order_by(),
            "cat",
        ),
        _rows(
            pm_inc.values(cat=F("root_cause_category__name")).annotate(n=Count("id")).order_by(),
            "cat",
        ),
    )

    # MTTA / MTTR: one row per subject with the moments (resolved ones only for MTTR).
    first_update = (
        CadenceEntry.objects.filter(cadence__escalation=OuterRef("pk"), kind="done")
        .order_by("at")
        .values("at")[:1]
    )
    esc_times = list(
        esc.annotate(first_update=Subquery(first_update)).values_list(
            "opened_at", "active_at", "first_update", "resolved_at"
        )
    )
    inc_times = list(
        inc.annotate(
            page_ack=Min("pages__acknowledged_at"),
        )
        .values_list("id", "declared_at", "page_ack", "resolved_at")
        .order_by()
    )
    handoff_ack = dict(
        inc.filter(handoffs__acknowledged_at__isnull=False)
        .values("id")
        .annotate(a=Min("handoffs__acknowledged_at"))
        .values_list("id", "a")
        .order_by()
    )
    esc_tta, esc_ttr, inc_tta, inc_ttr = [], [], [], []
    for opened, active, update, resolved in esc_times:
        firsts = [t for t in (active, update) if t is not None]
        tta = _seconds(opened, min(firsts)) if firsts else None
        if tta is not None:
            esc_tta.append(tta)
        ttr = _seconds(opened, resolved)
        if ttr is not None:
            esc_ttr.append(ttr)
    for iid, declared, page_ack, resolved in inc_times:
        acks = [t for t in (page_ack, handoff_ack.get(iid)) if t is not None]
        tta = _seconds(declared, min(acks)) if acks else None
        if tta is not None:
            inc_tta.append(tta)
        ttr = _seconds(declared, resolved)
        if ttr is not None:
            inc_ttr.append(ttr)

    return {
        "since": since,
        "until": until,
        "totals": {"escalations": len(esc_times), "incidents": len(inc_times)},
        "by_month": by_month,
        "by_product_area": by_area,
        "by_organization": by_org,
        "by_root_cause_category": by_category,
        "recurring": recurring(until=until),
        "mtta": {
            "escalations": _mean(esc_tta),
            "incidents": _mean(inc_tta),
            "escalations_n": len(esc_tta),
            "incidents_n": len(inc_tta),
        },
        "mttr": {
            "escalations": _mean(esc_ttr),
            "incidents": _mean(inc_ttr),
            "escalations_n": len(esc_ttr),
            "incidents_n": len(inc_ttr),
        },
    }


def recurring(*, until: datetime | None = None) -> list[dict[str, Any]]:
    """Root causes that came back within 90 days before ``until``: post-mortems of the
    same category and product area twice or more, or with similar root-cause texts
    (:func:`similarity` >= 0.5). Each group lists its post-mortems."""
    until = until or now()
    rows = list(
        PostMortem.objects.filter(
            resolved_at__gte=until - RECURRING_WINDOW, resolved_at__lt=until + timedelta(days=1)
        )
        .values(
            "id",
            "title",
            "root_cause",
            "resolved_at",
            "root_cause_category__name",
            "product_area__name",
        )
        .order_by("resolved_at", "id")
    )
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in rows:
        if r["root_cause_category__name"] and r["product_area__name"]:
            groups[(r["root_cause_category__name"], r["product_area__name"])].append(r)
    out: list[dict[str, Any]] = []
    for (cat, area), members in groups.items():
        if len(members) >= 2:
            out.append(
                {
                    "reason": "same category and product area",
                    "category": cat,
                    "product_area": area,
                    "count": len(members),
                    "postmortems": [{"id": m["id"], "title": m["title"]} for m in members],
                }
            )
    # Similar texts (pairs not already grouped together above).
    seen_pairs = {
        (a["id"], b["id"]) for g in out for a in g["postmortems"] for b in g["postmortems"]
    }
    words = [(r, _words(r["root_cause"])) for r in rows if r["root_cause"]]
    clusters: list[list[dict]] = []
    used: set[int] = set()
    for i, (a, wa) in enumerate(words):
        if a["id"] in used:
            continue
        cluster = [a]
        for b, wb in words[i + 1 :]:
            if b["id"] in used or (a["id"], b["id"]) in seen_pairs:
                continue
            if wa and wb and len(wa & wb) / len(wa | wb) >= SIMILAR_TEXT:
                cluster.append(b)
        if len(cluster) >= 2:
            used.update(m["id"] for m in cluster)
            clusters.append(cluster)
    for cluster in clusters:
        out.append(
            {
                "reason": "similar root cause",
                "category": cluster[0]["root_cause_category__name"] or "",
                "product_area": cluster[0]["product_area__name"] or "",
                "count": len(cluster),
                "postmortems": [{"id": m["id"], "title": m["title"]} for m in cluster],
            }
        )
    return out
