"""Reply checker: precision/recall of "unanswered question" on the frozen labelled cases
(tests/fixtures/replycheck, FROZEN.md) per split, and checks per second.

    .venv/bin/python bench/replycheck_eval.py [--threshold 0.15] [--errors]

Prints figures only (no asserts); record them in docs/reply-checker.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from caseline.text.replycheck import DEFAULT_THRESHOLD  # noqa: E402
from caseline.text.replycheck_eval import check_case, evaluate, parse_cases  # noqa: E402

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "replycheck"
FILES = (
    "cases.jsonl",
    "cases_round2.jsonl",
    "cases_round3.jsonl",
    "cases_round4.jsonl",
    "cases_round5.jsonl",
)
SPLITS = (
    ("tune", "round 1 tune half (odd ids)"),
    ("heldout", "round 1 held-out half (blind in round 1 only)"),
    ("heldout2", "round 2 set (blind in round 2 only)"),
    ("heldout3", "round 3 set (blind in round 3 only)"),
    ("heldout4", "round 4 set (blind in round 4 only)"),
    ("heldout5", "round 5 set (blind for the final matching rules)"),
    (None, "whole"),
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    parser.add_argument("--errors", action="store_true", help="list false positives/negatives")
    args = parser.parse_args()
    cases = [
        c for name in FILES for c in parse_cases((FIXTURES / name).read_text(encoding="utf-8"))
    ]
    print(f"python {platform.python_version()}, load average {os.getloadavg()[0]:.2f}")
    print(f"threshold {args.threshold}, {len(cases)} cases\n")
    print(f"{'split':<10} {'cases':>5} {'P':>6} {'R':>6} {'F1':>6} {'tp':>4} {'fp':>4} {'fn':>4}  ")
    for split, label in SPLITS:
        s = evaluate(cases, threshold=args.threshold, split=split)
        f1 = 2 * s.precision * s.recall / (s.precision + s.recall) if s.tp else 0.0
        name = split or "all"
        print(
            f"{name:<10} {s.cases:>5} {s.precision:>6.3f} {s.recall:>6.3f} {f1:>6.3f} "
            f"{s.tp:>4} {s.fp:>4} {s.fn:>4}  {label}; other findings "
            f"{s.other_accuracy:.3f}, asks found {s.extraction_recall:.3f}"
        )
        if args.errors:
            for r in s.results:
                if r.fp or r.fn:
                    print(
                        f"    {r.case_id}: fp {list(r.false_positives)} fn {list(r.false_negatives)}"
                    )

    # speed: whole checks (extraction + matching + ETA/style) of the labelled cases
    rounds, best = 20, float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(rounds):
            for case in cases:
                check_case(case, args.threshold)
        best = min(best, time.perf_counter() - start)
    n = rounds * len(cases)
    print(f"\nspeed: {n / best:,.0f} checks/s ({best / n * 1000:.2f} ms per check, best of 3)")
    big = dict(cases[0])
    big["messages"] = [m * 20 for m in cases[0]["messages"]]
    big["draft"] = cases[0]["draft"] * 20
    start = time.perf_counter()
    for _ in range(20):
        check_case(big, args.threshold)
    per = (time.perf_counter() - start) / 20
    chars = sum(map(len, big["messages"])) + len(big["draft"])
    print(f"long thread ({chars:,} characters): {per * 1000:.1f} ms per check")


if __name__ == "__main__":
    main()
