"""POST /api/v1/tickets/{id}/reply-check: findings from the customer's messages since our
last public reply, the team's style and the draft; 422 for an empty or too long draft,
403 for customers, 404 for unknown or invisible tickets, 401 without a token. Nothing
is written."""

from __future__ import annotations

import json

import pytest

from caseline.accounts.models import Contact, ContactEmail, Organization, Team, User
from caseline.audit.models import AuditEvent
from caseline.text.replycheck import MAX_DRAFT_CHARS
from caseline.tickets.models import Message
from caseline.tickets.services import add_message, create_ticket

pytestmark = pytest.mark.django_db

QUESTION = (
    "Hi,\n\nreplication to site B lags by 40 minutes since the upgrade to 7.2. "
    "Could you check whether the upgrade changed the default bandwidth throttle? "
    "Also, can we roll back to 7.1 safely?\n\nThanks,\nDev"
)
ANSWERS_ONE = (
    "Hi Dev,\n\nyes, 7.2 lowered the default bandwidth throttle to 200 MB/s; raise it with "
    "`repl set-throttle --unlimited`.\n\nBest regards,\nSam"
)


def url(ticket_id: int) -> str:
    return f"/api/v1/tickets/{ticket_id}/reply-check"


def post(client, ticket_id, data):
    return client.post(url(ticket_id), data=json.dumps(data), content_type="application/json")


@pytest.fixture
def se(make_staff):
    return make_staff("support_engineer", email="se@caseline.test")


@pytest.fixture
def team():
    return Team.objects.create(
        name="Storage", reply_greeting_required=True, reply_closing_required=True
    )


@pytest.fixture
def dev():
    org = Organization.objects.create(name="Acme")
    contact = Contact.objects.create(name="Dev", organization=org)
    ContactEmail.objects.create(contact=contact, email="dev@acme.test", is_primary=True)
    return contact


@pytest.fixture
def ticket(se, dev, team):
    return create_ticket(
        actor=se,
        requester=dev,
        subject="Replication lag",
        body_text=QUESTION,
        channel="email",
        team=team,
    )


def _counts():
    return Message.objects.count(), AuditEvent.objects.count()


def test_flags_the_unanswered_question_and_missing_eta(api_client, se, ticket):
    client = api_client(se)  # (creating the token is audited)
    before = _counts()
    resp = post(client, ticket.pk, {"draft": ANSWERS_ONE})
    assert resp.status_code == 200, resp.content
    body = resp.json()
    kinds = [f["kind"] for f in body["findings"]]
    assert kinds == ["unanswered_question", "missing_eta"]
    unanswered = body["findings"][0]
    assert "roll back to 7.1" in unanswered["ask"]["text"]
    assert unanswered["message"].startswith("The customer asked")
    assert "does not address it" in unanswered["message"]
    first = ticket.messages.order_by("id").first()
    assert unanswered["ask"]["message_id"] == first.pk
    assert (
        QUESTION[unanswered["ask"]["start"] : unanswered["ask"]["end"]]
        == (unanswered["ask"]["text"])
    )
    assert [a["addressed"] for a in body["asks"]] == [True, False]
    assert body["style"] == {"greeting_required": True, "closing_required": True}
    assert body["keep_open"] is True and body["has_eta"] is False
    assert _counts() == before  # advice only: nothing written


def test_a_complete_draft_has_no_findings(api_client, se, ticket):
    draft = ANSWERS_ONE.replace(
        "\n\nBest regards",
        "\n\nRolling back to 7.1 is safe as long as the new snapshot format is off.\n\n"
        "Best regards",
    )
    resp = post(api_client(se), ticket.pk, {"draft": draft, "eta": "2030-01-01T10:00:00Z"})
    assert resp.status_code == 200
    assert resp.json()["findings"] == []
    assert resp.json()["has_eta"] is True


def test_keep_open_false_needs_no_eta_and_style_comes_from_the_team(api_client, se, ticket):
    resp = post(
        api_client(se), ticket.pk, {"draft": "yes, 7.2 changed the throttle.", "keep_open": False}
    )
    kinds = {f["kind"] for f in resp.json()["findings"]}
    assert "missing_eta" not in kinds
    assert {"missing_greeting", "missing_closing"} <= kinds
    Team.objects.filter(pk=ticket.team_id).update(
        reply_greeting_required=False, reply_closing_required=False
    )
    resp = post(
        api_client(se), ticket.pk, {"draft": "yes, 7.2 changed the throttle.", "keep_open": False}
    )
    kinds = {f["kind"] for f in resp.json()["findings"]}
    assert not kinds & {"missing_greeting", "missing_closing"}


def test_only_messages_since_our_last_public_reply_count(api_client, se, dev, ticket):
    add_message(ticket, actor=se, body_text="Hi Dev, checking. Best regards, Sam")
    add_message(ticket, actor=se, kind=Message.Kind.INTERNAL, body_text="Why is it slow?")
    add_message(
        ticket,
        author_contact=dev,
        body_text="Thanks. Please send us the bandwidth graphs for last week.",
    )
    resp = post(api_client(se), ticket.pk, {"draft": "Hi Dev,\n\nsure.\n\nBest regards,\nSam"})
    asks = resp.json()["asks"]
    assert [a["text"] for a in asks] == ["Please send us the bandwidth graphs for last week."]
    assert asks[0]["addressed"] is False


def test_no_customer_message_since_our_reply_means_no_asks(api_client, se, ticket):
    add_message(ticket, actor=se, body_text="Hi Dev, the throttle changed. Best regards, Sam")
    resp = post(api_client(se), ticket.pk, {"draft": "Hi Dev,\n\nanother note.\n\nBest,\nSam"})
    assert resp.status_code == 200
    assert resp.json()["asks"] == []


@pytest.mark.parametrize("draft", ["", "   \n\t "])
def test_empty_draft_is_422(api_client, se, ticket, draft):
    resp = post(api_client(se), ticket.pk, {"draft": draft})
    assert resp.status_code == 422
    error = resp.json()["error"]
    assert error["code"] == "validation_error"
    assert "draft" in error["fields"]


def test_too_long_draft_is_422(api_client, se, ticket):
    resp = post(api_client(se), ticket.pk, {"draft": "x" * (MAX_DRAFT_CHARS + 1)})
    assert resp.status_code == 422
    assert resp.json()["error"]["fields"]["draft"].startswith("at most")


@pytest.mark.parametrize(
    "data", [{}, {"draft": 5}, {"draft": "ok", "eta": "not a time"}, {"draft": "a\x00b"}]
)
def test_malformed_body_is_422(api_client, se, ticket, data):
    resp = post(api_client(se), ticket.pk, data)
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "validation_error"


def test_customer_is_refused(api_client, dev, ticket):
    customer = User.objects.create_user(
        username="dev@acme.test", email="dev@acme.test", kind="customer", contact=dev
    )
    resp = post(api_client(customer), ticket.pk, {"draft": ANSWERS_ONE})
    assert resp.status_code == 403
    assert resp.json()["error"]["code"] == "permission_denied"


def test_staff_who_cannot_see_tickets_gets_404(api_client, make_staff, ticket):
    nobody = make_staff()  # staff without a role: no view_all_tickets
    resp = post(api_client(nobody), ticket.pk, {"draft": ANSWERS_ONE})
    assert resp.status_code == 404


def test_unknown_ticket_is_404(api_client, se, ticket):
    resp = post(api_client(se), ticket.pk + 1000, {"draft": ANSWERS_ONE})
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "not_found"


def test_without_token_is_401(client, ticket):
    resp = post(client, ticket.pk, {"draft": ANSWERS_ONE})
    assert resp.status_code == 401


def test_get_is_405(api_client, se, ticket):
    resp = api_client(se).get(url(ticket.pk))
    assert resp.status_code == 405


# --- the matcher (settings.REPLYCHECK_METHOD; caseline.text.replycheck_semantic) ----------


def test_the_answer_says_which_matcher_judged_the_asks(api_client, se, ticket, settings):
    settings.REPLYCHECK_METHOD = "lexical"
    body = post(api_client(se), ticket.pk, {"draft": ANSWERS_ONE}).json()
    assert body["method"] == "lexical"
    assert [a["addressed"] for a in body["asks"]] == [True, False]
    assert all(a["similarity"] is None for a in body["asks"])


def test_a_wrong_method_setting_falls_back_to_auto(api_client, se, ticket, settings):
    from caseline.text.replycheck_semantic import resolve_method

    settings.REPLYCHECK_METHOD = "neural"
    resp = post(api_client(se), ticket.pk, {"draft": ANSWERS_ONE})
    assert resp.status_code == 200, resp.content
    assert resp.json()["method"] == resolve_method("auto")
