"""Seed the demo: everything is created through the services, so the audit timeline,
triage, assignment and SC followers are the real ones.

* Deterministic: every random choice comes from ``random.Random`` seeded per phase/ticket.
* Idempotent and resumable: each object is looked up by its natural key (email, name,
  ``external_id="demo-0001"``...) first, so a second run adds nothing and an interrupted
  run continues where it stopped. Each ticket is written in its own transaction, so an
  interruption never leaves half a conversation behind.
* Tickets are spread over the past ~60 days: the services stamp ``now()``, then, inside
  the same transaction, the rows written by each step (ticket, messages, audit events,
  outbox rows) are moved back to that step's planned time, so the timeline stays coherent.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.contrib.auth.hashers import make_password
from django.db import transaction

from caseline.accounts import services as accounts
from caseline.accounts.models import (
    Contact,
    ContactEmail,
    Organization,
    ProductArea,
    Region,
    SMERosterEntry,
    Team,
    User,
)
from caseline.accounts.rolesync import ensure_roles
from caseline.audit.models import AuditEvent
from caseline.timesource import now

from . import content as C

EXTERNAL_PREFIX = "demo-"
DEFAULT_TICKETS = 300
DEFAULT_SEED = 20260105
HISTORY_DAYS = 60


class DemoRefused(Exception):
    """The database holds data that is not demo data; seeding would mix the two."""


@dataclass
class SeedReport:
    created: dict[str, int] = field(default_factory=dict)
    tickets_total: int = 0
    seconds: float = 0.0

    def add(self, what: str, n: int = 1) -> None:
        if n:
            self.created[what] = self.created.get(what, 0) + n

    @property
    def anything_created(self) -> bool:
        return any(self.created.values())


def staff_email(local: str) -> str:
    return f"{local}@{C.DEMO_DOMAIN}"


def is_demo_database() -> bool | None:
    """True: demo data present; False: other data present; None: empty database."""
    if User.objects.filter(email=C.ADMIN_EMAIL).exists():
        return True
    demo_orgs = {o[0] for o in C.ORGANIZATIONS}
    if Organization.objects.exclude(name__in=demo_orgs).exists():
        return False
    if Organization.objects.exists() or Contact.objects.exists():
        return True
    from caseline.tickets.models import Ticket

    if Ticket.objects.exists():
        return False
    return None


# --- phases -----------------------------------------------------------------------------


def _regions(report: SeedReport) -> dict[str, Region]:
    # Regions are configuration rows without a service of their own (admin-edited).
    out = {}
    for code, name, tz, calendar, order in C.REGIONS:
        region, created = Region.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "time_zone": tz,
                "shift_calendar": calendar,
                "handoff_order": order,
            },
        )
        report.add("regions", int(created))
        out[code] = region
    return out


def _staff(report: SeedReport, regions: dict[str, Region]) -> dict[str, User]:
    users: dict[str, User] = {}
    existing = {u.email: u for u in User.objects.filter(email__endswith="@" + C.DEMO_DOMAIN)}
    admin = existing.get(C.ADMIN_EMAIL)
    new_ids: list[int] = []
    for local, name, region, roles, _skills in C.STAFF:
        email = staff_email(local)
        user = existing.get(email)
        if user is None:
            user = accounts.create_staff(
                actor=admin,
                email=email,
                display_name=name,
                roles=roles,
                region=regions[region],
                time_zone=C.REGION_TZ[region],
            )
            new_ids.append(user.pk)
            report.add("staff")
        if local == "admin":
            admin = user
        users[local] = user
    if new_ids:
        # One PBKDF2 run for every demo login (hashing 25 times would take ~10 s).
        User.objects.filter(pk__in=new_ids).update(password=make_password(C.DEMO_PASSWORD))
    # The demo administrator may use the Django admin site for everything.
    User.objects.filter(pk=users["admin"].pk).update(is_superuser=True, is_staff=True)
    return users


def _teams(report: SeedReport, regions, users) -> dict[str, Team]:
    teams = {t.name: t for t in Team.objects.all()}
    admin = users["admin"]
    for name, region, lead, members, strategy in C.TEAMS:
        if name in teams:
            continue
        teams[name] = accounts.create_team(
            actor=admin,
            name=name,
            region=regions[region],
            lead=users[lead],
            members=[users[m] for m in members],
            email=f"{name.lower().replace(' ', '-')}@{C.DEMO_DOMAIN}",
            assignment_strategy=strategy,
        )
        report.add("teams")
    return teams


def _product_areas(report: SeedReport, teams, users) -> dict[str, ProductArea]:
    areas = {a.name: a for a in ProductArea.objects.all()}
    admin = users["admin"]
    for name, keywords, owner in C.PRODUCT_AREAS:
        if name not in areas:
            areas[name] = accounts.create_product_area(
                actor=admin, name=name, keywords=keywords, owning_team=teams[owner]
            )
            report.add("product_areas")
        area = areas[name]
        if not SMERosterEntry.objects.filter(product_area=area).exists():
            accounts.set_roster(area, [users[u].pk for u in C.SME_ROSTERS[name]], actor=admin)
            report.add("sme_rosters")
    for local, _name, _region, _roles, skills in C.STAFF:
        if not skills:
            continue
        user = users[local]
        have = set(user.skills.values_list("name", flat=True))
        if have != set(skills):
            accounts.update_staff(user, actor=admin, skills=[areas[s].pk for s in skills])
            report.add("skills")
    return areas


def _organizations(report: SeedReport, regions, users) -> dict[str, Organization]:
    orgs = {o.name: o for o in Organization.objects.all()}
    admin = users["admin"]
    for name, domains, tier, entitlement, region, stage, sc, csm, _contacts in C.ORGANIZATIONS:
        if name in orgs:
            continue
        orgs[name] = accounts.create_organization(
            actor=admin,
            name=name,
            domains=domains,
            tier=tier,
            support_entitlement=entitlement,
            region=regions[region],
            lifecycle_stage=stage,
            sales_consultant=users[sc],
            success_manager=users[csm],
            notes=f"{tier.title()} customer in {region}; {stage}.",
        )
        report.add("organizations")
    return orgs


def _contacts(report: SeedReport, orgs, users) -> dict[str, list[Contact]]:
    admin = users["admin"]
    known = set(ContactEmail.objects.values_list("email", flat=True))
    by_org: dict[str, list[Contact]] = {}
    for name, domains, _t, _e, region, *_rest, contacts in C.ORGANIZATIONS:
        org = orgs[name]
        for person, local, title, phone in contacts:
            email = f"{local}@{domains[0]}"
            if email in known:
                continue
            accounts.create_contact(
                actor=admin,
                name=person,
                emails=[email],
                organization=org,
                phone=phone,
                title=title,
                time_zone=C.REGION_TZ[region],
            )
            report.add("contacts")
        by_org[name] = list(
            Contact.objects.filter(organization=org, merged_into__isnull=True).order_by("id")
        )
    return by_org


def portal_customer() -> tuple[str, str]:
    """(email, name) of the demo's customer portal login: the first contact of the
    first demo organization (printed by `caseline demo`)."""
    _name, domains, *_rest, contacts = C.ORGANIZATIONS[0]
    person, local, _title, _phone = contacts[0]
    return f"{local}@{domains[0]}", person


def _portal_login(report: SeedReport) -> None:
    """A portal (customer) login with the demo password; other contacts sign in by link."""
    from caseline.accounts import portal

    email, _person = portal_customer()
    row = ContactEmail.objects.filter(email=email).select_related("contact").first()
    if row is None or User.objects.filter(contact=row.contact).exists():
        return
    user = portal.ensure_portal_user(row.contact, email=email)
    User.objects.filter(pk=user.pk).update(password=make_password(C.DEMO_PASSWORD))
    report.add("portal logins")


def _triage_rules(report: SeedReport, teams, areas, users) -> None:
    from caseline.tickets import triage
    from caseline.tickets.models import TriageRule

    existing = set(TriageRule.objects.values_list("name", flat=True))
    for name, position, conditions, actions in C.TRIAGE_RULES:
        if name in existing:
            continue
        fields: dict[str, Any] = {"name": name, "position": position, **conditions}
        for key, value in actions.items():
            if key == "set_product_area":
                value = areas[value]
            elif key == "set_team":
                value = teams[value]
            fields[key] = value
        triage.create_rule(users["admin"], **fields)
        report.add("triage_rules")


def _custom_fields(report: SeedReport, users) -> None:
    from caseline.tickets import services as tickets
    from caseline.tickets.models import CustomField

    existing = set(CustomField.objects.values_list("key", flat=True))
    for key, label, type_, choices in C.CUSTOM_FIELDS:
        if key in existing:
            continue
        tickets.create_custom_field(
            actor=users["admin"], key=key, label=label, type=type_, choices=choices
        )
        report.add("custom_fields")


# --- tickets ----------------------------------------------------------------------------


def _weighted(rng: random.Random, pairs):
    values = [v for v, _ in pairs]
    weights = [w for _, w in pairs]
    return rng.choices(values, weights=weights, k=1)[0]


def _first_name(name: str) -> str:
    parts = [p for p in name.split() if not p.endswith(".")]
    return parts[0] if parts else name


STATUSES = [s for s, _ in C.STATUS_WEIGHTS]
ORG_WEIGHTS = {"enterprise": 5, "premium": 3, "standard": 2, "basic": 1}


@dataclass
class Plan:
    """One ticket's story: who, what, and the offsets (seconds after creation) of its steps."""

    key: str
    org: str
    requester: Contact
    area: str
    script: dict
    status: str
    channel: str
    created_at: Any
    explicit_severity: int | None
    explicit_area: bool
    details: dict[str, str]
    custom: dict[str, Any]


def _plan(i: int, seed: int, ctx: dict) -> Plan:
    rng = random.Random(f"{seed}:{i}")
    # The first tickets cover every status and severity, so even a small demo shows all.
    status = STATUSES[i % len(STATUSES)] if i < 12 else _weighted(rng, C.STATUS_WEIGHTS)
    org_rows = ctx["org_rows"]
    if status in ("solved", "closed"):
        candidates = org_rows
    else:
        candidates = [o for o in org_rows if o[5] != "churned"]
    org_row = rng.choices(candidates, weights=[ORG_WEIGHTS[o[2]] for o in candidates])[0]
    org = org_row[0]
    area = rng.choice([a[0] for a in C.PRODUCT_AREAS])
    scripts = C.SCRIPTS[area]
    if i < 8:
        wanted = 1 + (i % 4)
        pool = [(a, s) for a in C.SCRIPTS for s in C.SCRIPTS[a] if s["severity"] == wanted]
        area, script = pool[rng.randrange(len(pool))]
    else:
        script = rng.choice(scripts)
    contacts = ctx["contacts"][org]
    if area == "Billing":
        finance = [
            c
            for c in contacts
            if any(w in c.title.lower() for w in ("finance", "account", "procure", "controller"))
        ]
        contacts = finance or contacts
    requester = rng.choice(contacts)
    channel = _weighted(rng, C.CHANNEL_WEIGHTS)
    # Age: open work is recent, closed work older; churned customers only long ago.
    if status == "new":
        age_h = rng.uniform(0.3, 30)
    elif status in ("open", "pending", "on_hold"):
        age_h = rng.uniform(4, 24 * 21)
    elif status == "solved":
        age_h = rng.uniform(30, 24 * 30)
    else:
        age_h = rng.uniform(24 * 8, 24 * HISTORY_DAYS)
    if org_row[5] == "churned":
        age_h = max(age_h, rng.uniform(24 * 42, 24 * HISTORY_DAYS))
    created_at = ctx["now"] - timedelta(hours=age_h)
    details = {k: rng.choice(v) for k, v in C.DETAILS.items()}
    severity = script["severity"]
    if severity == 1:
        explicit_severity = None  # the "data loss or outage" rule sets Sev-1
    elif rng.random() < 0.7:
        explicit_severity = severity
    else:
        explicit_severity = None  # default, or the phone rule
    custom: dict[str, Any] = {}
    if rng.random() < 0.75:
        custom["environment"] = _weighted(rng, [("prod", 6), ("staging", 2), ("dev", 1)])
        custom["version"] = details["version"]
    if rng.random() < 0.4:
        custom["affected_users"] = rng.choice([1, 3, 12, 45, 120, 800])
    if org_row[5] == "onboarding" and rng.random() < 0.6:
        custom["go_live"] = (created_at + timedelta(days=rng.randint(10, 60))).date()
    return Plan(
        key=f"{EXTERNAL_PREFIX}{i + 1:04d}",
        org=org,
        requester=requester,
        area=area,
        script=script,
        status=status,
        channel=channel,
        created_at=created_at,
        explicit_severity=explicit_severity,
        explicit_area=rng.random() < 0.6,
        details=details,
        custom=custom,
    )


def _fill(template: str, values: dict[str, str]) -> str:
    return template.format(**values)


def _max_id(model) -> int:
    return model.objects.order_by("-id").values_list("id", flat=True).first() or 0


class _Clock:
    """Collects (step time, id watermarks) so rows can be moved to their planned times."""

    def __init__(self, models):
        self.models = models
        self.marks: list[tuple[Any, dict]] = []
        self.low = {m: _max_id(m) for m in models}

    def step(self, at) -> None:
        self.marks.append((at, {m: _max_id(m) for m in self.models}))

    def apply(self, time_fields: dict) -> None:
        low = dict(self.low)
        for at, high in self.marks:
            for model in self.models:
                if high[model] > low[model]:
                    values = {f: at for f in time_fields[model]}
                    model.objects.filter(id__gt=low[model], id__lte=high[model]).update(**values)
            low = high


def _ticket(plan: Plan, ctx: dict, rng: random.Random) -> Any:
    from caseline.notify.models import OutboxMessage
    from caseline.tickets import services as tickets
    from caseline.tickets.models import Message, Ticket

    area = ctx["areas"][plan.area]
    roster = ctx["rosters"][plan.area]
    sme = roster[0] if rng.random() < 0.7 else roster[min(1, len(roster) - 1)]
    values = dict(plan.details)
    values.update(first=_first_name(plan.requester.name), org=plan.org, sme=_first_name(str(sme)))
    script = plan.script
    subject = _fill(script["subject"], values)
    # Step times (seconds after creation), squeezed to end before now.
    t = [0.0]
    for lo, hi in [(600, 5400), (900, 10800), (3600, 8 * 3600), (7200, 24 * 3600)]:
        t.append(t[-1] + rng.uniform(lo, hi))
    t.append(t[-1] + rng.uniform(3 * 86400, 5 * 86400))  # closed
    span = (ctx["now"] - timedelta(minutes=2) - plan.created_at).total_seconds()
    if t[-1] > span:
        t = [x * span / t[-1] for x in t]
    at = [plan.created_at + timedelta(seconds=x) for x in t]

    models = [Ticket, Message, AuditEvent, OutboxMessage]
    clock = _Clock(models)
    with transaction.atomic():
        kwargs: dict[str, Any] = dict(
            subject=subject,
            body_text=_fill(script["question"], {**values, "agent": ""}),
            requester=plan.requester,
            channel=plan.channel,
            external_id=plan.key,
            tags=script["tags"],
            custom_fields=plan.custom,
        )
        if plan.explicit_severity is not None:
            kwargs["severity"] = plan.explicit_severity
        if plan.explicit_area:
            kwargs["product_area"] = area
        actor = None
        if plan.channel in ("phone", "chat"):
            actor = rng.choice(ctx["agents_by_area"][plan.area])
        ticket = tickets.create_ticket(actor=actor, **kwargs)
        clock.step(at[0])

        ticket.refresh_from_db()
        reply_channel = "email" if plan.channel in ("email", "phone") else "web"
        agent = ticket.assignee
        if agent is None:
            agent = rng.choice(ctx["agents_by_area"][plan.area])
        values["agent"] = _first_name(str(agent))
        if plan.status == "new":
            tickets.add_message(
                ticket,
                author_contact=plan.requester,
                kind="public",
                body_text=_fill(rng.choice(C.NUDGES), values),
                channel=plan.channel if plan.channel in ("email", "web") else "web",
            )
            clock.step(at[1])
        else:
            changes: dict[str, Any] = {}
            if ticket.assignee_id is None:
                changes["assignee"] = agent
                if ticket.team_id is None and area.owning_team_id:
                    changes["team"] = area.owning_team
            if ticket.product_area_id is None:
                changes["product_area"] = area
            if changes:
                tickets.update_ticket(ticket, actor=agent, **changes)
            tickets.add_message(
                ticket,
                actor=agent,
                kind="public",
                body_text=_fill(rng.choice(C.ACKS), values),
                channel=reply_channel,
            )
            _status(tickets, ticket, "open", agent)
            clock.step(at[1])
            tickets.add_message(
                ticket, actor=sme, kind="internal", body_text=_fill(script["note"], values)
            )
            clock.step(at[2])
            if plan.status == "open":
                if rng.random() < 0.5:
                    tickets.add_message(
                        ticket,
                        author_contact=plan.requester,
                        kind="public",
                        body_text=_fill(rng.choice(C.NUDGES), values),
                        channel=reply_channel,
                    )
                    clock.step(at[3])
            elif plan.status == "on_hold":
                tickets.add_message(
                    ticket,
                    actor=agent,
                    kind="internal",
                    body_text=_fill(rng.choice(C.ON_HOLD_NOTES), values),
                )
                _status(tickets, ticket, "on_hold", agent)
                clock.step(at[3])
            else:
                tickets.add_message(
                    ticket,
                    actor=agent,
                    kind="public",
                    body_text=_fill(script["answer"], values),
                    channel=reply_channel,
                )
                _status(tickets, ticket, "pending", agent)
                clock.step(at[3])
                if plan.status in ("solved", "closed"):
                    tickets.add_message(
                        ticket,
                        author_contact=plan.requester,
                        kind="public",
                        body_text=_fill(rng.choice(C.THANKS), values),
                        channel=reply_channel,
                    )
                    _status(tickets, ticket, "solved", agent)
                    clock.step(at[4])
                if plan.status == "closed":
                    _status(tickets, ticket, "closed", None)
                    clock.step(at[5])
        clock.apply(
            {
                Ticket: ["created_at", "updated_at"],
                Message: ["created_at"],
                AuditEvent: ["at"],
                OutboxMessage: ["created_at", "next_attempt_at"],
            }
        )
        # The ticket row itself: born at the first step, last touched at the last one.
        ticket.refresh_from_db()
        last = clock.marks[-1][0]
        fix: dict[str, Any] = {"created_at": at[0], "updated_at": last}
        if ticket.solved_at is not None:
            fix["solved_at"] = at[4] if plan.status in ("solved", "closed") else last
        if ticket.closed_at is not None:
            fix["closed_at"] = last
        Ticket.objects.filter(pk=ticket.pk).update(**fix)
        # Notifications of the past were delivered back then; don't send them again now.
        OutboxMessage.objects.filter(id__gt=clock.low[OutboxMessage]).update(
            status=OutboxMessage.Status.SENT, sent_at=last
        )
    return ticket


def _status(tickets, ticket, status: str, actor) -> None:
    ticket.refresh_from_db(fields=["status"])
    if ticket.status != status:
        tickets.update_ticket(ticket, actor=actor, status=status)


def _tickets(report: SeedReport, n: int, seed: int, ctx: dict, progress: Callable) -> None:
    from caseline.tickets.models import Ticket

    done = set(
        Ticket.objects.filter(external_id__startswith=EXTERNAL_PREFIX).values_list(
            "external_id", flat=True
        )
    )
    todo = [i for i in range(n) if f"{EXTERNAL_PREFIX}{i + 1:04d}" not in done]
    if not todo:
        progress(f"tickets: all {n} present")
        return
    progress(f"tickets: {len(done)} present, creating {len(todo)}")
    step = max(1, min(50, n // 10))
    for count, i in enumerate(todo, start=1):
        plan = _plan(i, seed, ctx)
        _ticket(plan, ctx, random.Random(f"{seed}:{i}:story"))
        report.add("tickets")
        if count % step == 0 or count == len(todo):
            progress(f"tickets: {len(done) + count}/{n}")


def _mailboxes(report: SeedReport, teams: dict[str, Team]) -> None:
    """The demo's support address, fed by `caseline smtpd` (the demo runs it on port 2525),
    and a default acknowledgement template."""
    from caseline.mail.models import AckTemplate, Mailbox
    from caseline.mail.services import create_mailbox

    for name, address, team in C.MAILBOXES:
        if not Mailbox.objects.filter(address=address).exists():
            create_mailbox(name=name, address=address, kind="smtp", team=teams[team].pk)
            report.add("mailboxes")
    if not AckTemplate.objects.filter(team__isnull=True).exists():
        AckTemplate.objects.create(team=None)
        report.add("acknowledgement templates")


# --- entry point ------------------------------------------------------------------------


def seed(
    *,
    tickets: int = DEFAULT_TICKETS,
    seed: int = DEFAULT_SEED,
    progress: Callable[[str], None] | None = None,
) -> SeedReport:
    """Create the demo (or whatever of it is missing). Raises DemoRefused when the
    database holds other data."""
    say = progress or (lambda _msg: None)
    started = time.monotonic()
    report = SeedReport()
    if is_demo_database() is False:
        raise DemoRefused(
            "the database already holds data that is not Caseline demo data; "
            "not seeding (use a fresh database, e.g. `caseline demo --reset` on SQLite)"
        )
    ensure_roles()
    say("roles and regions")
    regions = _regions(report)
    say("staff")
    users = _staff(report, regions)
    say("teams")
    teams = _teams(report, regions, users)
    say("product areas and SME rosters")
    areas = _product_areas(report, teams, users)
    say("organizations")
    orgs = _organizations(report, regions, users)
    say("contacts")
    contacts = _contacts(report, orgs, users)
    _portal_login(report)
    say("triage rules and custom fields")
    _triage_rules(report, teams, areas, users)
    _custom_fields(report, users)
    say("on-call rotas")
    from caseline.oncall.demo import seed_demo_rotas

    report.add("oncall schedules", seed_demo_rotas())

    say("mailboxes")
    _mailboxes(report, teams)

    rosters = {name: [users[u] for u in C.SME_ROSTERS[name]] for name, _k, _t in C.PRODUCT_AREAS}
    agents_by_area: dict[str, list[User]] = {}
    for local, _n, _r, _roles, skills in C.STAFF:
        for s in skills:
            agents_by_area.setdefault(s, []).append(users[local])
    ctx = {
        "now": now(),
        "users": users,
        "areas": areas,
        "rosters": rosters,
        "agents_by_area": agents_by_area,
        "org_rows": C.ORGANIZATIONS,
        "contacts": {name: contacts[name] for name in contacts},
    }
    _tickets(report, tickets, seed, ctx, say)
    say("macros, saved views, an escalation")
    from caseline.demo.extras import seed_extras

    seed_extras(report, users)
    from caseline.tickets.models import Ticket

    report.tickets_total = Ticket.objects.filter(external_id__startswith=EXTERNAL_PREFIX).count()
    report.seconds = time.monotonic() - started
    return report
