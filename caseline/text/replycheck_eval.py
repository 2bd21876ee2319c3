"""Scoring the reply checker against labelled cases (tests/fixtures/replycheck/cases.jsonl).

Pure; used by tests/text/test_replycheck.py and bench/replycheck_eval.py. A predicted
ask is tied to a labelled one when the label's ``key`` occurs in the ask's text
(case and spacing ignored). For "unanswered question":

- true positive: a labelled unanswered ask that the checker flags;
- false negative: a labelled unanswered ask that is not flagged (missed, or judged
  addressed);
- false positive: a flagged ask that is labelled answered, or that is no labelled ask at
  all (a rhetorical question, an offer, a quoted line taken for an ask).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from caseline.text.replycheck import (
    DEFAULT_THRESHOLD,
    MISSING_CLOSING,
    MISSING_ETA,
    MISSING_GREETING,
    ReplyCheck,
    ReplyStyle,
    check_reply,
)

__all__ = ["CaseResult", "Scores", "evaluate", "parse_cases", "run_case"]

OTHER_KINDS = (MISSING_ETA, MISSING_GREETING, MISSING_CLOSING)


def parse_cases(text: str) -> list[dict[str, Any]]:
    """The cases of one JSON-lines file's text (the caller reads the file: no I/O here)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


@dataclass(frozen=True, slots=True)
class CaseResult:
    case_id: str
    tp: int
    fp: int
    fn: int
    false_positives: tuple[str, ...]
    false_negatives: tuple[str, ...]
    #: kinds other than unanswered_question: expected vs found
    other_expected: frozenset[str]
    other_found: frozenset[str]
    extracted: int
    labelled: int
    labelled_found: int


@dataclass(frozen=True, slots=True)
class Scores:
    cases: int
    tp: int
    fp: int
    fn: int
    other_correct: int
    other_total: int
    extraction_recall: float
    results: tuple[CaseResult, ...] = field(default_factory=tuple)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def other_accuracy(self) -> float:
        return self.other_correct / self.other_total if self.other_total else 1.0


def check_case(
    case: Mapping[str, Any], threshold: float = DEFAULT_THRESHOLD, method: str = "lexical"
) -> ReplyCheck:
    """One case through the checker; ``method`` as in replycheck_semantic (lexical by
    default, so the figures do not depend on what is installed)."""
    style = case.get("style") or {}
    eta = case.get("eta")
    if method != "lexical":
        from caseline.text.replycheck_semantic import check_reply as check_with

        return check_with(
            case["messages"],
            case["draft"],
            keep_open=bool(case.get("keep_open", True)),
            eta=datetime.fromisoformat(eta.replace("Z", "+00:00")) if eta else None,
            style=ReplyStyle(
                greeting_required=bool(style.get("greeting")),
                closing_required=bool(style.get("closing")),
            ),
            threshold=threshold,
            method=method,
        )
    return check_reply(
        case["messages"],
        case["draft"],
        keep_open=bool(case.get("keep_open", True)),
        eta=datetime.fromisoformat(eta.replace("Z", "+00:00")) if eta else None,
        style=ReplyStyle(
            greeting_required=bool(style.get("greeting")),
            closing_required=bool(style.get("closing")),
        ),
        threshold=threshold,
    )


def run_case(
    case: Mapping[str, Any], threshold: float = DEFAULT_THRESHOLD, method: str = "lexical"
) -> CaseResult:
    check = check_case(case, threshold, method)
    gold = [(_norm(a["key"]), bool(a["answered"])) for a in case["asks"]]
    flagged = [_norm(r.ask.text) for r in check.asks if not r.addressed]
    extracted = [_norm(r.ask.text) for r in check.asks]
    tp = fn = 0
    fns: list[str] = []
    for key, answered in gold:
        if answered:
            continue
        if any(key in text for text in flagged):
            tp += 1
        else:
            fn += 1
            fns.append(key)
    fps: list[str] = []
    for text in flagged:
        tied = [answered for key, answered in gold if key in text]
        if not tied or all(tied):
            fps.append(text)
    found = frozenset(f.kind for f in check.findings if f.kind in OTHER_KINDS)
    expected = frozenset(k for k in case.get("findings", ()) if k in OTHER_KINDS)
    return CaseResult(
        case_id=str(case["id"]),
        tp=tp,
        fp=len(fps),
        fn=fn,
        false_positives=tuple(fps),
        false_negatives=tuple(fns),
        other_expected=expected,
        other_found=found,
        extracted=len(extracted),
        labelled=len(gold),
        labelled_found=sum(1 for key, _ in gold if any(key in t for t in extracted)),
    )


def evaluate(
    cases: Iterable[Mapping[str, Any]],
    threshold: float = DEFAULT_THRESHOLD,
    split: str | Sequence[str] | None = None,
    method: str = "lexical",
) -> Scores:
    """Precision/recall of "unanswered question" over ``cases`` (optionally one split or
    several), judged by the ``lexical`` or ``semantic``/``auto`` matcher."""
    splits = (split,) if isinstance(split, str) else split
    results = tuple(
        run_case(c, threshold, method) for c in cases if splits is None or c.get("split") in splits
    )
    if not results:
        # Precision and recall of nothing would read 1.0: a misspelt split must not pass.
        raise ValueError(f"no case in split {split!r}")
    other_total = len(results) * len(OTHER_KINDS)
    other_correct = sum(
        (kind in r.other_expected) == (kind in r.other_found)
        for r in results
        for kind in OTHER_KINDS
    )
    labelled = sum(r.labelled for r in results)
    return Scores(
        cases=len(results),
        tp=sum(r.tp for r in results),
        fp=sum(r.fp for r in results),
        fn=sum(r.fn for r in results),
        other_correct=other_correct,
        other_total=other_total,
        extraction_recall=(sum(r.labelled_found for r in results) / labelled) if labelled else 1.0,
        results=results,
    )
