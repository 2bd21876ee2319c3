"""The demo: the seeded data has the promised shape, seeding is idempotent and resumable,
and `caseline demo` runs server + worker + clock as one process group that stops cleanly."""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import smtplib
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from datetime import timedelta
from email.message import EmailMessage

import pytest

from tests.conftest import free_port


def _seed(n: int):
    from caseline.demo.seed import seed

    lines: list[str] = []
    report = seed(tickets=n, progress=lines.append)
    return report, lines


def _counts():
    from caseline.accounts.models import Contact, Organization, User
    from caseline.audit.models import AuditEvent
    from caseline.tickets.models import Message, Ticket

    return {
        "users": User.objects.count(),
        "organizations": Organization.objects.count(),
        "contacts": Contact.objects.count(),
        "tickets": Ticket.objects.count(),
        "messages": Message.objects.count(),
        "audit": AuditEvent.objects.count(),
    }


@pytest.mark.django_db
def test_seeded_demo_has_the_promised_shape():
    from django.contrib.auth import authenticate
    from django.contrib.auth.models import Group

    from caseline.accounts.models import (
        Contact,
        Organization,
        ProductArea,
        Region,
        SMERosterEntry,
        Team,
        User,
    )
    from caseline.accounts.roles import ROLES
    from caseline.audit.models import AuditEvent
    from caseline.demo import content as C
    from caseline.demo.detection import REPORTS
    from caseline.tickets.models import CustomField, Message, Severity, Ticket, TriageRule
    from caseline.tickets.states import Status
    from caseline.timesource import now

    report, lines = _seed(30)
    # the 30 asked for, plus the multi-customer detection demo's similar reports
    assert report.tickets_total == 30 + len(REPORTS)
    assert any("tickets: 30/30" in line for line in lines), lines  # progress is reported

    # Regions with their shift calendars and time zones.
    regions = {r.code: r for r in Region.objects.all()}
    assert set(regions) == {"AMER", "EMEA", "APAC"}
    assert regions["EMEA"].time_zone == "Europe/Berlin"
    assert regions["AMER"].shift_calendar == "amer-business"

    # Every role has a member, and staff sit in every region.
    for role in ROLES:
        assert Group.objects.get(name=role).user_set.exists(), f"nobody holds {role}"
    staff = User.objects.filter(kind=User.Kind.STAFF)
    assert {u.region.code for u in staff if u.region} == {"AMER", "EMEA", "APAC"}
    ses = staff.filter(groups__name="support_engineer").distinct()
    assert ses.count() >= 8 and all(u.skills.exists() for u in ses)

    # Teams with leads; product areas with owning team, keywords, roster of 2-3 in order.
    assert Team.objects.count() == len(C.TEAMS)
    assert all(t.lead_id and t.members.filter(pk=t.lead_id).exists() for t in Team.objects.all())
    areas = ProductArea.objects.all()
    assert {a.name for a in areas} == {
        "Replication",
        "Backup & Restore",
        "Billing",
        "Identity & SSO",
        "Networking",
        "Reporting",
    }
    for area in areas:
        assert area.owning_team_id and area.keywords
        positions = list(
            SMERosterEntry.objects.filter(product_area=area).values_list("position", flat=True)
        )
        assert 2 <= len(positions) <= 3 and positions == list(range(1, len(positions) + 1))

    # Organizations of several tiers, regions and stages, each with SC and CSM and domains;
    # contacts with addresses at their organization's domains.
    orgs = Organization.objects.all()
    assert orgs.count() == 8
    assert len({o.tier for o in orgs}) == 4
    assert len({o.lifecycle_stage for o in orgs}) == 4
    assert len({o.region_id for o in orgs}) == 3
    for org in orgs:
        assert org.sales_consultant.groups.filter(name="sales_consultant").exists()
        assert org.success_manager.groups.filter(name="customer_success_manager").exists()
        domains = set(org.domains.values_list("domain", flat=True))
        assert domains
        for contact in org.contacts.all():
            assert contact.primary_email.rsplit("@", 1)[1] in domains
    assert 35 <= Contact.objects.count() <= 45

    assert TriageRule.objects.count() == len(C.TRIAGE_RULES)
    assert {f.type for f in CustomField.objects.all()} == {"text", "number", "choice", "date"}

    # Tickets: every status and severity, conversations, audit, SC followers, history.
    # The seeded conversations (the detection demo's three fresh one-message reports aside).
    tickets = list(
        Ticket.objects.select_related("organization").exclude(
            external_id__startswith="demo-detect-"
        )
    )
    assert {t.status for t in tickets} == set(Status.values)
    assert {t.severity for t in tickets} == set(Severity.values)
    current = now()
    for t in tickets:
        messages = list(Message.objects.filter(ticket=t).order_by("id"))
        assert len(messages) >= 2, t
        assert messages[0].author_contact_id == t.requester_id
        times = [m.created_at for m in messages]
        assert times == sorted(times) and times[0] == t.created_at
        # The ticket's own events (an escalation opened on it today is on its timeline too,
        # without changing the ticket).
        events = list(
            AuditEvent.objects.filter(ticket_id=t.pk, subject_type="ticket").order_by("id")
        )
        assert events[0].type == "ticket.created"
        assert [e.at for e in events] == sorted(e.at for e in events)
        assert events[0].at == t.created_at and events[-1].at <= t.updated_at
        assert current - timedelta(days=61) < t.created_at < current
        org = t.organization
        assert org.sales_consultant_id in set(t.followers.values_list("id", flat=True))
        if t.status in (Status.SOLVED, Status.CLOSED):
            assert t.assignee_id and t.solved_at and t.created_at < t.solved_at <= t.updated_at
        if t.status != Status.NEW:
            assert any(m.kind == Message.Kind.INTERNAL for m in messages)
            assert any(m.author_user_id for m in messages if m.kind == Message.Kind.PUBLIC)
    # The workspace and escalation extras (caseline/demo/extras.py).
    from caseline.escalations.models import Commitment, Escalation, Stakeholder
    from caseline.tickets.models import Macro, SavedView

    assert Macro.objects.filter(shared=True).count() >= 2
    assert SavedView.objects.filter(shared=True).exists()
    esc = Escalation.objects.get(status="active")  # the live one (others are history)
    assert esc.tickets.exists()
    assert Stakeholder.objects.filter(escalation=esc).count() >= 2
    assert Commitment.objects.filter(escalation=esc).exists()
    # The escalation, incident and learning parts each have demo data.
    from caseline.escalations.models import Call, ExecutiveSummary, Handoff
    from caseline.incidents.models import Broadcast, DetectionProposal, Incident
    from caseline.learning.models import PostMortem

    assert Call.objects.filter(escalation=esc).exists()
    assert ExecutiveSummary.objects.filter(escalation=esc, sent_at__isnull=False).exists()
    assert Handoff.objects.filter(acknowledged_at__isnull=False).exists()
    live = Incident.objects.get(status__in=["investigating", "identified", "monitoring"])
    assert live.tickets.values("organization").distinct().count() >= 3
    assert Broadcast.objects.filter(incident=live).exists()
    assert DetectionProposal.objects.exists()
    assert PostMortem.objects.filter(status="published").exists()
    # Spread over weeks, not all at once.
    span = max(t.created_at for t in tickets) - min(t.created_at for t in tickets)
    assert span > timedelta(days=14)
    assert Counter(t.channel for t in tickets).most_common(1)[0][1] < len(tickets)

    # The printed logins work.
    admin = authenticate(username=C.ADMIN_EMAIL, password=C.DEMO_PASSWORD)
    assert admin is not None and admin.is_superuser
    assert admin.groups.filter(name="admin").exists()
    for local, _what in C.NAMED_LOGINS:
        email = f"{local}@{C.DEMO_DOMAIN}"
        assert authenticate(username=email, password=C.DEMO_PASSWORD) is not None


@pytest.mark.django_db
def test_seeding_is_idempotent_resumable_and_deterministic():
    from caseline.tickets.models import Ticket

    first, _ = _seed(8)
    assert first.anything_created
    before = _counts()
    seeded = Ticket.objects.exclude(external_id__startswith="demo-detect-")  # + 3 fixed reports
    subjects = list(seeded.order_by("external_id").values_list("subject", flat=True))

    again, lines = _seed(8)
    assert not again.anything_created, again.created
    assert _counts() == before
    assert any("all 8 present" in line for line in lines)

    # A larger request only adds the missing tickets (as after an interrupted run).
    more, _ = _seed(10)
    assert more.created == {"tickets": 2}
    seeded = Ticket.objects.exclude(external_id__startswith="demo-detect-")
    after = list(seeded.order_by("external_id").values_list("subject", flat=True))
    assert after[:8] == subjects and len(after) == 10


@pytest.mark.django_db
def test_seeding_refuses_a_database_with_other_data():
    from caseline.accounts import services as accounts
    from caseline.demo.seed import DemoRefused, seed

    accounts.create_organization(name="A Real Customer Inc", domains=["real-customer.example"])
    with pytest.raises(DemoRefused):
        seed(tickets=1)


# --- the real process group -------------------------------------------------------------


def _demo_env(tmp_path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST_", "CASELINE_")) and k != "DJANGO_SETTINGS_MODULE"
    }
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        CASELINE_DATA_DIR=str(tmp_path / "data"),
        QUEUE_URL=f"sqlite:///{tmp_path / 'queue.sqlite3'}",
        RATELIMIT_URL=f"sqlite:///{tmp_path / 'ratelimit.sqlite3'}",
        CASELINE_FAST_PASSWORDS="1",
        PYTHONPATH=os.getcwd(),
    )
    return env


def _start_demo(tmp_path, port: int, smtp_port: int):
    log = open(tmp_path / "demo.log", "w")
    argv = ["demo", "--port", str(port), "--tickets", "6", "--smtp-port", str(smtp_port)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "caseline", *argv],
        env=_demo_env(tmp_path),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, like a terminal's foreground job
    )
    return proc, log


def _wait_until(predicate, timeout: float, what: str, proc, tmp_path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"demo exited early ({proc.returncode}):\n{_log(tmp_path)}")
        if predicate():
            return
        time.sleep(0.25)
    pytest.fail(f"{what} not reached within {timeout} s:\n{_log(tmp_path)}")


def _log(tmp_path) -> str:
    return (tmp_path / "demo.log").read_text()


def _status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


def _child_pids(tmp_path) -> dict[str, int]:
    return {m[0]: int(m[1]) for m in re.findall(r"started (\w+) \(pid (\d+)\)", _log(tmp_path))}


def _smtp_ready(port: int) -> bool:
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=2) as client:
            return client.noop()[0] == 250
    except OSError:
        return False


def _ticket_subjects(tmp_path, like: str) -> list[str]:
    with sqlite3.connect(tmp_path / "demo.sqlite3") as db:
        rows = db.execute(
            "SELECT subject FROM tickets_ticket WHERE subject LIKE ? ORDER BY id", (like,)
        )
        return [r[0] for r in rows]


def _group_members(pgids) -> str:
    """ps lines of every live process in the given groups (for a failure message)."""
    out = subprocess.run(
        ["ps", "-eo", "pid,pgid,ppid,stat,args"], capture_output=True, text=True, check=False
    ).stdout.splitlines()
    wanted = {str(g) for g in pgids}
    return "\n".join(line for line in out[1:] if line.split()[1] in wanted)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _stop_group(proc, tmp_path) -> None:
    """Clean-up after a failed test: kill whatever of the demo is left."""
    for pgid in (proc.pid, _child_pids(tmp_path).get("serve")):
        if pgid and _group_alive(pgid):
            os.killpg(pgid, signal.SIGKILL)
    proc.wait(timeout=10)


def _admin_login(base: str) -> int:
    """Sign in on the admin login page with the printed credentials; the final status."""
    from caseline.demo import content as C

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base}/admin/login/", timeout=10).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode(
        {
            "csrfmiddlewaretoken": token,
            "username": C.ADMIN_EMAIL,
            "password": C.DEMO_PASSWORD,
            "next": "/admin/",
        }
    ).encode()
    req = urllib.request.Request(f"{base}/admin/login/?next=/admin/", data=data)
    req.add_header("Referer", f"{base}/admin/login/")
    with opener.open(req, timeout=10) as r:
        body = r.read().decode()
        assert "Log out" in body or "logout" in body, body[:500]
        return r.status


@pytest.mark.subprocess
def test_demo_runs_server_worker_and_clock_and_stops_on_ctrl_c(tmp_path):
    port, smtp_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    proc, log = _start_demo(tmp_path, port, smtp_port)
    try:
        _wait_until(lambda: _status(f"{base}/healthz") == 200, 90, "/healthz", proc, tmp_path)
        assert _status(f"{base}/admin/login/") == 200
        assert _admin_login(base) == 200
        children = _child_pids(tmp_path)
        assert set(children) == {"serve", "worker", "clock", "smtpd"}
        # Mail to the demo's support address becomes a ticket.
        _wait_until(lambda: _smtp_ready(smtp_port), 30, "smtpd", proc, tmp_path)
        mail = EmailMessage()
        mail["From"] = "Dana Reyes <dana@example.org>"
        mail["To"] = "support@caseline.demo"
        mail["Subject"] = "Backup job stuck at 99 percent"
        mail["Message-ID"] = "<demo-test-1@example.org>"
        mail.set_content("Hello, our nightly backup has been stuck at 99% since 02:00.")
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as client:
            client.send_message(mail)
        assert _ticket_subjects(tmp_path, "Backup job stuck%") == ["Backup job stuck at 99 percent"]
        assert "SMTP 127.0.0.1:" in _log(tmp_path)
        # Worker and clock share the demo's (foreground) process group; the server has
        # its own, so a Ctrl-C reaches granian's master only (the demo passes it on).
        assert os.getpgid(children["worker"]) == os.getpgid(children["clock"]) == proc.pid
        assert os.getpgid(children["serve"]) == children["serve"]
        output = _log(tmp_path)
        assert "admin@caseline.demo / caseline-demo" in output
        assert f"http://127.0.0.1:{port}/" in output

        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        assert proc.wait(timeout=30) == 0, _log(tmp_path)
        deadline = time.monotonic() + 10
        groups = (proc.pid, children["serve"])
        while any(map(_group_alive, groups)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(map(_group_alive, groups)), "a child outlived the demo:\n" + _group_members(
            groups
        )
        assert "did not stop in time" not in _log(tmp_path)  # stopped cleanly, not killed
        for pid in children.values():
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
        assert "stopped: serve, worker, clock, smtpd" in _log(tmp_path)
    finally:
        _stop_group(proc, tmp_path)
        log.close()


@pytest.mark.subprocess
def test_demo_stops_everything_and_fails_when_a_child_dies(tmp_path):
    proc, log = _start_demo(tmp_path, free_port(), free_port())
    try:
        _wait_until(lambda: len(_child_pids(tmp_path)) == 4, 90, "children", proc, tmp_path)
        children = _child_pids(tmp_path)
        os.kill(children["clock"], signal.SIGKILL)
        assert proc.wait(timeout=30) != 0
        groups = (proc.pid, children["serve"])
        deadline = time.monotonic() + 10
        while any(map(_group_alive, groups)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(map(_group_alive, groups)), "a child outlived the demo:\n" + _group_members(
            groups
        )
        assert "clock exited" in _log(tmp_path)
    finally:
        _stop_group(proc, tmp_path)
        log.close()
