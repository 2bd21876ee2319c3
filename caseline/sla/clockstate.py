"""SLA clock state as a pure function of a ticket's timeline and its policies.

No Django here (like ``caseline.clock``): plain frozen dataclasses in, plain dataclasses
out. The Django side (``caseline.sla.services``) turns domain events into :class:`Event`
values, keeps the folded :class:`TicketState` in the ``sla_clock`` / ``sla_ticket`` rows and
applies one event at a time with :func:`step`; :func:`compute` folds a whole timeline
(the tests and docs/sla.md do that).

Conventions (docs/sla.md has the full table and runnable examples):

* A clock counts business seconds on its calendar while it runs. ``due`` is
  ``calendar.add(running_since, seconds - consumed)``.
* It breaches AT ``due``: a fulfilment at ``t < due`` is on time, at ``t >= due`` late.
* Statuses named by the policy (``pending`` by default) pause the role's clocks; leaving
  them resumes. Solving stops every clock (resolution is fulfilled; others that had not
  breached count as fulfilled); reopening resumes resolution and restarts the periodic
  update.
* A change of severity, product area or organization re-matches the policies; clocks of the
  same role and kind keep their elapsed time on the new target. Matching is per role and
  target kind (the first matching policy that has the kind); a clock whose kind no policy
  applies any more is suspended with its elapsed time until one does again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from caseline.clock import BusinessCalendar, epoch_of, utc_of

__all__ = [
    "KINDS",
    "ROLES",
    "ClockState",
    "ClockView",
    "Event",
    "Facts",
    "PolicySpec",
    "TargetSpec",
    "TicketState",
    "compute",
    "fold",
    "match",
    "step",
    "view",
]

SE, SC, CSM = "support_engineer", "sales_consultant", "customer_success_manager"
ROLES = (SE, SC, CSM)
ACK, ACTIONABLE, NEXT_REPLY, UPDATE, RESOLUTION, OWNER = (
    "acknowledge",
    "actionable",
    "next_reply",
    "periodic_update",
    "resolution",
    "owner_assigned",
)
KINDS = (ACK, ACTIONABLE, NEXT_REPLY, UPDATE, RESOLUTION, OWNER)
STOP_STATUSES = frozenset({"solved", "closed"})
DEFAULT_PAUSE = frozenset({"pending"})


# --- inputs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Facts:
    """What the policies match on, and what the clocks need to know about the ticket."""

    severity: int = 3
    channel: str = "web"
    tier: str = ""
    product_area_id: int | None = None
    status: str = "new"
    has_assignee: bool = False
    has_sc: bool = False
    has_csm: bool = False
    # The stored calendar named by the assignee's region (Region.shift_calendar), or "".
    owner_calendar: str = ""


@dataclass(frozen=True)
class TargetSpec:
    """One target of the policy that applies to the ticket for ``role``."""

    role: str
    kind: str
    seconds: int
    calendar: BusinessCalendar
    calendar_name: str = ""
    after_hours: BusinessCalendar | None = None
    after_hours_name: str = ""
    pause_statuses: frozenset[str] = DEFAULT_PAUSE
    policy_id: int | None = None
    target_id: int | None = None

    @property
    def key(self) -> str:
        return f"{self.role}:{self.kind}"


@dataclass(frozen=True)
class PolicySpec:
    """A policy: conditions (empty = any) and its targets, all for one ``role``."""

    role: str
    targets: tuple[TargetSpec, ...]
    position: int = 100
    id: int = 0
    name: str = ""
    tiers: frozenset[str] = frozenset()
    severities: frozenset[int] = frozenset()
    channels: frozenset[str] = frozenset()
    product_areas: frozenset[int] = frozenset()

    def matches(self, facts: Facts) -> bool:
        if self.role == SC and not facts.has_sc:
            return False
        if self.role == CSM and not facts.has_csm:
            return False
        return (
            (not self.tiers or facts.tier in self.tiers)
            and (not self.severities or facts.severity in self.severities)
            and (not self.channels or facts.channel in self.channels)
            and (not self.product_areas or facts.product_area_id in self.product_areas)
        )


def match(policies: Sequence[PolicySpec], facts: Facts) -> tuple[TargetSpec, ...]:
    """Per role and target kind, the target of the first policy (by position, then id)
    that matches and has a target of that kind.

    So a specific policy (Sev-1) need only name the targets it tightens: the others come
    from the next matching policy (premium chat/phone, then the default), and a Sev-1
    premium chat ticket gets the Sev-1 acknowledgement and the premium resolution."""
    chosen: dict[str, TargetSpec] = {}
    for p in sorted(policies, key=lambda p: (p.position, p.id)):
        if not p.matches(facts):
            continue
        for t in p.targets:
            chosen.setdefault(t.key, t)
    order = {k: i for i, k in enumerate(KINDS)}
    return tuple(
        sorted(chosen.values(), key=lambda t: (ROLES.index(t.role), order.get(t.kind, 99)))
    )


Matcher = Callable[[Facts], Sequence[TargetSpec]]


@dataclass(frozen=True)
class Event:
    """One timeline entry. ``type``: created, reply, note, status, severity, product_area,
    organization, assigned, policy (the policies changed: re-match).

    ``author`` (reply/note): ``{"customer"}`` or ``{"staff", ...}`` plus ``"assignee"``,
    ``"sales_consultant"``, ``"customer_success_manager"`` when the staff author is the
    ticket's assignee or the organization's SC / success manager.
    ``actionable``: an explicit flag on a public reply; ``None`` = the default rule.
    """

    at: datetime
    type: str
    author: frozenset[str] = frozenset()
    actionable: bool | None = None
    facts: Facts | None = None  # created / re-match events: the facts after the event
    status: str = ""
    assignee: bool | None = None

    @property
    def ts(self) -> int:
        return epoch_of(self.at)


# --- state ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClockState:
    key: str
    role: str
    kind: str
    seconds: int
    calendar: BusinessCalendar = field(compare=False, repr=False)
    calendar_name: str
    pause_statuses: frozenset[str]
    cycle: int
    started_at: int
    running_since: int | None
    consumed: int
    due: int | None
    after_hours: bool = False
    paused_at: int | None = None
    fulfilled_at: int | None = None
    breached_at: int | None = None
    policy_id: int | None = None
    target_id: int | None = None
    # No matching policy has this target any more (a re-match): frozen with its elapsed
    # time, ignored by every event, resumed when a policy with the target applies again.
    suspended: bool = False

    @property
    def running(self) -> bool:
        return self.running_since is not None

    @property
    def done(self) -> bool:
        return self.fulfilled_at is not None

    def elapsed(self, t: int) -> int:
        if self.running_since is None:
            return self.consumed
        return self.consumed + self.calendar.between_ts(
            self.running_since, max(t, self.running_since)
        )


@dataclass(frozen=True)
class TicketState:
    facts: Facts
    replied: frozenset[str] = frozenset()  # roles that have made a public reply
    clocks: Mapping[str, ClockState] = field(default_factory=dict)


@dataclass(frozen=True)
class ClockView:
    key: str
    role: str
    kind: str
    state: str  # active | paused | suspended | fulfilled | breached
    cycle: int
    seconds: int
    calendar: str
    after_hours: bool
    started_at: datetime
    due_at: datetime | None
    elapsed: int
    remaining: int
    paused_at: datetime | None
    fulfilled_at: datetime | None
    breached_at: datetime | None


# --- clock primitives ------------------------------------------------------------------------


def _due(c: ClockState, running_since: int) -> int:
    rem = c.seconds - c.consumed
    if rem <= 0:
        return c.breached_at if c.breached_at is not None else running_since
    return c.calendar.add_ts(running_since, rem)


def _run(c: ClockState, t: int) -> ClockState:
    """Start or resume counting at ``t``."""
    c = replace(c, running_since=t, paused_at=None)
    return replace(c, due=_due(c, t))


def _halt(c: ClockState, t: int) -> ClockState:
    """Stop counting at ``t`` (accounting the consumed time and a breach on the way)."""
    if c.running_since is None:
        return c
    breached_at = c.breached_at
    if breached_at is None and c.due is not None and t >= c.due:
        breached_at = c.due
    return replace(
        c, consumed=c.elapsed(t), running_since=None, breached_at=breached_at, paused_at=None
    )


def _pause(c: ClockState, t: int) -> ClockState:
    return replace(_halt(c, t), paused_at=t)


def _fulfil(c: ClockState, t: int) -> ClockState:
    return replace(_halt(c, t), fulfilled_at=t, paused_at=None)


def _new_clock(spec: TargetSpec, t: int, status: str, cycle: int = 1) -> ClockState:
    cal, name, after = spec.calendar, spec.calendar_name, False
    if spec.after_hours is not None and not spec.calendar.is_open_ts(t):
        cal, name, after = spec.after_hours, spec.after_hours_name, True
    c = ClockState(
        key=spec.key,
        role=spec.role,
        kind=spec.kind,
        seconds=spec.seconds,
        calendar=cal,
        calendar_name=name,
        pause_statuses=spec.pause_statuses,
        cycle=cycle,
        started_at=t,
        running_since=None,
        consumed=0,
        due=None,
        after_hours=after,
        policy_id=spec.policy_id,
        target_id=spec.target_id,
    )
    if status in spec.pause_statuses:
        return replace(c, paused_at=t)
    return _run(c, t)


def fulfils(role: str, author: frozenset[str], after_hours: bool = False) -> bool:
    """Whether a public reply by ``author`` counts for a clock of ``role``.

    * support_engineer: the assignee, or any staff member who is not (only) the
      organization's SC or success manager;
    * sales_consultant / customer_success_manager: that person;
    * a clock running on its after-hours calendar: any staff member (the on-duty engineer).
    """
    if "staff" not in author:
        return False
    if after_hours:
        return True
    if role == SE:
        return "assignee" in author or not ({SC, CSM} & author)
    return role in author


# --- the fold --------------------------------------------------------------------------------


def _start_targets(
    clocks: dict[str, ClockState], specs: Iterable[TargetSpec], facts: Facts, t: int
) -> None:
    for spec in specs:
        if spec.kind == NEXT_REPLY:
            continue  # starts with the customer's next message
        c = _new_clock(spec, t, facts.status)
        if spec.kind == OWNER and facts.has_assignee:
            c = _fulfil(c, t)
        clocks[spec.key] = c


def _retarget(c: ClockState, spec: TargetSpec) -> ClockState:
    """``c`` (halted) on the target ``spec``: its seconds, pause statuses and calendar.

    A clock that started after hours stays on the after-hours calendar while the new target
    has one (that target's); otherwise it moves to the target's calendar."""
    c = replace(
        c,
        seconds=spec.seconds,
        pause_statuses=spec.pause_statuses,
        policy_id=spec.policy_id,
        target_id=spec.target_id,
        suspended=False,
    )
    if c.after_hours and spec.after_hours is not None:
        return replace(c, calendar=spec.after_hours, calendar_name=spec.after_hours_name)
    return replace(c, calendar=spec.calendar, calendar_name=spec.calendar_name, after_hours=False)


def _rematch(state: TicketState, facts: Facts, matcher: Matcher, t: int) -> TicketState:
    """Clocks after a change of the matched facts (or of the policies).

    * a target that applies and has a clock: the clock keeps its elapsed time on the new
      target (seconds, calendar, pause statuses); it runs unless the ticket is stopped or
      in one of the new target's pause statuses (so a stale pause does not survive);
    * a target that applies and has no clock: a clock starts (not on a solved/closed
      ticket: nothing starts counting on a stopped ticket);
    * a clock whose target no longer applies is suspended with its elapsed time, and
      resumed by a later re-match that applies a target of the same role and kind.
    """
    specs = {s.key: s for s in matcher(facts)}
    stopped = facts.status in STOP_STATUSES
    clocks: dict[str, ClockState] = {}
    for key, old in state.clocks.items():
        if key in specs:
            continue
        if old.suspended:
            clocks[key] = old
        else:
            halted = _halt(old, t)
            clocks[key] = replace(halted, paused_at=None if halted.done else t, suspended=True)
    for key, spec in specs.items():
        old = state.clocks.get(key)
        if old is None:
            if not stopped:
                _start_targets(clocks, [spec], facts, t)
            continue
        c = _retarget(_halt(old, t), spec)
        if not c.done and c.breached_at is None and c.consumed >= c.seconds:
            c = replace(c, breached_at=t)  # already over the new target
        if c.done or stopped:
            pass
        elif facts.status in c.pause_statuses:
            c = replace(c, paused_at=old.paused_at if not old.running and old.paused_at else t)
        else:
            c = _run(c, t)
        clocks[key] = c
    return replace(state, facts=facts, clocks=clocks)


def step(state: TicketState | None, event: Event, matcher: Matcher) -> TicketState:
    """The state after ``event``. ``state`` is None before the ``created`` event."""
    t = event.ts
    if event.type == "created":
        facts = event.facts or Facts()
        clocks: dict[str, ClockState] = {}
        _start_targets(clocks, matcher(facts), facts, t)
        return TicketState(facts=facts, clocks=clocks)
    if state is None:
        return TicketState(facts=event.facts or Facts())  # not tracked: nothing to do
    clocks = dict(state.clocks)
    facts = state.facts

    if event.type == "reply":
        if "customer" in event.author:
            _customer_message(state, clocks, matcher, t)
            return replace(state, clocks=clocks)
        if "staff" not in event.author:
            return state
        replied = set(state.replied)
        for key, c in list(clocks.items()):
            if c.suspended or not fulfils(c.role, event.author, c.after_hours):
                continue
            if c.kind == ACTIONABLE:
                actionable = event.actionable
                if actionable is None:
                    has_ack = f"{c.role}:{ACK}" in clocks
                    actionable = not (has_ack and c.role not in state.replied)
                if actionable and not c.done:
                    clocks[key] = _fulfil(c, t)
            elif c.kind in (ACK, NEXT_REPLY):
                if not c.done:
                    clocks[key] = _fulfil(c, t)
            elif c.kind == UPDATE:
                if facts.status in STOP_STATUSES:
                    continue
                clocks[key] = _new_clock(_spec_now(c, facts, matcher), t, facts.status, c.cycle + 1)
        for role in ROLES:
            if fulfils(role, event.author):
                replied.add(role)
        return replace(state, clocks=clocks, replied=frozenset(replied))

    if event.type == "status":
        new, old = event.status, facts.status
        facts = replace(facts, status=new)
        for key, c in list(clocks.items()):
            if c.suspended:
                continue
            if new in STOP_STATUSES:
                if not c.done:
                    clocks[key] = _fulfil(c, t)
                continue
            if old in STOP_STATUSES:  # reopened
                if c.kind == RESOLUTION:
                    c = replace(c, fulfilled_at=None)
                    clocks[key] = replace(c, paused_at=t) if new in c.pause_statuses else _run(c, t)
                elif c.kind == UPDATE:
                    spec = _spec_now(c, facts, matcher)
                    clocks[key] = _new_clock(spec, t, new, cycle=c.cycle + 1)
                continue
            if c.done:
                continue
            if new in c.pause_statuses and c.running:
                clocks[key] = _pause(c, t)
            elif new not in c.pause_statuses and not c.running:
                clocks[key] = _run(c, t)
        return replace(state, facts=facts, clocks=clocks)

    if event.type == "assigned":
        has = bool(event.assignee)
        old_owner_cal = facts.owner_calendar
        facts = replace(facts, has_assignee=has)
        if event.facts is not None:
            facts = replace(facts, owner_calendar=event.facts.owner_calendar)
        for key, c in list(clocks.items()):
            if c.kind != OWNER or c.suspended:
                continue
            if has and not c.done:
                clocks[key] = _fulfil(c, t)
            elif not has and c.done and facts.status not in STOP_STATUSES:
                spec = _spec_now(c, facts, matcher)
                clocks[key] = _new_clock(spec, t, facts.status, cycle=c.cycle + 1)
        if facts.owner_calendar != old_owner_cal:  # the owner's calendar moves clocks
            return _rematch(replace(state, clocks=clocks), facts, matcher, t)
        return replace(state, facts=facts, clocks=clocks)

    if event.type == "policy":  # the policies changed: match the same facts again
        return _rematch(replace(state, clocks=clocks), facts, matcher, t)

    if event.type in ("severity", "product_area", "organization"):
        new_facts = replace(
            event.facts or facts, status=facts.status, has_assignee=facts.has_assignee
        )
        return _rematch(replace(state, clocks=clocks), new_facts, matcher, t)

    return state  # notes and anything else change no clock


def _customer_message(
    state: TicketState, clocks: dict[str, ClockState], matcher: Matcher, t: int
) -> None:
    """A customer's public message (not the opening one) starts a next-reply cycle."""
    if state.facts.status in STOP_STATUSES - {"solved"}:
        return
    for spec in matcher(state.facts):
        if spec.kind != NEXT_REPLY:
            continue
        c = clocks.get(spec.key)
        if c is not None and not c.done:
            continue  # a cycle is already running: the earliest unanswered message counts
        # The message reopens a pending/solved ticket (a status event follows): run it.
        status = "open" if state.facts.status in ("pending", "solved") else state.facts.status
        clocks[spec.key] = _new_clock(spec, t, status, cycle=(c.cycle + 1) if c else 1)


def _spec_of(c: ClockState) -> TargetSpec:
    return TargetSpec(
        role=c.role,
        kind=c.kind,
        seconds=c.seconds,
        calendar=c.calendar,
        calendar_name=c.calendar_name,
        pause_statuses=c.pause_statuses,
        policy_id=c.policy_id,
        target_id=c.target_id,
    )


def _spec_now(c: ClockState, facts: Facts, matcher: Matcher) -> TargetSpec:
    """The target a new cycle of ``c`` starts on: the one that applies now (with its
    after-hours calendar, so every cycle chooses business or after-hours time again), or
    the clock's own settings when no policy has it any more."""
    for spec in matcher(facts):
        if spec.key == c.key:
            return spec
    return _spec_of(c)


def fold(events: Iterable[Event], matcher: Matcher) -> TicketState | None:
    state: TicketState | None = None
    for ev in sorted(events, key=lambda e: e.ts):  # stable: same-second events keep order
        state = step(state, ev, matcher)
    return state


# --- reading ---------------------------------------------------------------------------------


def _dt(ts: int | None) -> datetime | None:
    return None if ts is None else utc_of(ts)


def view_clock(c: ClockState, now: datetime) -> ClockView:
    t = epoch_of(now)
    elapsed = c.elapsed(t)
    breached_at = c.breached_at
    if breached_at is None and c.running and c.due is not None and t >= c.due:
        breached_at = c.due
    if breached_at is not None:
        state = "breached"
    elif c.suspended and not c.done:
        state = "suspended"
    elif c.done:
        state = "fulfilled"
    elif c.running:
        state = "active"
    else:
        state = "paused"
    return ClockView(
        key=c.key,
        role=c.role,
        kind=c.kind,
        state=state,
        cycle=c.cycle,
        seconds=c.seconds,
        calendar=c.calendar_name,
        after_hours=c.after_hours,
        started_at=utc_of(c.started_at),
        due_at=_dt(c.due) if (c.running or c.done or breached_at is not None) else None,
        elapsed=elapsed,
        remaining=c.seconds - elapsed,
        paused_at=_dt(c.paused_at),
        fulfilled_at=_dt(c.fulfilled_at),
        breached_at=_dt(breached_at),
    )


def view(state: TicketState | None, now: datetime) -> list[ClockView]:
    if state is None:
        return []
    order = {k: i for i, k in enumerate(KINDS)}
    clocks = sorted(
        state.clocks.values(), key=lambda c: (ROLES.index(c.role), order.get(c.kind, 99))
    )
    return [view_clock(c, now) for c in clocks]


def compute(events: Iterable[Event], matcher: Matcher, now: datetime) -> list[ClockView]:
    """Every clock of a ticket at ``now``, from its timeline and its policies."""
    return view(fold(events, matcher), now)


def next_deadline(state: TicketState | None) -> datetime | None:
    """The earliest due time of a running clock (also when already passed)."""
    if state is None:
        return None
    dues = [c.due for c in state.clocks.values() if c.running and c.due is not None]
    return datetime.fromtimestamp(min(dues), UTC) if dues else None


def upcoming_deadline(state: TicketState | None) -> datetime | None:
    """The earliest due time of a running clock that has not breached."""
    if state is None:
        return None
    dues = [
        c.due
        for c in state.clocks.values()
        if c.running and c.due is not None and c.breached_at is None
    ]
    return datetime.fromtimestamp(min(dues), UTC) if dues else None
