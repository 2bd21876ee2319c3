"""The mail parser against the corpus in tests/fixtures/mail (expected.json states what
must be found in each message) plus focused unit tests and a fuzz test."""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caseline.mail.parsing import (
    Classification,
    UnparseableMessage,
    classify,
    decode_bytes,
    decode_header_value,
    normalise_message_id,
    parse_message,
    ticket_token,
)
from caseline.text import strip_reply

pytestmark = pytest.mark.pure

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "mail"
EXPECTED: dict[str, dict] = json.loads((FIXTURES / "expected.json").read_text("utf-8"))
NAMES = sorted(EXPECTED)


def _squash(text: str) -> str:
    return " ".join(text.split())


def _load(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_corpus_is_complete():
    files = sorted(p.name for p in FIXTURES.glob("*.eml"))
    assert files == NAMES
    assert len(files) >= 40


@pytest.mark.parametrize("name", NAMES)
def test_corpus_headers(name):
    exp = EXPECTED[name]
    msg = parse_message(_load(name))
    if "subject" in exp:
        assert msg.subject == exp["subject"]
    for part in exp.get("subject_contains", []):
        assert part in msg.subject
    assert msg.from_ is not None
    assert msg.from_.address == exp["from"]
    if "from_name" in exp:
        assert msg.from_.name == exp["from_name"]
    assert msg.message_id == exp["message_id"]
    if "in_reply_to" in exp:
        assert msg.in_reply_to == exp["in_reply_to"]
    if "references" in exp:
        assert list(msg.references) == exp["references"]
    if "to" in exp:
        assert [a.address for a in msg.to] == exp["to"]
    if "cc" in exp:
        assert [a.address for a in msg.cc] == exp["cc"]
    if "reply_to" in exp:
        assert [a.address for a in msg.reply_to] == exp["reply_to"]
    if "date" in exp:
        expected_date = datetime.fromisoformat(exp["date"]) if exp["date"] else None
        assert msg.date == expected_date
    if msg.date is not None:
        assert msg.date.tzinfo is UTC
    assert ticket_token(msg.subject) == exp["ticket_token"]


@pytest.mark.parametrize("name", NAMES)
def test_corpus_bodies_and_attachments(name):
    exp = EXPECTED[name]
    msg = parse_message(_load(name))
    for part in exp.get("text_contains", []):
        assert part in msg.text
    for part in exp.get("text_excludes", []):
        assert part not in msg.text
    if "text_starts" in exp:
        assert msg.text.startswith(exp["text_starts"])
    if "text" in exp:
        assert msg.text == exp["text"]
    if "text_min_length" in exp:
        assert len(msg.text) >= exp["text_min_length"]
    for part in exp.get("html_contains", []):
        assert part in msg.html
    for part in exp.get("html_excludes", []):
        assert part.lower() not in msg.html.lower()
    assert "\ufffd" not in msg.text, "a charset was decoded wrongly"
    assert [a.filename for a in msg.attachments] == exp["attachments"]
    if "attachment_types" in exp:
        assert [a.content_type for a in msg.attachments] == exp["attachment_types"]
    for att, size in zip(msg.attachments, exp.get("attachment_sizes", []), strict=False):
        if size is not None:
            assert att.size == size
    if "inline" in exp:
        assert [a.content_id for a in msg.attachments if a.is_inline] == exp["inline"]


@pytest.mark.parametrize("name", NAMES)
def test_corpus_classification(name):
    exp = EXPECTED[name]
    result = classify(parse_message(_load(name)))
    flags = {
        "auto_submitted": result.auto_submitted,
        "bulk": result.bulk,
        "autoreply": result.autoreply,
        "bounce": result.bounce,
    }
    assert flags == exp["flags"], result.reasons
    assert result.bounced_message_id == exp["bounced_message_id"]
    assert list(result.failed_recipients) == exp["failed_recipients"]


@pytest.mark.parametrize("name", NAMES)
def test_corpus_new_text(name):
    exp = EXPECTED[name]
    msg = parse_message(_load(name))
    stripped = strip_reply(msg.text, msg.html or None)
    if msg.text.strip():
        assert stripped.new_text.strip(), "a message with content must keep some new text"
    if exp.get("new_text_starts") is not None:
        assert _squash(stripped.new_text).startswith(_squash(exp["new_text_starts"]))
    for part in exp.get("new_text_excludes", []):
        assert part not in stripped.new_text
    assert _squash(stripped.full_text) == _squash(msg.text)


def _stripping_share(names: list[str]) -> tuple[int, int]:
    hits = total = 0
    for name in names:
        exp = EXPECTED[name]
        if "new_text" not in exp:
            continue
        msg = parse_message(_load(name))
        total += 1
        got = strip_reply(msg.text, msg.html or None).new_text
        hits += _squash(got) == _squash(exp["new_text"])
    return hits, total


def test_quote_stripping_figure():
    """Issue #4 target: the visible text equals the expected new text for >= 95 %,
    reported for the whole corpus and for the held-out half (never tuned against)."""
    hits, total = _stripping_share(NAMES)
    held = [n for n in NAMES if EXPECTED[n].get("split") == "holdout"]
    held_hits, held_total = _stripping_share(held)
    print(f"quote stripping: {hits}/{total} whole, {held_hits}/{held_total} held-out")
    assert total >= 40
    assert hits / total >= 0.95
    assert held_hits / held_total >= 0.95


# --------------------------------------------------------------------------- unit tests


def _msg(headers: str, body: str = "Hello\n") -> bytes:
    return (headers.strip("\n") + "\n\n" + body).encode("utf-8", errors="surrogateescape")


def test_parsed_message_is_frozen():
    msg = parse_message(_msg("From: a@b.example\nSubject: x"))
    with pytest.raises(AttributeError):
        msg.subject = "y"  # type: ignore[misc]


def test_sha256_and_size_of_the_raw_bytes():
    import hashlib

    raw = _msg("From: a@b.example\nSubject: x")
    msg = parse_message(raw)
    assert msg.sha256 == hashlib.sha256(raw).hexdigest()
    assert msg.size == len(raw)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<abc@x.example>", "<abc@x.example>"),
        ("  <abc@x.example> (comment)", "<abc@x.example>"),
        ("abc@x.example", "<abc@x.example>"),
        ("<\n abc@x.example>", "<abc@x.example>"),
        ("", None),
        (None, None),
        ("   ", None),
    ],
)
def test_normalise_message_id(value, expected):
    assert normalise_message_id(value) == expected


def test_references_and_in_reply_to_are_normalised():
    msg = parse_message(
        _msg(
            "From: a@b.example\nIn-Reply-To: <m2@x> (Anna's message of Tue)\n"
            "References: <m0@x>\n <m1@x> <m2@x>\n\t<m1@x>"
        )
    )
    assert msg.in_reply_to == "<m2@x>"
    assert msg.references == ("<m0@x>", "<m1@x>", "<m2@x>")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("=?utf-8?q?Caf=C3=A9?=", "Café"),
        ("=?UTF-8?B?w6TDtsO8?= =?UTF-8?B?w58=?=", "äöüß"),
        # a multi-byte character split across two encoded words
        ("=?utf-8?B?ww==?= =?utf-8?B?pA==?=", "ä"),
        ("=?utf-8?Q?a?=  =?utf-8?Q?b?= c", "ab c"),
        ("=?iso-8859-1?q?=E9t=E9?= report", "été report"),
        ("=?no-such-charset?q?abc?=", "abc"),
        ("=?utf-8?B?SGVsbG8?=", "Hello"),  # missing base64 padding
        ("plain\n folded", "plain folded"),
        ("unterminated =?utf-8?q?Caf=C3=A9", "unterminated Café"),
    ],
)
def test_decode_header_value(raw, expected):
    assert decode_header_value(raw) == expected


def test_decode_header_never_raises_on_garbage():
    for raw in [
        "=?",
        "=??q??=",
        "=?utf-8?x?abc?=",
        "=?utf-8?B?====?=",
        "=?utf-8?B?bad padding?=",
        "\udcff\udcfe",
        "=?\x00?B?AA?=",
    ]:
        assert isinstance(decode_header_value(raw), str)


@pytest.mark.parametrize(
    ("data", "charset", "expected"),
    [
        ("Grüße".encode("latin-1"), "iso-8859-1", "Grüße"),
        ("„Zitat“".encode("cp1252"), "iso-8859-1", "„Zitat“"),  # mislabelled Windows-1252
        ("Grüße".encode(), "us-ascii", "Grüße"),  # mislabelled UTF-8
        ("Grüße".encode("latin-1"), "utf-8", "Grüße"),  # declared UTF-8, is Latin-1
        ("Grüße".encode("latin-1"), "x-bogus", "Grüße"),
        ("\ufeffHallo".encode(), "utf-8", "Hallo"),
        ("文字化け".encode("cp932"), "shift_jis", "文字化け"),
        ("镕子".encode("gbk"), "gb2312", "镕子"),
        ("Отчёт".encode("koi8-r"), "koi8-r", "Отчёт"),
        ("€".encode("iso-8859-15"), "iso-8859-15", "€"),
    ],
)
def test_decode_bytes_fallbacks(data, charset, expected):
    assert decode_bytes(data, charset) == expected


def test_decode_bytes_never_raises():
    assert isinstance(decode_bytes(bytes(range(256)), "utf-8"), str)
    assert isinstance(decode_bytes(b"\x1b$B\xff\xff", "iso-2022-jp"), str)
    assert isinstance(decode_bytes(b"+AGEA-\xff", "utf-7"), str)


def test_from_address_is_lower_cased_and_name_decoded():
    msg = parse_message(_msg("From: =?utf-8?q?M=C3=BCller=2C_Jens?= <Jens.Mueller@Example.DE>"))
    assert msg.from_ is not None
    assert msg.from_.address == "jens.mueller@example.de"
    assert msg.from_.name == "Müller, Jens"


def test_address_list_with_commas_in_quoted_names():
    msg = parse_message(
        _msg('From: a@b.example\nTo: "Doe, John" <john@x.example>, jane@x.example\nCc:')
    )
    assert [(a.name, a.address) for a in msg.to] == [
        ("Doe, John", "john@x.example"),
        ("", "jane@x.example"),
    ]
    assert msg.cc == ()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Date: Tue, 4 Mar 2025 11:17:33 +0100", datetime(2025, 3, 4, 10, 17, 33, tzinfo=UTC)),
        ("Date: Tue, 4 Mar 2025 11:17:33 -0000", datetime(2025, 3, 4, 11, 17, 33, tzinfo=UTC)),
        ("Date: 4 Mar 2025 11:17:33 GMT", datetime(2025, 3, 4, 11, 17, 33, tzinfo=UTC)),
        ("Date: yesterday", None),
        ("Date: Tue, 4 Mar 99999 11:17:33 +0100", None),
        ("X-No-Date: 1", None),
    ],
)
def test_dates_are_aware_utc_or_none(header, expected):
    assert parse_message(_msg("From: a@b.example\n" + header)).date == expected


def test_prefers_text_plain_and_derives_text_from_html_only():
    alt = (
        b'From: a@b.example\nMIME-Version: 1.0\nContent-Type: multipart/alternative; boundary="b"\n\n'
        b"--b\nContent-Type: text/plain\n\nplain version\n"
        b"--b\nContent-Type: text/html\n\n<p>html <b>version</b></p>\n--b--\n"
    )
    msg = parse_message(alt)
    assert msg.text == "plain version"
    assert "<b>version</b>" in msg.html
    html_only = (
        b"From: a@b.example\nContent-Type: text/html\n\n<p>Hello<br>World</p><script>x()</script>"
    )
    msg = parse_message(html_only)
    assert msg.text == "Hello\nWorld"
    assert "script" not in msg.html


def test_empty_text_alternative_falls_back_to_html():
    raw = (
        b'From: a@b.example\nContent-Type: multipart/alternative; boundary="b"\n\n'
        b"--b\nContent-Type: text/plain\n\n \n--b\nContent-Type: text/html\n\n<p>Only here</p>\n--b--\n"
    )
    assert parse_message(raw).text == "Only here"


def test_sanitised_html_keeps_cid_images_and_quote_markers_only():
    raw = (
        b"From: a@b.example\nContent-Type: text/html\n\n"
        b'<div class="gmail_quote evil-class" id="app">q</div>'
        b'<img src="cid:img1@x" onerror="x()"><img src="data:image/png;base64,AAAA">'
        b'<a href="https://x.example" style="position:fixed">l</a>'
        b'<div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3pt">From: x</div>'
    )
    html = parse_message(raw).html
    assert 'src="cid:img1@x"' in html
    assert "data:" not in html and "onerror" not in html and "position" not in html
    assert 'class="gmail_quote"' in html and "evil-class" not in html and 'id="app"' not in html
    assert "border-top:solid #E1E1E1 1.0pt" in html and "padding" not in html
    assert 'rel="noopener noreferrer"' in html


def test_multipart_without_boundary_is_read_as_text():
    raw = b"From: a@b.example\nContent-Type: multipart/mixed\n\nJust text really.\n"
    assert "Just text really." in parse_message(raw).text


def test_broken_base64_attachment_does_not_raise():
    raw = (
        b'From: a@b.example\nContent-Type: multipart/mixed; boundary="b"\n\n'
        b"--b\nContent-Type: text/plain\n\nhi\n"
        b'--b\nContent-Type: image/png; name="x.png"\nContent-Transfer-Encoding: base64\n\n'
        b"iVBORw0KGgo!!!notbase64***\n--b--\n"
    )
    msg = parse_message(raw)
    assert [a.filename for a in msg.attachments] == ["x.png"]


def test_attachment_without_name_gets_a_default():
    raw = (
        b'From: a@b.example\nContent-Type: multipart/mixed; boundary="b"\n\n'
        b"--b\nContent-Type: text/plain\n\nhi\n"
        b"--b\nContent-Type: application/pdf\nContent-Disposition: attachment\n\n%PDF\n--b--\n"
    )
    assert parse_message(raw).attachments[0].filename == "attachment-1.pdf"


def test_format_flowed_is_unwrapped():
    raw = (
        b"From: a@b.example\nContent-Type: text/plain; format=flowed\n\n"
        b"This is a long \nline.\n> quoted soft \n> break\nSig\n-- \nName\n"
    )
    text = parse_message(raw).text
    assert "This is a long line." in text
    assert "> quoted soft break" in text
    assert "-- \nName" in text


def test_headers_for_loop_protection_are_kept():
    msg = parse_message(
        _msg("From: a@b.example\nAuto-Submitted: auto-replied\nPrecedence: bulk\nX-Other: 1")
    )
    assert msg.header("Auto-Submitted") == "auto-replied"
    assert msg.header("precedence") == "bulk"
    assert msg.header("x-other") is None


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"   \r\n\r\n",
        b"\x00\x01\x02\xff\xfe binary garbage",
        b"just a line of text without any header\n",
        b"Foo: bar\n\nno mail headers at all\n",
    ],
)
def test_unparseable_messages_raise_with_a_reason(raw):
    with pytest.raises(UnparseableMessage) as info:
        parse_message(raw)
    assert info.value.reason


def test_non_bytes_input_is_unparseable():
    with pytest.raises(UnparseableMessage):
        parse_message("From: a@b\n\nx")  # type: ignore[arg-type]


def test_deeply_nested_multipart_does_not_crash():
    depth = 200
    head = "".join(
        f'Content-Type: multipart/mixed; boundary="b{i}"\n\n--b{i}\n' for i in range(depth)
    )
    tail = "".join(f"\n--b{i}--\n" for i in reversed(range(depth)))
    raw = ("From: a@b.example\n" + head + "Content-Type: text/plain\n\ndeep\n" + tail).encode()
    try:
        parse_message(raw)
    except UnparseableMessage as exc:
        assert not exc.reason.startswith("internal error")


# --------------------------------------------------------------------------- classify


def _classify(headers: str, body: str = "x\n") -> Classification:
    return classify(parse_message(_msg(headers, body)))


@pytest.mark.parametrize(
    ("headers", "flag"),
    [
        ("Auto-Submitted: auto-generated", "auto_submitted"),
        ("Auto-Submitted: auto-replied; owner-email=x@y", "auto_submitted"),
        ("Precedence: bulk", "bulk"),
        ("Precedence: junk", "bulk"),
        ("Precedence: list", "bulk"),
        ("List-Id: <dev.lists.example>", "bulk"),
        ("List-Unsubscribe: <mailto:u@x>", "bulk"),
        ("X-Autoreply: yes", "autoreply"),
        ("X-Autorespond: vacation", "autoreply"),
        ("X-MS-Exchange-Inbox-Rules-Loop: a@b.example", "autoreply"),
        ("X-Auto-Response-Suppress: All", "autoreply"),
        ("Subject: Out of Office: Re: hello", "autoreply"),
        ("Subject: Automatic reply: hello", "autoreply"),
        ("Subject: Abwesenheitsnotiz: hello", "autoreply"),
        ("Subject: AW: Automatische Antwort: hallo", "autoreply"),
        ("Subject: Réponse automatique : bonjour", "autoreply"),
    ],
)
def test_classification_rules(headers, flag):
    result = _classify("From: a@b.example\n" + headers)
    assert getattr(result, flag) is True
    assert result.automated
    assert result.reasons


def test_normal_mail_is_not_automated():
    result = _classify(
        "From: a@b.example\nSubject: Re: out of office hours support?\nAuto-Submitted: no"
    )
    assert result == Classification()
    assert not result.automated


@pytest.mark.parametrize("sender", ["MAILER-DAEMON@mx.example", "postmaster@example.org"])
def test_bounce_senders(sender):
    result = _classify(f"From: {sender}\nSubject: failure", "Message-ID: <orig@x.example>\n")
    assert result.bounce
    assert result.bounced_message_id == "<orig@x.example>"


def test_delayed_dsn_is_a_bounce_without_failed_recipients():
    raw = (
        b"From: MAILER-DAEMON@mx.example\nContent-Type: multipart/report; "
        b'report-type=delivery-status; boundary="b"\n\n'
        b"--b\nContent-Type: text/plain\n\ndelayed\n"
        b"--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx\n\n"
        b"Final-Recipient: rfc822; slow@x.example\nAction: delayed\nStatus: 4.4.1\n"
        b"--b--\n"
    )
    result = classify(parse_message(raw))
    assert result.bounce and result.failed_recipients == ()


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Re: [CL-1234] Export fails", 1234),
        ("[cl-7] lower case", 7),
        ("AW: [CL - 42 ] spaced", 42),
        ("[CL-1] first [CL-2] second", 1),
        ("CL-1234 without brackets", None),
        ("[CLX-12] other prefix", None),
        ("", None),
        (None, None),
    ],
)
def test_ticket_token(subject, expected):
    assert ticket_token(subject) == expected


def test_ticket_token_custom_prefix():
    assert ticket_token("Re: [ACME-9] x", prefix="ACME") == 9


# --------------------------------------------------------------------------- fuzz


@settings(
    max_examples=300, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck)
)
@given(st.binary(max_size=2000))
def test_fuzz_random_bytes_never_raise_anything_else(raw):
    try:
        msg = parse_message(raw)
    except UnparseableMessage as exc:
        assert not exc.reason.startswith("internal error"), exc.reason
        return
    classify(msg)
    strip_reply(msg.text, msg.html or None)


_CORPUS = [_load(n) for n in NAMES if (FIXTURES / n).stat().st_size < 20_000]


def _mutate(data: bytes, seed: int, count: int) -> bytes:
    rng = random.Random(seed)
    buf = bytearray(data)
    for _ in range(count):
        op = rng.randrange(5)
        pos = rng.randrange(len(buf) + 1)
        if op == 0 and buf:  # flip a byte
            buf[min(pos, len(buf) - 1)] = rng.randrange(256)
        elif op == 1:  # insert structure-looking bytes
            buf[pos:pos] = rng.choice(
                [
                    b"\n",
                    b"\r\n",
                    b"=?",
                    b"?=",
                    b"--",
                    b"boundary=",
                    b";",
                    b":",
                    b"=",
                    b"\x00",
                    b"\xff",
                ]
            )
        elif op == 2:  # delete a chunk
            del buf[pos : pos + rng.randrange(1, 64)]
        elif op == 3:  # duplicate a chunk
            buf[pos:pos] = buf[pos : pos + rng.randrange(1, 64)]
        else:  # truncate
            del buf[pos:]
    return bytes(buf)


@settings(
    max_examples=400, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck)
)
@given(
    st.integers(min_value=0, max_value=len(_CORPUS) - 1),
    st.integers(min_value=0, max_value=2**32),
    st.integers(min_value=1, max_value=20),
)
def test_fuzz_mutated_corpus_never_raises_anything_else(index, seed, count):
    raw = _mutate(_CORPUS[index], seed, count)
    try:
        msg = parse_message(raw)
    except UnparseableMessage as exc:
        assert not exc.reason.startswith("internal error"), exc.reason
        return
    result = classify(msg)
    assert isinstance(result, Classification)
    stripped = strip_reply(msg.text, msg.html or None)
    if msg.text.strip():
        assert stripped.new_text.strip()


def test_no_message_loses_its_body_text():
    for name in NAMES:
        msg = parse_message(_load(name))
        if EXPECTED[name].get("text", None) == "":
            continue
        assert msg.text.strip(), name
        assert re.search(r"\w", msg.text), name
