"""The reply checker (caseline.text.replycheck): ask extraction, matching, ETA, greeting
and closing, and its precision/recall of "unanswered question" on the frozen labelled
cases under tests/fixtures/replycheck (see FROZEN.md for how they were made)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caseline.text.replycheck import (
    ReplyStyle,
    answer_type,
    check_reply,
    extract_asks,
    has_closing,
    has_eta,
    has_greeting,
)
from caseline.text.replycheck_eval import evaluate, parse_cases
from caseline.text.replycheck_lexicon import stem, tokens

pytestmark = pytest.mark.pure

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "replycheck"
FROZEN = {
    "cases.jsonl": "092e612d30b2058de66840da13b5e18046b2a7b11c578561f41bd9a43473d06d",
    "cases_round2.jsonl": "a454cb83bdc20b518294837c64fa12e4731ed02df6028f5ddb1e06e1db48dfe3",
    "cases_round3.jsonl": "5d85e8de312f38830d5594560da999a4f8a9e932b5c135a1b8515c97ef65034e",
    "cases_round4.jsonl": "b8eeb9f45b18ebc01d7541f3f2f3bd5bcc92a1af5f083ae7166c1cc219a4ee0b",
    "cases_round5.jsonl": "51c59bfca35eb3fd9e91d54b30b2271ef4d8df61b18782a50306317e81968f5e",
    "cases_round6.jsonl": "a9f96a362bfc96a8d303ad0c45c8f278027e910a1413912976d211b358e44f64",
}


def asks_of(*messages: str) -> list[str]:
    return [a.text for a in extract_asks(messages)]


# --- extraction -------------------------------------------------------------------------


def test_question_marks_and_requests_in_english():
    text = (
        "Hi team,\n\nOur volume is full. Why is the freed space not showing up? "
        "Please send us the capacity report. Could you also check the snapshot schedule.\n\n"
        "Thanks,\nMaria"
    )
    assert asks_of(text) == [
        "Why is the freed space not showing up?",
        "Please send us the capacity report.",
        "Could you also check the snapshot schedule.",
    ]


def test_german_questions_and_requests():
    text = (
        "Hallo,\n\nkönnen Sie prüfen, ob das mit dem Update zusammenhängt? "
        "Bitte senden Sie uns die Rechnung als PDF. Wir brauchen außerdem eine Anleitung.\n"
        "wie kann ich das Passwort zurücksetzen\n\nViele Grüße\nJens"
    )
    found = asks_of(text)
    assert found[:3] == [
        "können Sie prüfen, ob das mit dem Update zusammenhängt?",
        "Bitte senden Sie uns die Rechnung als PDF.",
        "Wir brauchen außerdem eine Anleitung.",
    ]
    assert found[3].startswith("wie kann ich das Passwort")  # w-question without "?"


def test_statements_are_not_asks():
    text = (
        "When we upgraded last week, replication broke. The logs are attached. "
        "Wie besprochen sende ich die Logs. Let me know if you need anything else. "
        "Please find attached the config."
    )
    assert asks_of(text) == []


def test_rhetorical_questions_are_not_asks():
    text = (
        "Why would anyone design it like this? What a week, right? Why on earth is SAML so "
        "hard? Do you know how painful this is? Can you add dark mode?"
    )
    assert asks_of(text) == ["Can you add dark mode?"]


def test_numbered_and_bulleted_asks_keep_their_number():
    asks = extract_asks(
        ["1) Is SSO supported?\n2) Is SCIM supported?\n- Brauchen wir eine Lizenz?"]
    )
    assert [(a.text, a.number) for a in asks] == [
        ("Is SSO supported?", 1),
        ("Is SCIM supported?", 2),
        ("Brauchen wir eine Lizenz?", None),
    ]


def test_quoted_text_headers_and_signatures_are_ignored():
    text = (
        "Here it is.\n\n> Could you send the output?\n\nShould we replace the disk?\n\n"
        "Thanks\nHans\n--\nHans | IT\nQuestions? Ask #it-help!\n\n"
        "On Tue, 4 Mar 2025 at 10:12, Support <s@x.example> wrote:\n> Can you confirm?"
    )
    assert asks_of(text) == ["Should we replace the disk?"]


def test_two_asks_in_one_sentence_are_split():
    assert asks_of(
        "I need the IOPS graphs for last week, and let me know whether the spike was caused "
        "by the rebalancing."
    ) == [
        "I need the IOPS graphs for last week",
        "let me know whether the spike was caused by the rebalancing.",
    ]
    assert asks_of("Is a remount needed, or is there a server-side fix?") == [
        "Is a remount needed, or is there a server-side fix?"
    ]


def test_offsets_point_into_the_original_message():
    messages = ["Hi,\n\nthe job failed.\n\nCan you check why?\nThanks", "And the logs, please?"]
    for ask in extract_asks(messages):
        assert messages[ask.message_index][ask.start : ask.end] == ask.text
    assert [a.message_index for a in extract_asks(messages)] == [0, 1]


def test_abbreviations_and_dates_do_not_end_a_sentence():
    assert asks_of(
        "Please advise on the path from 6.x to 7.2, e.g. whether we need 6.9 first."
    ) == ["Please advise on the path from 6.x to 7.2, e.g. whether we need 6.9 first."]
    assert asks_of("Am 12. März fiel der Cluster aus. Warum?") == ["Warum?"]


# --- matching ---------------------------------------------------------------------------


def test_answered_and_unanswered_asks():
    result = check_reply(
        [
            "Hi,\n\nwe were charged twice for INV-20931. Can you refund the duplicate payment? "
            "And please send us a corrected invoice with our new VAT number.\n\nBest,\nLaura"
        ],
        "Hi Laura,\n\nI have issued a refund of the duplicate payment; it reaches your "
        "account within 5 business days.\n\nBest regards,\nNina",
    )
    assert [(r.ask.text, r.addressed) for r in result.asks] == [
        ("Can you refund the duplicate payment?", True),
        ("And please send us a corrected invoice with our new VAT number.", False),
    ]
    (finding,) = result.findings
    assert finding.kind == "unanswered_question"
    assert finding.message == (
        "The customer asked “And please send us a corrected invoice with our new VAT number.”"
        " — your draft does not address it."
    )
    assert finding.ask is result.asks[1].ask


def test_answer_in_other_words_counts():
    result = check_reply(
        ["Is there a limit on the number of results? How do we get all hits?"],
        "yes, search returns at most 10,000 hits. For a full export use /v2/exports with the "
        "same filter; it has no maximum.",
        keep_open=False,
    )
    assert all(r.addressed for r in result.asks)
    assert result.findings == ()


def test_repeating_the_question_is_no_answer():
    result = check_reply(
        ["Can you tell me why our bill went up by 30% this month?"],
        "You're asking why your bill went up by 30% this month. Good question, we are "
        "looking into it and will update you by Friday.",
    )
    assert [r.addressed for r in result.asks] == [False]
    assert [f.kind for f in result.findings] == ["unanswered_question"]


def test_a_question_back_is_no_answer():
    result = check_reply(
        ["Can you explain why the lag alerts fire every night?"],
        "Can you explain why the alerts fire at night? Please send us `repl history`.",
        keep_open=False,
    )
    assert [r.addressed for r in result.asks] == [False]


def test_topic_words_shared_with_another_ask_do_not_answer_it():
    result = check_reply(
        [
            "How do we upload the new certificate? Is there a way to have both certificates "
            "active during the switch?"
        ],
        "You can upload the new certificate under Admin > Security > SAML.",
        keep_open=False,
    )
    assert [r.addressed for r in result.asks] == [True, False]


def test_numbered_answers_address_numbered_asks():
    result = check_reply(
        ["1. Can we test on a sandbox?\n2. Will API tokens keep working?"],
        "1. Yes, I've requested a sandbox tenant for you.\n",
        keep_open=False,
    )
    assert [r.addressed for r in result.asks] == [True, False]


def test_why_questions_need_a_reason():
    asks = ["Why was our ticket about the failed disk closed without a reply?"]
    without = check_reply(asks, "I've reopened the ticket about the failed disk.").asks[0]
    with_reason = check_reply(
        asks, "The ticket about the failed disk was closed because the alert had cleared."
    ).asks[0]
    assert with_reason.addressed
    # same words, no reason: the passage counts 0.4x instead of 1.25x
    assert without.score < with_reason.score * 0.5
    alone = check_reply(
        ["Why was the ticket closed? Please reopen it."], "I've reopened the ticket."
    ).asks
    assert [r.addressed for r in alone] == [False, True]


def test_answer_types():
    assert answer_type("Why is it slow?")[0] == "why"  # type: ignore[index]
    assert answer_type("Was kostet das pro Monat?")[0] == "cost"  # type: ignore[index]
    assert answer_type("Wann ist das behoben?")[0] == "when"  # type: ignore[index]
    assert answer_type("Did you change the permissions?")[0] == "yesno"  # type: ignore[index]
    assert answer_type("Could you send the logs?") is None


def addressed(message: str, draft: str) -> list[bool]:
    return [a.addressed for a in check_reply([message], draft).asks]


def test_value_questions_need_a_number_the_customer_did_not_write():
    message = "Hi,\n\nwe get 429s at 50 requests per second. What is the rate limit for our plan?"
    given = check_reply([message], "Hi,\n\nthe rate limit for your plan is 200 requests/s.")
    echoed = check_reply([message], "Hi,\n\nthe rate limit for your plan is 50 requests/s.")
    assert given.asks[0].addressed
    # the echo scores far lower (with this much overlap it can still pass: see
    # docs/reply-checker.md, round 5)
    assert echoed.asks[0].score < given.asks[0].score / 2


def test_related_terms_answer_a_which_question():
    message = "Hi,\n\nwhich ports need to be open between the two sites?"
    assert addressed(message, "Hi,\n\nTCP 11104 and 11105 in both directions.") == [True]
    assert tokens("logs") == tokens("bundle")
    assert tokens("Replikation") == tokens("replication")


def test_which_questions_need_the_thing_asked_for():
    message = "Hallo,\n\nwelche Attribute unterstützt Ihre SCIM-Schnittstelle?"
    draft = "Hallo,\n\nIhre SCIM-Schnittstelle ist eingerichtet und synchronisiert alle 40 Minuten."
    assert addressed(message, draft) == [False]


def test_deferrals_and_generalities_do_not_answer():
    message = "Hi,\n\nwhy do our GraphQL queries take 8 seconds?"
    assert addressed(message, "Hi,\n\nwe are looking into the slow GraphQL queries.") == [False]
    message = "Hi,\n\nIs it possible to connect two Okta orgs to the same tenant?"
    draft = "Hi,\n\nconnecting two Okta orgs to one tenant is a common setup for our customers."
    assert addressed(message, draft) == [False]


def test_an_opening_yes_answers_the_first_yes_no_question():
    message = "Hi,\n\nDid something change on your side? Our SCIM sync fails since Monday."
    draft = "Hi,\n\nyes: on Monday we enforced unique external IDs, so creation is refused."
    assert addressed(message, draft) == [True]


def test_stemming_and_synonyms():
    assert stem("invoices") == stem("invoice")
    assert tokens("Rechnungen") == tokens("Rechnung")
    assert tokens("angesehen") == tokens("ansehen")
    assert tokens("Obergrenze") == tokens("limit")
    assert tokens("could you please tell us the") == []


# --- ETA, greeting, closing -------------------------------------------------------------


@pytest.mark.parametrize(
    "text,expected",
    [
        ("I'll update you by 15:00 UTC.", True),
        ("We will have it fixed by tomorrow.", True),
        ("The next update follows within 2 hours.", True),
        ("Ich melde mich bis Freitag.", True),
        ("Die Gutschrift erscheint in 3–5 Werktagen.", True),
        ("Ich schaue heute um 16:00 Uhr noch einmal nach.", True),
        ("The restore will take about 3 hours.", True),
        ("The rebalance ran until 14:05 UTC yesterday.", False),
        ("Das Problem wurde heute um 10 Uhr behoben.", False),
        ("Guten Morgen Frau Lorenz, alles läuft.", False),
        ("This is configured per volume today.", False),
        ("We will look into it and get back to you.", False),
    ],
)
def test_eta(text, expected):
    assert has_eta(text) is expected


def test_missing_eta_only_while_the_ticket_stays_open():
    messages = ["Can you check the replication lag?"]
    draft = "Hi,\n\nI checked the replication lag: it is caused by the throttle.\n\nBest,\nSam"
    assert [f.kind for f in check_reply(messages, draft).findings] == ["missing_eta"]
    assert check_reply(messages, draft, keep_open=False).findings == ()
    eta = datetime(2030, 1, 1, 10, tzinfo=UTC)
    assert check_reply(messages, draft, eta=eta).findings == ()


def test_greeting_and_closing_per_style():
    style = ReplyStyle(greeting_required=True, closing_required=True)
    bare = check_reply([], "The mobile app needs version 5.3.", keep_open=False, style=style)
    assert [f.kind for f in bare.findings] == ["missing_greeting", "missing_closing"]
    assert "greeting" in bare.findings[0].message
    full = check_reply(
        [],
        "Hallo Herr Brandt,\n\nerledigt.\n\nMit freundlichen Grüßen\nMarkus",
        style=style,
        keep_open=False,
    )
    assert full.findings == ()
    assert check_reply([], "no greeting", keep_open=False).findings == ()  # not required


@pytest.mark.parametrize(
    "draft", ["Hi Maria,\n\nok", "Dear Anna,", "hey greg, done", "Guten Tag Frau Klein,"]
)
def test_greetings(draft):
    assert has_greeting(draft)


@pytest.mark.parametrize(
    "draft,expected",
    [
        ("ok\n\nBest regards,\nTom", True),
        ("ok\n\nMit freundlichen Grüßen\nJonas Weber\nSupport Engineer", True),
        ("ok\n\nCheers,\nPriya", True),
        ("thanks, we can reproduce it and are working on it.", False),
        ("Please reboot controller A first.", False),
    ],
)
def test_closings(draft, expected):
    assert has_closing(draft) is expected


# --- robustness -------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(max_size=300), max_size=3), st.text(max_size=300), st.booleans())
def test_never_raises_and_offsets_hold(messages, draft, keep_open):
    result = check_reply(messages, draft, keep_open=keep_open)
    for r in result.asks:
        assert messages[r.ask.message_index][r.ask.start : r.ask.end] == r.ask.text
        assert 0.0 <= r.score
    assert len([f for f in result.findings if f.kind == "unanswered_question"]) == len(
        result.unanswered
    )


def test_long_input_is_cut_not_slow():
    text = ("Can you check the replication of volume vol-1? " * 2000) + "\n"
    result = check_reply([text], "yes " * 10_000)
    assert len(result.asks) >= 1


# --- the labelled cases -----------------------------------------------------------------


@pytest.fixture(scope="module")
def cases():
    return [
        c for name in FROZEN for c in parse_cases((FIXTURES / name).read_text(encoding="utf-8"))
    ]


@pytest.mark.parametrize("name", sorted(FROZEN))
def test_cases_are_frozen(name):
    digest = hashlib.sha256((FIXTURES / name).read_bytes()).hexdigest()
    assert digest == FROZEN[name], f"{name} changed after it was frozen (see FROZEN.md)"


def test_case_set_shape(cases):
    assert len(cases) >= 60
    assert len({c["id"] for c in cases}) == len(cases)
    assert {c["lang"] for c in cases} == {"en", "de"}
    for c in cases:
        assert c["split"] in {
            "tune",
            "heldout",
            "heldout2",
            "heldout3",
            "heldout4",
            "heldout5",
            "heldout6",
        }
        text = " ".join(" ".join(m.split()) for m in c["messages"])
        for ask in c["asks"]:
            assert " ".join(ask["key"].split()) in text, (c["id"], ask["key"])


# Floors a little under the figures measured when the checker was frozen (docs/
# reply-checker.md has the figures): a change that makes the checker worse fails here.
FLOORS = {
    # all 253 cases since round 6: 0.781 / 0.767 (the 205 cases of rounds 1-5: 0.863 / 0.882)
    None: (0.76, 0.74),
    "heldout6": (0.34, 0.28),  # round 6, evaluated once (blind): 0.368 / 0.304
    "heldout5": (0.55, 0.65),  # round 5, evaluated once (blind): 0.591 / 0.684
    "heldout4": (0.85, 0.95),  # 0.889 / 1.000 (blind run in round 4: 0.706 / 0.750)
    "heldout3": (0.95, 0.75),  # 1.000 / 0.800 (blind run in round 3: 0.667 / 0.667)
    "heldout2": (0.95, 0.90),  # 1.000 / 0.950 (blind run in round 2: 0.684 / 0.650)
    "heldout": (0.95, 0.85),  # 1.000 / 0.900 (blind run in round 1: 0.833 / 0.500)
    "tune": (0.80, 0.95),  # 0.867 / 1.000
}


@pytest.mark.parametrize("split", list(FLOORS), ids=lambda s: s or "all")
def test_precision_and_recall_of_unanswered_questions(cases, split):
    scores = evaluate(cases, split=split)
    floor_p, floor_r = FLOORS[split]
    detail = [
        (r.case_id, r.false_positives, r.false_negatives) for r in scores.results if r.fp or r.fn
    ]
    assert scores.precision >= floor_p, (scores.precision, detail)
    assert scores.recall >= floor_r, (scores.recall, detail)


def test_other_findings_agree_with_the_labels(cases):
    assert evaluate(cases).other_accuracy >= 0.98


def test_an_empty_split_is_an_error_not_a_perfect_score():
    with pytest.raises(ValueError):
        evaluate([], split="heldout")
    with pytest.raises(ValueError):
        evaluate([{"split": "tune"}], split="no-such-split")
