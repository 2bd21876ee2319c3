"""Scoring multi-customer detection against labelled tickets
(tests/fixtures/incidents/tickets.jsonl; how it was made: its FROZEN.md).

Pure; used by tests/text/test_similar_eval.py and bench/detection_bench.py. The tickets
are replayed in the order they were opened; each is queried against the index of the
tickets before it (expired to the window) and then added. A *proposed link* is (new
ticket, earlier ticket) chosen by :func:`caseline.text.similar.propose`; a *gold link* is
a pair with the same non-null ``cluster``, different organizations, the earlier one
opened at most ``gold_window_hours`` (24) before the new one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from caseline.text.similar import (
    DEFAULT_HISTORY_HOURS,
    DEFAULT_JOIN_THRESHOLD,
    DEFAULT_MIN_ORGS,
    DEFAULT_THRESHOLD,
    DEFAULT_WINDOW_HOURS,
    Detector,
)

__all__ = ["EPOCH", "Case", "Scores", "evaluate", "gold_links", "parse_cases", "replay"]

#: ``opened_min`` counts minutes from this moment (a Monday).
EPOCH = datetime(2026, 11, 30, tzinfo=UTC)
GOLD_WINDOW_HOURS = 24.0


@dataclass(frozen=True, slots=True)
class Case:
    id: str
    key: int
    org: str
    area: str
    opened_at: datetime
    subject: str
    body: str
    cluster: str | None
    kind: str
    group: str
    split: str
    lang: str


def parse_cases(text: str) -> list[Case]:
    """The tickets of one JSON-lines file's text (the caller reads the file)."""
    out: list[Case] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        raw: dict[str, Any] = json.loads(line)
        out.append(
            Case(
                id=str(raw["id"]),
                key=len(out) + 1,
                org=str(raw["org"]),
                area=str(raw["area"]),
                opened_at=EPOCH + timedelta(minutes=int(raw["opened_min"])),
                subject=str(raw["subject"]),
                body=str(raw["body"]),
                cluster=raw.get("cluster") or None,
                kind=str(raw["kind"]),
                group=str(raw["group"]),
                split=str(raw["split"]),
                lang=str(raw.get("lang", "en")),
            )
        )
    return out


def _ordered(cases: Iterable[Case]) -> list[Case]:
    return sorted(cases, key=lambda c: (c.opened_at, c.id))


def gold_links(
    cases: Sequence[Case], *, window_hours: float = GOLD_WINDOW_HOURS
) -> set[tuple[str, str]]:
    window = timedelta(hours=window_hours)
    ordered = _ordered(cases)
    links: set[tuple[str, str]] = set()
    for i, new in enumerate(ordered):
        if new.cluster is None:
            continue
        for old in ordered[:i]:
            if (
                old.cluster == new.cluster
                and old.org != new.org
                and new.opened_at - old.opened_at <= window
            ):
                links.add((new.id, old.id))
    return links


@dataclass(frozen=True, slots=True)
class Replay:
    links: dict[tuple[str, str], float]  # proposed (new id, earlier id) -> score


def replay(
    cases: Sequence[Case],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    window_hours: float = DEFAULT_WINDOW_HOURS,
    min_orgs: int = DEFAULT_MIN_ORGS,
    require_fault: bool = True,
    expand: bool = True,
    join_threshold: float | None = DEFAULT_JOIN_THRESHOLD,
    history_hours: float | None = DEFAULT_HISTORY_HOURS,
) -> Replay:
    detector = Detector(
        window=timedelta(hours=window_hours),
        threshold=threshold,
        min_orgs=min_orgs,
        require_fault=require_fault,
        expand=expand,
        join_threshold=join_threshold,
        history=timedelta(hours=history_hours) if history_hours else None,
    )
    by_key = {c.key: c for c in cases}
    links: dict[tuple[str, str], float] = {}
    for case in _ordered(cases):
        found = detector.observe(case.key, case.org, case.opened_at, case.subject, case.body)
        for m in found.links:
            links[(case.id, by_key[m.key].id)] = m.score
    return Replay(links=links)


@dataclass(frozen=True, slots=True)
class Scores:
    cases: int
    gold: int
    proposed: int
    tp: int
    #: tickets with at least one gold link / flagged / flagged with at least one gold link
    gold_tickets: int
    flagged_tickets: int
    flagged_right: int
    false_positives: tuple[tuple[str, str, float], ...]
    false_negatives: tuple[tuple[str, str], ...]

    @property
    def precision(self) -> float:
        return self.tp / self.proposed if self.proposed else 1.0

    @property
    def recall(self) -> float:
        return self.tp / self.gold if self.gold else 1.0

    @property
    def ticket_precision(self) -> float:
        return self.flagged_right / self.flagged_tickets if self.flagged_tickets else 1.0

    @property
    def ticket_recall(self) -> float:
        return self.flagged_right / self.gold_tickets if self.gold_tickets else 1.0

    def line(self, name: str) -> str:
        return (
            f"{name:<8} tickets {self.cases:>3}  links: gold {self.gold:>3} proposed "
            f"{self.proposed:>3} tp {self.tp:>3}  P {self.precision:.3f} R {self.recall:.3f}"
            f"  | tickets flagged: P {self.ticket_precision:.3f} R {self.ticket_recall:.3f}"
        )


def evaluate(
    cases: Sequence[Case],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    window_hours: float = DEFAULT_WINDOW_HOURS,
    min_orgs: int = DEFAULT_MIN_ORGS,
    require_fault: bool = True,
    expand: bool = True,
    join_threshold: float | None = DEFAULT_JOIN_THRESHOLD,
    history_hours: float | None = DEFAULT_HISTORY_HOURS,
) -> Scores:
    """Precision/recall of the proposed links on ``cases`` replayed alone."""
    gold = gold_links(cases)
    got = replay(
        cases,
        threshold=threshold,
        window_hours=window_hours,
        min_orgs=min_orgs,
        require_fault=require_fault,
        expand=expand,
        join_threshold=join_threshold,
        history_hours=history_hours,
    )
    proposed = set(got.links)
    tp = proposed & gold
    gold_tickets = {new for new, _ in gold}
    flagged = {new for new, _ in proposed}
    right = {new for new, _ in tp}
    return Scores(
        cases=len(cases),
        gold=len(gold),
        proposed=len(proposed),
        tp=len(tp),
        gold_tickets=len(gold_tickets),
        flagged_tickets=len(flagged),
        flagged_right=len(right),
        false_positives=tuple(
            sorted((a, b, round(got.links[(a, b)], 3)) for a, b in proposed - gold)
        ),
        false_negatives=tuple(sorted(gold - proposed)),
    )
