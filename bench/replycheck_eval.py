"""Reply checker: precision/recall of "unanswered question" on the frozen labelled cases
(tests/fixtures/replycheck, FROZEN.md) per split, and checks per second.

    .venv/bin/python bench/replycheck_eval.py [--threshold 0.15] [--errors]
        [--method lexical|semantic|both]

``--method semantic`` (or ``both``) needs the ``[semantic]`` extra
(``pip install -e '.[semantic]'``); it also prints the semantic path's per-draft latency
(p50/p95), the model's load time and the process's peak RSS.
Prints figures only (no asserts); record them in docs/reply-checker.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from caseline.text.replycheck import DEFAULT_THRESHOLD  # noqa: E402
from caseline.text.replycheck_eval import Scores, check_case, evaluate, parse_cases  # noqa: E402

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "replycheck"
FILES = (
    "cases.jsonl",
    "cases_round2.jsonl",
    "cases_round3.jsonl",
    "cases_round4.jsonl",
    "cases_round5.jsonl",
    "cases_round6.jsonl",
)
SPLITS = (
    ("tune", "round 1 tune half (odd ids)"),
    ("heldout", "round 1 held-out half (blind in round 1 only)"),
    ("heldout2", "round 2 set (blind in round 2 only)"),
    ("heldout3", "round 3 set (blind in round 3 only)"),
    ("heldout4", "round 4 set (blind in round 4 only)"),
    ("heldout5", "round 5 set (blind for the lexical round-5 rules and the semantic matcher)"),
    ("heldout6", "round 6 set (blind for the semantic matcher and the round-5 rules)"),
    (None, "whole"),
)
TUNED = ("tune", "heldout", "heldout2", "heldout3", "heldout4")
GROUPS = (
    (TUNED, "tuned on (rounds 1-4)"),
    (("heldout5",), "round 5 (blind)"),
    (("heldout6",), "round 6 (blind)"),
    (None, "all"),
)


def _row(name: str, s: Scores, label: str) -> str:
    f1 = 2 * s.precision * s.recall / (s.precision + s.recall) if s.tp else 0.0
    return (
        f"{name:<22} {s.cases:>5} {s.precision:>6.3f} {s.recall:>6.3f} {f1:>6.3f} "
        f"{s.tp:>4} {s.fp:>4} {s.fn:>4}  {label}; other findings "
        f"{s.other_accuracy:.3f}, asks found {s.extraction_recall:.3f}"
    )


def _errors(s: Scores) -> None:
    for r in s.results:
        if r.fp or r.fn:
            print(f"    {r.case_id}: fp {list(r.false_positives)} fn {list(r.false_negatives)}")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def semantic_latency(cases: list[dict[str, Any]], threshold: float) -> None:
    """Per-draft time of the semantic path: the model's load, a first check of a draft
    (nothing cached), and a re-check while typing (the draft grew by one sentence)."""
    from caseline.text import replycheck_semantic as sem

    cold: list[float] = []
    typing: list[float] = []
    for case in cases:
        sem._cache.clear()
        start = time.perf_counter()
        check_case(case, threshold, "semantic")
        cold.append(time.perf_counter() - start)
        grown = dict(case)
        grown["draft"] = case["draft"].replace("\n\n", "\n\nOne more thing to add here. ", 1)
        start = time.perf_counter()
        check_case(grown, threshold, "semantic")
        typing.append(time.perf_counter() - start)
    for name, values in (("first check of a draft", cold), ("re-check while typing", typing)):
        print(
            f"semantic {name}: p50 {_pct(values, 0.5) * 1000:.0f} ms, "
            f"p95 {_pct(values, 0.95) * 1000:.0f} ms ({len(values)} drafts)"
        )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"semantic: peak RSS of this process {rss:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    parser.add_argument("--errors", action="store_true", help="list false positives/negatives")
    parser.add_argument("--method", choices=("lexical", "semantic", "both"), default="lexical")
    args = parser.parse_args()
    cases = [
        c for name in FILES for c in parse_cases((FIXTURES / name).read_text(encoding="utf-8"))
    ]
    methods = ("lexical", "semantic") if args.method == "both" else (args.method,)
    if "semantic" in methods:
        from caseline.text.replycheck_semantic import available

        if not available():
            sys.exit("the [semantic] extra is not installed: pip install -e '.[semantic]'")
        from caseline.text.replycheck_semantic import embed

        start = time.perf_counter()
        embed(["warm-up"])  # the model's load (imports included), once per process
        load_seconds = time.perf_counter() - start
    print(f"python {platform.python_version()}, load average {os.getloadavg()[0]:.2f}")
    print(f"threshold {args.threshold}, {len(cases)} cases\n")
    head = f"{'split':<22} {'cases':>5} {'P':>6} {'R':>6} {'F1':>6} {'tp':>4} {'fp':>4} {'fn':>4}  "
    if "lexical" in methods:
        print("lexical, per split\n" + head)
        for split, label in SPLITS:
            s = evaluate(cases, threshold=args.threshold, split=split)
            print(_row(split or "all", s, label))
            if args.errors:
                _errors(s)
    for method in methods:
        print(f"\n{method}, per group\n" + head)
        for splits, label in GROUPS:
            s = evaluate(cases, threshold=args.threshold, split=splits, method=method)
            print(_row(label, s, method))
            if args.errors and method == "semantic":
                _errors(s)

    # speed: whole checks (extraction + matching + ETA/style) of the labelled cases
    rounds, best = 20, float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(rounds):
            for case in cases:
                check_case(case, args.threshold)
        best = min(best, time.perf_counter() - start)
    n = rounds * len(cases)
    print(
        f"\nlexical speed: {n / best:,.0f} checks/s ({best / n * 1000:.2f} ms per check, best of 3)"
    )
    big = dict(cases[0])
    big["messages"] = [m * 20 for m in cases[0]["messages"]]
    big["draft"] = cases[0]["draft"] * 20
    start = time.perf_counter()
    for _ in range(20):
        check_case(big, args.threshold)
    per = (time.perf_counter() - start) / 20
    chars = sum(map(len, big["messages"])) + len(big["draft"])
    print(f"long thread ({chars:,} characters): {per * 1000:.1f} ms per check")
    if "semantic" in methods:
        print(f"\nsemantic: model load {load_seconds:.1f} s (imports included)")
        semantic_latency(cases, args.threshold)


if __name__ == "__main__":
    main()
