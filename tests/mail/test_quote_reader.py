"""Shortcuts of parsing and quote stripping give the same results as the full work:

* ``_FirstTwoReplies`` (stops reading once the first two replies are known) against
  mail-parser-reply's own ``EmailMessage.read``;
* skipping the HTML pre-pass when the HTML has no quote marker against always running it;
* parsing with memoised header objects against the stdlib's ``email.policy.default``.

On the corpus (tests/fixtures/mail), the benchmark's generated mail and hand-made edge
cases (a header at the very start, several headers, a header as the last line)."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import pytest
from mailparser_reply.parser import EmailMessage

from caseline.mail.parsing import parse_message
from caseline.text import quotes, strip_reply

pytestmark = pytest.mark.pure

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "mail"


def _bench_messages(n: int = 120) -> list[bytes]:
    spec = importlib.util.spec_from_file_location("mail_bench", ROOT / "bench" / "mail_bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_messages(n, seed=11)


EDGE_TEXTS = [
    "",
    "x",
    "On Mon, 3 Mar 2025 at 10:00, Support <s@x.test> wrote:\n> quoted only",
    "Thanks!\n\nOn Mon, 3 Mar 2025, Ann wrote:\n> a\n\nOn Sun, 2 Mar 2025, Bob wrote:\n> b",
    "Danke\n\nVon: Ann <a@x.test>\nGesendet: Montag, 3. März 2025 10:00\nAn: b@x.test\n"
    "Betreff: x\n\nalt\n\nVon: Bob <b@x.test>\nGesendet: Sonntag\nAn: a@x.test\nBetreff: y\n",
    "Top\n-----Original Message-----\nFrom: a@x.test\nSent: Monday\nTo: b\nSubject: c\n\nold",
    "-----Original Message-----\nFrom: a@x.test\nSent: Monday\nTo: b\nSubject: c\n\nold",
    "New text\n\nBest regards,\nAnn\n\nOn Mon, 3 Mar 2025, Support wrote:",
    "Merci\n\nLe lun. 3 mars 2025 à 10:00, Support <s@x.test> a écrit :\n> avant",
]


def _texts() -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = [(t, None) for t in EDGE_TEXTS]
    for path in sorted(FIXTURES.glob("*.eml")):
        msg = parse_message(path.read_bytes())
        out.append((msg.text, msg.html or None))
    for raw in _bench_messages():
        msg = parse_message(raw)
        out.append((msg.text, msg.html or None))
    return out


TEXTS = _texts()


def _summary(message) -> tuple:
    first = message.replies[0] if message.replies else None
    second = message.replies[1] if len(message.replies) > 1 else None
    return (
        len(message.replies) > 1,
        (first.body, first.signatures, first.headers) if first else None,
        second.headers if second else None,
    )


@pytest.mark.parametrize("index", range(len(TEXTS)))
def test_first_two_replies_match_the_library(index):
    text, _ = TEXTS[index]
    text = quotes._normalise(text)
    languages = list(quotes.DEFAULT_LANGUAGES)
    ours = quotes._FirstTwoReplies(text=text, languages=languages, keep_hyphen_lists=True)
    theirs = EmailMessage(text=text, languages=list(languages), keep_hyphen_lists=True)
    assert _summary(ours.read()) == _summary(theirs.read())


def test_random_header_soup_matches_the_library():
    rng = random.Random(5)
    pieces = [
        "Hello there.",
        "On Mon, 3 Mar 2025, Ann <a@x.test> wrote:",
        "> quoted line",
        "-----Original Message-----",
        "From: Bob <b@x.test>\nSent: Monday\nTo: c@x.test\nSubject: s",
        "Von: Ann\nGesendet: Montag\nAn: b\nBetreff: x",
        "Best regards,\nAnn",
        "-- \nsignature",
        "",
    ]
    for _ in range(300):
        text = "\n".join(rng.choice(pieces) for _ in range(rng.randint(1, 9)))
        languages = list(quotes.DEFAULT_LANGUAGES)
        ours = quotes._FirstTwoReplies(text=text, languages=languages, keep_hyphen_lists=True)
        theirs = EmailMessage(text=text, languages=list(languages), keep_hyphen_lists=True)
        assert _summary(ours.read()) == _summary(theirs.read()), text


@pytest.mark.parametrize("index", range(len(TEXTS)))
def test_skipping_the_html_pre_pass_changes_nothing(index, monkeypatch):
    text, html = TEXTS[index]
    fast = strip_reply(text, html)
    monkeypatch.setattr(quotes, "may_mark_quote", lambda _html: True)
    full = strip_reply(text, html)
    assert fast == full


def test_quote_markers_are_found_behind_character_references():
    assert quotes.may_mark_quote('<div class="gmail&#95;quote">x</div>')
    assert quotes.may_mark_quote('<DIV ID="divRplyFwdMsg">x</DIV>')
    assert quotes.may_mark_quote('<div style="border-top:solid #E1E1E1 1.0pt">x</div>')
    assert quotes.may_mark_quote('<blockquote type="cite">x</blockquote>')
    assert not quotes.may_mark_quote("<div><p>Hello &amp; welcome</p></div>")


RAWS = [p.read_bytes() for p in sorted(FIXTURES.glob("*.eml"))] + _bench_messages(60)


@pytest.mark.parametrize("index", range(len(RAWS)))
def test_memoised_header_policy_parses_the_same(index, monkeypatch):
    """parse_message with the memoising policy (twice: cold and warm memo) equals
    parse_message with the stdlib's email.policy.default."""
    import email.policy

    from caseline.mail import parsing

    raw = RAWS[index]
    parsing._parsed_header.cache_clear()
    cold = parse_message(raw)
    warm = parse_message(raw)
    monkeypatch.setattr(parsing, "POLICY", email.policy.default)
    assert cold == warm == parse_message(raw)
