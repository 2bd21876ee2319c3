"""Every ```sla-example block of docs/sla.md runs here (like a doctest).

The little language of a block (times are local to the ``zone`` line):

    zone America/New_York
    calendar amer: America/New_York Mon-Fri 08:00-17:00
    calendar 24x7: 24x7
    policy support_engineer: acknowledge 1h on amer after-hours 24x7; actionable 24h on amer
    policy support_engineer if severity 1: owner_assigned 15m on 24x7; pause pending
    2026-03-02 09:00 created [severity N] [tier T] [channel C] [assigned] [sc]
    2026-03-02 09:20 reply by customer|assignee|staff|sc [actionable|not-actionable]
    2026-03-02 09:25 note by assignee | status pending | severity 1 | assigned | unassigned
    at 2026-03-02 09:30
    [role:]kind state [due YYYY-MM-DD HH:MM] [elapsed 1h30m] [remaining -15m]
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from caseline.clock import Calendar
from caseline.sla import clockstate as cs

pytestmark = pytest.mark.pure

DOC = Path(__file__).resolve().parents[2] / "docs" / "sla.md"
BLOCK = re.compile(r"```sla-example\n(.*?)```", re.S)


def dur(text: str) -> int:
    text = text.strip()
    sign = -1 if text.startswith("-") else 1
    text = text.lstrip("-")
    if text == "0":
        return 0
    m = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text)
    assert m and any(m.groups()), f"bad duration {text!r}"
    h, mi, s = (int(g or 0) for g in m.groups())
    return sign * (h * 3600 + mi * 60 + s)


class Example:
    def __init__(self, text: str):
        self.tz = ZoneInfo("UTC")
        self.calendars: dict[str, Calendar] = {}
        self.policies: list[cs.PolicySpec] = []
        self.events: list[cs.Event] = []
        self.checks: list[tuple[datetime, list[str]]] = []
        self.facts = cs.Facts()
        for raw in text.strip().splitlines():
            line = raw.split("#", 1)[0].strip()
            if line:
                self.line(line)

    def t(self, text: str) -> datetime:
        return datetime.fromisoformat(text).replace(tzinfo=self.tz)

    def line(self, line: str) -> None:
        if line.startswith("zone "):
            self.tz = ZoneInfo(line.split()[1])
        elif line.startswith("calendar "):
            name, spec = line[len("calendar ") :].split(":", 1)
            spec = spec.strip()
            if spec == "24x7":
                cal = Calendar.always_open()
            else:
                tz, hours = spec.split(" ", 1)
                cal = Calendar.build(tz, hours)
            self.calendars[name.strip()] = cal
        elif line.startswith("policy "):
            self.policy(line[len("policy ") :])
        elif line.startswith("at "):
            self.checks.append((self.t(line[3:].strip()), []))
        elif re.match(r"\d{4}-\d\d-\d\d ", line):
            self.event(line)
        else:
            assert self.checks, f"an expectation before any 'at' line: {line!r}"
            self.checks[-1][1].append(line)

    def policy(self, text: str) -> None:
        head, body = text.split(":", 1)
        words = head.split()
        role, cond = words[0], {"severities": set(), "tiers": set(), "channels": set()}
        for i in range(1, len(words), 3):
            assert words[i] == "if", head
            what, values = words[i + 1], words[i + 2].split(",")
            key = {"severity": "severities", "tier": "tiers", "channel": "channels"}[what]
            cond[key] |= {int(v) if what == "severity" else v for v in values}
        pause = frozenset({"pending"})
        specs = []
        for part in body.split(";"):
            p = part.split()
            if not p:
                continue
            if p[0] == "pause":
                pause = frozenset(p[1].split(",")) if len(p) > 1 else frozenset()
                continue
            kind, seconds = p[0], dur(p[1])
            assert p[2] == "on", part
            cal_name = p[3]
            after = p[5] if len(p) > 5 and p[4] == "after-hours" else None
            specs.append((kind, seconds, cal_name, after))
        targets = tuple(
            cs.TargetSpec(
                role=role,
                kind=kind,
                seconds=seconds,
                calendar=self.calendars[cal],
                calendar_name=cal,
                after_hours=self.calendars[after] if after else None,
                after_hours_name=after or "",
                pause_statuses=pause,
            )
            for kind, seconds, cal, after in specs
        )
        self.policies.append(
            cs.PolicySpec(
                role=role,
                targets=targets,
                position=len(self.policies),
                id=len(self.policies) + 1,
                severities=frozenset(cond["severities"]),
                tiers=frozenset(cond["tiers"]),
                channels=frozenset(cond["channels"]),
            )
        )

    def event(self, line: str) -> None:
        d, hm, what, *rest = line.split()
        at = self.t(f"{d} {hm}")
        if what == "created":
            f = self.facts
            it = iter(rest)
            for w in it:
                if w == "severity":
                    f = replace(f, severity=int(next(it)))
                elif w == "tier":
                    f = replace(f, tier=next(it))
                elif w == "channel":
                    f = replace(f, channel=next(it))
                elif w == "assigned":
                    f = replace(f, has_assignee=True)
                elif w == "sc":
                    f = replace(f, has_sc=True)
            self.facts = f
            self.events.append(cs.Event(at, "created", facts=f))
        elif what in ("reply", "note"):
            assert rest[0] == "by", line
            who = rest[1]
            author = {
                "customer": {"customer"},
                "assignee": {"staff", "assignee"},
                "staff": {"staff"},
                "sc": {"staff", cs.SC},
            }[who]
            flag = None
            if "actionable" in rest[2:]:
                flag = True
            if "not-actionable" in rest[2:]:
                flag = False
            self.events.append(cs.Event(at, what, author=frozenset(author), actionable=flag))
        elif what == "status":
            self.events.append(cs.Event(at, "status", status=rest[0]))
        elif what == "severity":
            self.facts = replace(self.facts, severity=int(rest[0]))
            self.events.append(cs.Event(at, "severity", facts=self.facts))
        elif what in ("assigned", "unassigned"):
            self.events.append(cs.Event(at, "assigned", assignee=what == "assigned"))
        else:
            raise AssertionError(f"unknown event line {line!r}")

    def run(self) -> list[str]:
        failures = []
        for at, lines in self.checks:
            past = [e for e in self.events if e.at <= at]
            got = {v.key: v for v in cs.compute(past, self.matcher, at)}
            for line in lines:
                words = line.split()
                key = words[0] if ":" in words[0] else f"{cs.SE}:{words[0]}"
                v = got.get(key)
                if v is None:
                    failures.append(f"at {at}: no clock {key} (have {sorted(got)})")
                    continue
                if v.state != words[1]:
                    failures.append(f"at {at}: {key} is {v.state}, expected {words[1]}")
                it = iter(words[2:])
                for w in it:
                    if w == "due":
                        want = self.t(f"{next(it)} {next(it)}")
                        if v.due_at != want:
                            local = v.due_at.astimezone(self.tz) if v.due_at else None
                            failures.append(f"at {at}: {key} due {local}, expected {want}")
                    elif w == "elapsed" and v.elapsed != dur(next(it)):
                        failures.append(f"at {at}: {key} elapsed {v.elapsed}s")
                    elif w == "remaining" and v.remaining != dur(next(it)):
                        failures.append(f"at {at}: {key} remaining {v.remaining}s")
        return failures

    def matcher(self, facts: cs.Facts):
        return cs.match(self.policies, facts)


EXAMPLES = BLOCK.findall(DOC.read_text())


def test_the_document_has_examples():
    assert len(EXAMPLES) >= 6


@pytest.mark.parametrize("n", range(len(EXAMPLES)))
def test_example(n):
    ex = Example(EXAMPLES[n])
    assert ex.checks, "an example needs at least one 'at' block"
    failures = ex.run()
    assert not failures, f"example {n + 1}:\n" + "\n".join(failures)


def test_a_wrong_expectation_fails():
    """The runner can fail: a deliberately wrong state is reported."""
    ex = Example(EXAMPLES[0].replace("acknowledge fulfilled", "acknowledge breached", 1))
    assert ex.run()
