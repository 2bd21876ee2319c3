"""Multi-customer detection against the frozen labelled tickets
(tests/fixtures/incidents, FROZEN.md). Prints precision/recall of the proposed links on
the tune half, the held-out half, the whole set and the round-2 set; fails only when the
evaluation itself is broken (never on the target: that is a figure, docs/incident-detection.md)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from caseline.text.similar_eval import evaluate, gold_links, parse_cases, replay

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "incidents"
FILES = ("tickets.jsonl", "tickets_round2.jsonl")


def _frozen_hashes() -> dict[str, str]:
    text = (FIXTURES / "FROZEN.md").read_text(encoding="utf-8")
    return dict(re.findall(r"^\| (\S+\.jsonl) \| `([0-9a-f]{64})` \|", text, re.M))


@pytest.mark.parametrize("name", FILES)
def test_case_files_are_frozen(name):
    data = (FIXTURES / name).read_bytes()
    assert hashlib.sha256(data).hexdigest() == _frozen_hashes()[name], (
        f"{name} changed after it was frozen: re-freeze it in FROZEN.md and say why"
    )


def _cases(name: str):
    return parse_cases((FIXTURES / name).read_text(encoding="utf-8"))


def test_the_labelled_set_is_what_frozen_md_says():
    cases = _cases("tickets.jsonl")
    assert len(cases) >= 300
    assert {c.split for c in cases} == {"tune", "heldout"}
    # a cluster is wholly in one half, and its scenario group too
    for attr in ("cluster", "group"):
        halves: dict[str, set[str]] = {}
        for c in cases:
            key = getattr(c, attr)
            if key:
                halves.setdefault(key, set()).add(c.split)
        assert all(len(v) == 1 for v in halves.values()), attr
    sizes: dict[str, set[str]] = {}
    for c in cases:
        if c.kind == "cluster" and c.cluster:
            sizes.setdefault(c.cluster, set()).add(c.org)
    assert all(len(orgs) >= 2 for orgs in sizes.values())  # multi-customer
    assert {"hard_area", "hard_words", "same_org_dup", "singleton"} <= {c.kind for c in cases}
    assert any(c.lang == "de" for c in cases)


def test_gold_links_follow_the_definition():
    cases = _cases("tickets.jsonl")
    by_id = {c.id: c for c in cases}
    gold = gold_links(cases)
    assert gold
    for new, old in gold:
        a, b = by_id[new], by_id[old]
        assert a.cluster == b.cluster is not None
        assert a.org != b.org
        assert timedelta_ok(a.opened_at - b.opened_at)
    # same-organization duplicates never make a gold link
    assert not any(by_id[n].kind == "same_org_dup" for n, _ in gold)


def timedelta_ok(delta) -> bool:
    return 0 <= delta.total_seconds() <= 24 * 3600


def test_replay_never_links_a_ticket_of_the_same_organization_or_the_future():
    cases = _cases("tickets.jsonl")
    by_id = {c.id: c for c in cases}
    got = replay(cases)
    for new, old in got.links:
        assert by_id[new].org != by_id[old].org
        assert by_id[old].opened_at <= by_id[new].opened_at
        assert (new, old) not in {(o, n) for n, o in got.links}


def test_precision_and_recall_are_reported(capsys):
    cases = _cases("tickets.jsonl")
    round2 = _cases("tickets_round2.jsonl")
    rows = [
        evaluate([c for c in cases if c.split == "tune"]).line("tune"),
        evaluate([c for c in cases if c.split == "heldout"]).line("heldout"),
        evaluate(cases).line("whole"),
        evaluate(round2).line("round2"),
    ]
    with capsys.disabled():
        print("\nmulti-customer detection (proposed links):")
        for row in rows:
            print("  " + row)
    for row in rows:
        assert " P " in row and " R " in row
