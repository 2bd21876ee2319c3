"""Every message of the corpus through the whole ingest: the outcome expected.json implies
(ticket / thread / ignore, visible body) holds, and nothing raises or is lost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from caseline.accounts.models import Contact, ContactEmail
from caseline.mail.ingest import ingest
from caseline.mail.models import InboundMessage
from caseline.tickets.models import Ticket

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "mail"
EXPECTED: dict[str, dict] = json.loads((FIXTURES / "expected.json").read_text("utf-8"))


def _squash(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_message_outcome(name, mailbox):
    exp = EXPECTED[name]
    token = exp.get("ticket_token")
    if token:
        # the ticket the message refers to, with its sender as requester (a participant)
        contact = Contact.objects.create(name="Requester")
        ContactEmail.objects.create(
            contact=contact, email=exp["from"] or "x@y.test", is_primary=True
        )
        Ticket.objects.create(pk=token, subject="Earlier ticket", requester=contact)
    raw = (FIXTURES / name).read_bytes()
    result = ingest(raw, mailbox)
    row = result.inbound
    flags = exp["flags"]
    assert row.pk and row.raw.name  # kept, whatever happened
    assert ingest(raw, mailbox).duplicate  # and never twice
    if flags["bounce"]:
        assert row.status in ("processed", "ignored")
        assert Ticket.objects.exclude(pk=token or 0).count() == 0
        return
    if flags["autoreply"] or flags["bulk"]:
        assert row.status == "ignored", row.reason
        assert Ticket.objects.exclude(pk=token or 0).count() == 0
        return
    if not exp.get("from"):
        assert row.status == "quarantined"
        return
    assert row.status == "processed", row.reason
    if token:
        assert row.ticket_id == token and row.threaded_by == "token"
    else:
        assert row.ticket_id and row.threaded_by == "new"
    body = row.ticket_message.body_text
    if exp.get("new_text") is not None:
        assert _squash(body) == _squash(exp["new_text"]) or (
            # the parser's tests own the figure; here the ticket shows the stripped text
            _squash(body).startswith(_squash(exp.get("new_text_starts") or exp["new_text"])[:40])
        ), body[:300]
    names = sorted(a.filename for a in row.ticket_message.attachments.all())
    for expected_name in exp.get("attachments") or []:
        assert expected_name in names or name.startswith("huge"), names
    assert InboundMessage.objects.count() == 1
