"""Inbound mail parsing: raw RFC 5322 bytes in, one immutable ``ParsedMessage`` out.

No Django here (the ingest pipeline and the models call this, not the other way round).
Built on the stdlib ``email`` package with ``policy.default``, but every header we need is
read from its *raw* value and decoded by our own tolerant code, because real mail carries
malformed encoded words, 8-bit headers, unknown or mislabelled charsets and broken
MIME structure. The rule: anything that can be read is read, with graceful fallbacks
(declared charset, then UTF-8, then Windows-1252 with replacement), and only a message
that is not a message at all raises ``UnparseableMessage`` so the caller can quarantine
it with the reason. See docs/email-parsing.md.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import email
import email.policy
import email.utils
import functools
import hashlib
import mimetypes
import quopri
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from typing import Any

import nh3

from caseline.text import QUOTE_CLASSES, QUOTE_IDS, html_to_text
from caseline.text.html import ALLOWED_ATTRIBUTES, ALLOWED_TAGS, CONTENT_REMOVED, URL_SCHEMES

__all__ = [
    "Address",
    "Attachment",
    "Classification",
    "LOOP_HEADERS",
    "ParsedMessage",
    "UnparseableMessage",
    "classify",
    "clean_html",
    "decode_bytes",
    "decode_header_value",
    "normalise_message_id",
    "parse_message",
    "ticket_token",
]


class UnparseableMessage(ValueError):
    """The bytes are not a mail message we can read; ``reason`` says why (for quarantine)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Address:
    name: str
    address: str  # lower-cased; may be "" when only a display name was given

    def __str__(self) -> str:
        return email.utils.formataddr((self.name, self.address)) if self.name else self.address


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content_type: str
    content: bytes = field(repr=False)
    content_id: str | None = None  # without angle brackets: matches ``src="cid:…"``
    is_inline: bool = False

    @property
    def size(self) -> int:
        return len(self.content)


#: Headers kept verbatim (decoded) on ParsedMessage for loop protection and bounces.
LOOP_HEADERS: tuple[str, ...] = (
    "auto-submitted",
    "precedence",
    "list-id",
    "list-unsubscribe",
    "list-post",
    "mailing-list",
    "x-autoreply",
    "x-autorespond",
    "x-auto-response-suppress",
    "x-ms-exchange-inbox-rules-loop",
    "x-ms-exchange-generated-message-source",
    "x-failed-recipients",
    "x-loop",
    "return-path",
    "sender",
    "reply-to",
)


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    message_id: str | None
    in_reply_to: str | None
    references: tuple[str, ...]
    subject: str
    from_: Address | None
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    reply_to: tuple[Address, ...]
    date: datetime | None  # aware, UTC
    text: str  # text/plain body, or derived from the HTML body
    html: str  # sanitised with nh3; "" when the message had no HTML body
    attachments: tuple[Attachment, ...]
    headers: tuple[tuple[str, str], ...]  # (lower-cased name, decoded value), LOOP_HEADERS only
    content_type: str  # of the top-level entity, e.g. "multipart/report"
    report_type: str | None  # the report-type parameter of a multipart/report
    sha256: str  # of the raw bytes (dedup key when Message-ID is missing)
    size: int
    defects: tuple[str, ...] = ()

    def header(self, name: str) -> str | None:
        """The first kept header called ``name`` (case-insensitive), or None."""
        name = name.lower()
        return next((value for key, value in self.headers if key == name), None)

    def has_header(self, name: str) -> bool:
        return self.header(name) is not None


# --------------------------------------------------------------------------- charsets

_CHARSET_ALIASES = {
    # Mail in the wild labelled Latin-1 is nearly always Windows-1252 (what browsers do).
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "ms_kanji": "cp932",
    "iso-2022-jp": "iso2022_jp_2",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "utf8": "utf-8",
    "utf-8": "utf-8-sig",
    "unicode-1-1-utf-7": "utf-7",
    "iso-8859-8-i": "iso-8859-8",
    "windows-874": "cp874",
}
_UNKNOWN_CHARSETS = frozenset({"", "unknown", "unknown-8bit", "x-unknown", "default", "charset"})


def _codec(charset: str | None) -> str | None:
    """A Python codec name for a MIME charset label, or None when unknown."""
    if not charset:
        return None
    label = charset.strip().strip("\"'").lower()
    label = label.split("*", 1)[0]  # RFC 2231 language suffix
    if label in _UNKNOWN_CHARSETS:
        return None
    label = _CHARSET_ALIASES.get(label, label)
    try:
        return codecs.lookup(label).name
    except (LookupError, ValueError, TypeError):
        return None


# Multi-byte and stateful charsets are tried as declared first; for single-byte labels
# (ASCII, Latin-x, Windows-125x, KOI8-R, ...) bytes that are valid UTF-8 are read as
# UTF-8 (a classic mislabelling; valid UTF-8 by accident in Latin text is vanishingly rare).
_MULTIBYTE = ("utf", "cp932", "shift", "euc", "gb", "big5", "iso2022", "cp949", "cp950", "hz")


def decode_bytes(data: bytes, charset: str | None = None) -> str:
    """Decode ``data``: declared charset (UTF-8 first when the label is a single-byte
    charset), then UTF-8, then Windows-1252 with replacement. Never raises."""
    declared = _codec(charset)
    order: tuple[str | None, ...] = (declared, "utf-8-sig")
    if declared and not declared.startswith(_MULTIBYTE) and not data.isascii():
        order = ("utf-8-sig", declared)
    tried: list[str] = []
    for name in order:
        if name is None or name in tried:
            continue
        tried.append(name)
        try:
            return data.decode(name).lstrip("\ufeff")
        except (UnicodeDecodeError, LookupError):
            continue
        except Exception:  # some codecs raise other errors on garbage
            continue
    return data.decode("cp1252", errors="replace")


def _unescape_surrogates(value: str) -> str:
    """Headers with raw 8-bit bytes arrive as surrogate escapes; decode those bytes."""
    if not any("\udc80" <= ch <= "\udcff" for ch in value):
        return value
    return decode_bytes(value.encode("utf-8", errors="surrogateescape"))


# --------------------------------------------------------------------------- headers

_ENCODED_WORD = re.compile(r"=\?([^?\s]*)\?([bBqQ])\?([^?]*?)\?=")
_UNTERMINATED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]+)(?=\s|$)")
_WS_ONLY = re.compile(r"^[ \t\r\n]*$")


def _decode_word_payload(encoding: str, payload: str) -> bytes:
    if encoding.lower() == "b":
        cleaned = re.sub(r"[^A-Za-z0-9+/]", "", payload)
        cleaned += "=" * (-len(cleaned) % 4)
        try:
            return base64.b64decode(cleaned)
        except (binascii.Error, ValueError):
            return payload.encode("ascii", errors="replace")
    return quopri.decodestring(payload.replace("_", " ").encode("ascii", errors="replace"))


def decode_header_value(value: str | None) -> str:
    """Decode RFC 2047 encoded words tolerantly (unknown charsets, bad padding, words
    split inside a multi-byte character, missing whitespace) and unfold the header."""
    if not value:
        return ""
    value = _unescape_surrogates(value)
    value = re.sub(r"\r?\n[ \t]", " ", value).replace("\r", "").replace("\n", " ")
    # An encoded word missing its closing "?=" (seen from broken mailers): close it.
    value = _UNTERMINATED_WORD.sub(r"=?\1?\2?\3?=", value)
    out: list[str] = []
    pending: list[bytes] = []
    pending_charset: str | None = None
    pos = 0

    def flush() -> None:
        nonlocal pending, pending_charset
        if pending:
            out.append(decode_bytes(b"".join(pending), pending_charset))
        pending, pending_charset = [], None

    for match in _ENCODED_WORD.finditer(value):
        between = value[pos : match.start()]
        charset = match.group(1).lower()
        if not (pending and _WS_ONLY.match(between)):
            flush()
            out.append(between)
        elif charset != pending_charset:
            flush()
        pending.append(_decode_word_payload(match.group(2), match.group(3)))
        pending_charset = charset
        pos = match.end()
    flush()
    out.append(value[pos:])
    return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "", "".join(out)).strip()


def _raw_headers(msg: Message) -> list[tuple[str, str]]:
    try:
        return [(str(k), str(v)) for k, v in msg.raw_items()]
    except Exception:
        return []


def _raw_get(raw: list[tuple[str, str]], name: str) -> str | None:
    name = name.lower()
    return next((v for k, v in raw if k.strip().lower() == name), None)


def _raw_get_all(raw: list[tuple[str, str]], name: str) -> list[str]:
    name = name.lower()
    return [v for k, v in raw if k.strip().lower() == name]


_ANGLE_ID = re.compile(r"<\s*([^<>\s]+?)\s*>")


def normalise_message_id(value: str | None) -> str | None:
    """``<local@domain>`` from a Message-ID-like header value, or None."""
    if not value:
        return None
    value = _unescape_surrogates(value).strip()
    match = _ANGLE_ID.search(value)
    if match:
        return f"<{match.group(1)}>"
    token = next((t for t in value.split() if "@" in t), None)
    if token is None:
        token = value.split()[0] if value.split() else ""
    token = token.strip("<>()\"',;")
    return f"<{token}>" if token and len(token) <= 998 else None


def _message_ids(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    ids = [f"<{m}>" for m in _ANGLE_ID.findall(_unescape_surrogates(value))]
    if not ids:
        ids = [f"<{t.strip('<>,;')}>" for t in value.split() if "@" in t and t.strip("<>,;")]
    seen: dict[str, None] = {}
    for mid in ids:
        seen.setdefault(mid, None)
    return tuple(seen)


_ADDR_SPEC = re.compile(r"[^\s<>(),;:\"@]+@[^\s<>(),;:\"@]+")
_ADDR_FALLBACK = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w.-]+", re.UNICODE)


def _addresses(values: list[str]) -> tuple[Address, ...]:
    result: list[Address] = []
    for value in values:
        value = _unescape_surrogates(value)
        value = re.sub(r"\r?\n[ \t]*", " ", value)
        try:
            pairs = email.utils.getaddresses([value])
        except Exception:
            pairs = []
        good = [(n, a) for n, a in pairs if a and _ADDR_SPEC.fullmatch(a)]
        if not good and _ADDR_FALLBACK.search(value):
            # Malformed (unbalanced quotes, missing brackets): pick the addresses out.
            good = [("", a) for a in _ADDR_FALLBACK.findall(value)]
            if len(good) == 1:
                name = value.split("<", 1)[0] if "<" in value else ""
                good = [(name.strip().strip('"').strip(), good[0][1])]
        for name, addr in good:
            result.append(
                Address(name=decode_header_value(name).strip('"').strip(), address=addr.lower())
            )
    return tuple(result)


def _parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(_unescape_surrogates(value).strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None:
        return None
    try:
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


# --------------------------------------------------------------------------- MIME parts


def _content_type(part: Message) -> str:
    try:
        ctype = part.get_content_type()
    except Exception:
        return "application/octet-stream"
    if not re.fullmatch(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+", ctype or ""):
        return "application/octet-stream"
    return ctype


def _param(part: Message, name: str, header: str = "content-type") -> str | None:
    try:
        value = part.get_param(name, header=header)
    except Exception:
        return None
    if value is None:
        return None
    if isinstance(value, tuple):
        try:
            value = email.utils.collapse_rfc2231_value(value, errors="replace")
        except Exception:
            value = str(value[2])
    return _unescape_surrogates(str(value))


def _disposition(part: Message) -> str:
    raw = _raw_get(_raw_headers(part), "content-disposition") or ""
    return _unescape_surrogates(raw).split(";", 1)[0].strip().lower()


def _filename(part: Message) -> str | None:
    name = _param(part, "filename", "content-disposition") or _param(part, "name")
    if not name:
        return None
    name = decode_header_value(name)
    name = re.split(r"[\\/]", name)[-1]
    name = re.sub(r"[\x00-\x1f\x7f]", "", name).strip().strip(".").strip()
    return name[:255] or None


def _payload_bytes(part: Message) -> bytes:
    """The decoded payload (base64, quoted-printable, 7/8bit); lenient, never raises."""
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if isinstance(data, bytes):
        return data
    try:
        raw = part.get_payload(decode=False)
    except Exception:
        return b""
    if not isinstance(raw, str):
        return b""
    return raw.encode("utf-8", errors="surrogateescape")


def _part_text(part: Message) -> str:
    text = decode_bytes(_payload_bytes(part), _param(part, "charset"))
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\ufeff", "")
    if (_param(part, "format") or "").lower() == "flowed":
        text = _unflow(text, (_param(part, "delsp") or "").lower() == "yes")
    return text


def _unflow(text: str, delsp: bool) -> str:
    """RFC 3676 format=flowed: join soft-broken lines (those ending in a space)."""
    out: list[str] = []
    buffer = ""
    buffer_depth = -1
    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):
            content = content[1:]  # space-stuffing
        if buffer and depth != buffer_depth:
            out.append(">" * buffer_depth + (" " if buffer_depth else "") + buffer)
            buffer = ""
        if content.endswith(" ") and content != "-- ":
            buffer += content[:-1] if delsp else content
            buffer_depth = depth
            continue
        buffer += content
        out.append(">" * depth + (" " if depth else "") + buffer)
        buffer, buffer_depth = "", -1
    if buffer:
        out.append(">" * max(buffer_depth, 0) + (" " if buffer_depth > 0 else "") + buffer)
    return "\n".join(out)


def _message_bytes(part: Message) -> bytes:
    """Bytes of a message/rfc822 part's enclosed message."""
    try:
        payload = part.get_payload()
        inner = payload[0] if isinstance(payload, list) and payload else None
        if isinstance(inner, Message):
            return inner.as_bytes(policy=email.policy.compat32)
    except Exception:
        pass
    try:
        return part.as_bytes(policy=email.policy.compat32).split(b"\n\n", 1)[-1]
    except Exception:
        return b""


def _blocks_bytes(part: Message) -> bytes:
    """Bytes of a message/delivery-status part (the stdlib parses it into field blocks)."""
    blocks = part.get_payload()
    if not isinstance(blocks, list):
        return b""
    out: list[bytes] = []
    for block in blocks:
        if not isinstance(block, Message):
            continue
        try:
            out.append(block.as_bytes(policy=email.policy.compat32).strip())
        except Exception:
            continue
    return b"\n\n".join(out) + b"\n"


MAX_DEPTH = 30
MAX_PARTS = 2000


@dataclass
class _Collector:
    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    parts: int = 0


def _default_name(ctype: str, index: int) -> str:
    if ctype == "message/rfc822":
        return "message.eml"
    if ctype == "message/delivery-status":
        return "delivery-status.txt"
    if ctype == "text/rfc822-headers":
        return "rfc822-headers.txt"
    if ctype == "application/ms-tnef":
        return "winmail.dat"
    ext = mimetypes.guess_extension(ctype) or ".bin"
    return f"attachment-{index}{ext}"


def _walk(part: Message, into: _Collector, depth: int = 0) -> None:
    into.parts += 1
    if depth > MAX_DEPTH or into.parts > MAX_PARTS:
        return
    ctype = _content_type(part)
    maintype = ctype.split("/", 1)[0]
    if maintype == "multipart":
        payload = part.get_payload() if part.is_multipart() else None
        if isinstance(payload, list):
            for child in payload:
                if isinstance(child, Message):
                    _walk(child, into, depth + 1)
            return
        # multipart without a usable boundary: read the body as text
        ctype, maintype = "text/plain", "text"

    disposition = _disposition(part)
    filename = _filename(part)
    content_id = normalise_message_id(_raw_get(_raw_headers(part), "content-id"))
    if ctype in ("text/plain", "text/html") and disposition != "attachment" and not filename:
        (into.plain if ctype == "text/plain" else into.html).append(_part_text(part))
        return

    if ctype == "message/delivery-status" and part.is_multipart():
        content = _blocks_bytes(part)
    elif ctype == "message/rfc822" or ctype.startswith("message/") and part.is_multipart():
        content = _message_bytes(part)
    elif ctype.startswith("message/"):
        content = _payload_bytes(part)
        if not content:
            try:
                content = part.as_bytes(policy=email.policy.compat32).split(b"\n\n", 1)[-1]
            except Exception:
                content = b""
    else:
        content = _payload_bytes(part)
    into.attachments.append(
        Attachment(
            filename=filename or _default_name(ctype, len(into.attachments) + 1),
            content_type=ctype,
            content=content,
            content_id=content_id[1:-1] if content_id else None,
            is_inline=disposition == "inline" or (not disposition and content_id is not None),
        )
    )


# --------------------------------------------------------------------------- HTML

# The product's allowlist (caseline/text/html.py), plus what mail needs on top: <font>
# (old clients style with it), blockquote type="cite", and the class/id/style of the
# clients' quote containers so the quote stripper can still find them.
_ALLOWED_TAGS = set(ALLOWED_TAGS) | {"font"}
_ALLOWED_ATTRIBUTES = {k: set(v) for k, v in ALLOWED_ATTRIBUTES.items()}
_ALLOWED_ATTRIBUTES["blockquote"] = _ALLOWED_ATTRIBUTES["blockquote"] | {"type"}
_ALLOWED_ATTRIBUTES["div"] = {"class", "id", "style"}
# The only style kept: Outlook's "From:/Sent:" separator border (a quote marker).
_OUTLOOK_SEPARATOR = re.compile(r"border-top\s*:\s*solid\s+#(?:e1e1e1|b5c4df)[^;\"'<>]*", re.I)


def _attribute_filter(element: str, attribute: str, value: str) -> str | None:
    if attribute == "style":
        match = _OUTLOOK_SEPARATOR.search(value)
        return match.group(0).strip() if match else None
    if attribute == "class":  # only the quote markers: no clash with our own CSS
        kept = [c for c in value.split() if c.lower() in QUOTE_CLASSES]
        return " ".join(kept) or None
    if attribute == "id":  # only the quote markers: no DOM clobbering of our pages
        return value if value.lower() in QUOTE_IDS else None
    return value


_cleaner = nh3.Cleaner(
    tags=_ALLOWED_TAGS,
    clean_content_tags=set(CONTENT_REMOVED),
    attributes=_ALLOWED_ATTRIBUTES,
    url_schemes=set(URL_SCHEMES),
    link_rel="noopener noreferrer",
    strip_comments=True,
    attribute_filter=_attribute_filter,
)


def clean_html(html: str) -> str:
    """Sanitised HTML (nh3): no scripts, styles, event handlers, forms, frames, ``data:``
    or ``javascript:`` URLs; links get rel="noopener noreferrer"; ``cid:`` images stay."""
    if not html or not html.strip():
        return ""
    return str(_cleaner.clean(html)).strip()


# --------------------------------------------------------------------------- entry point


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse raw RFC 5322 bytes. Raises only ``UnparseableMessage``."""
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise UnparseableMessage(f"expected bytes, got {type(raw).__name__}")
    raw = bytes(raw)
    if not raw.strip():
        raise UnparseableMessage("empty message")
    try:
        return _parse(raw)
    except UnparseableMessage:
        raise
    except RecursionError:
        raise UnparseableMessage("MIME structure nested too deeply")
    except Exception as exc:  # the caller quarantines; it must never lose the message
        raise UnparseableMessage(f"internal error: {type(exc).__name__}: {exc}")


_HEADER_LINE = re.compile(rb"^[!-9;-~]+[ \t]*:")


class _MemoPolicy(email.policy.EmailPolicy):
    """``email.policy.default`` whose parsed header objects are memoised by (name, raw
    value). The stdlib parses a header again on every read, and reading a part's
    Content-Type (type, charset, format, filename ...) is most of the MIME walk: about
    17 parses per message, of a few distinct values. Header objects are immutable, so
    sharing one between reads and messages changes nothing."""

    def header_fetch_parse(self, name: str, value: str) -> Any:  # noqa: D102 - see the class
        if hasattr(value, "name") or len(value) > 2000:
            return super().header_fetch_parse(name, value)
        return _parsed_header(self, name, value)


@functools.lru_cache(maxsize=2048)
def _parsed_header(policy: email.policy.EmailPolicy, name: str, value: str) -> Any:
    return email.policy.EmailPolicy.header_fetch_parse(policy, name, value)


#: The policy messages are parsed with (``email.policy.default`` plus the memo).
POLICY = _MemoPolicy()


def _parse(raw: bytes) -> ParsedMessage:
    # Skip an mbox "From " line and leading blank lines some MTAs/exports leave in front.
    body = raw.lstrip(b"\r\n")
    if body.startswith(b"From ") and not _HEADER_LINE.match(body):
        body = body.split(b"\n", 1)[1] if b"\n" in body else b""
    msg = email.message_from_bytes(body, policy=POLICY)
    raw_headers = _raw_headers(msg)
    if not raw_headers:
        # A mangled first line hides every header behind it: skip up to ten such lines.
        lines = body.split(b"\n", 10)
        start = next((i for i, line in enumerate(lines[:10]) if _HEADER_LINE.match(line)), 0)
        if start:
            body = b"\n".join(lines[start:])
            msg = email.message_from_bytes(body, policy=POLICY)
            raw_headers = _raw_headers(msg)
    if not raw_headers:
        raise UnparseableMessage("no header fields found")
    known = {k.strip().lower() for k, _ in raw_headers}
    if not known & {"from", "to", "subject", "date", "message-id", "received", "mime-version"}:
        raise UnparseableMessage("no mail header fields (From/To/Subject/Date/Message-ID)")

    collected = _Collector()
    _walk(msg, collected)

    text = "\n\n".join(t.strip("\n") for t in collected.plain if t.strip())
    html_raw = "\n".join(collected.html)
    html = clean_html(html_raw)
    if not text.strip() and html_raw.strip():
        text = html_to_text(html_raw)

    senders = _addresses(_raw_get_all(raw_headers, "from"))
    if not senders:
        senders = _addresses(_raw_get_all(raw_headers, "sender"))
    headers = tuple(
        (k.strip().lower(), decode_header_value(v))
        for k, v in raw_headers
        if k.strip().lower() in LOOP_HEADERS
    )
    ctype = _content_type(msg)
    report_type = _param(msg, "report-type") if ctype == "multipart/report" else None
    defects: list[str] = []
    try:
        for sub in msg.walk():
            defects += [type(d).__name__ for d in getattr(sub, "defects", [])]
    except Exception:
        pass
    return ParsedMessage(
        message_id=normalise_message_id(_raw_get(raw_headers, "message-id")),
        in_reply_to=next(iter(_message_ids(_raw_get(raw_headers, "in-reply-to"))), None),
        references=_message_ids(" ".join(_raw_get_all(raw_headers, "references"))),
        subject=decode_header_value(_raw_get(raw_headers, "subject")),
        from_=senders[0] if senders else None,
        to=_addresses(_raw_get_all(raw_headers, "to")),
        cc=_addresses(_raw_get_all(raw_headers, "cc")),
        reply_to=_addresses(_raw_get_all(raw_headers, "reply-to")),
        date=_parse_date(_raw_get(raw_headers, "date")),
        text=text.strip("\n"),
        html=html,
        attachments=tuple(collected.attachments),
        headers=headers,
        content_type=ctype,
        report_type=report_type.lower() if report_type else None,
        sha256=hashlib.sha256(raw).hexdigest(),
        size=len(raw),
        defects=tuple(dict.fromkeys(defects)),
    )


# --------------------------------------------------------------------------- classification


@dataclass(frozen=True, slots=True)
class Classification:
    auto_submitted: bool = False
    bulk: bool = False
    autoreply: bool = False
    bounce: bool = False
    bounced_message_id: str | None = None
    failed_recipients: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()  # which rules fired, for the audit trail

    @property
    def automated(self) -> bool:
        """Machine-sent: never answer it automatically."""
        return self.auto_submitted or self.bulk or self.autoreply or self.bounce


_AUTOREPLY_SUBJECT = re.compile(
    r"^\s*(?:(?:re|aw|fw|fwd|wg)\s*:\s*)*(?:"
    r"out of (?:the )?office|automatic reply|auto(?:matic)?[- ]?response|autoreply|"
    r"auto:|abwesenheitsnotiz|automatische antwort|abwesend|"
    r"r[ée]ponse automatique|absence du bureau|respuesta autom[áa]tica|fuera de la oficina|"
    r"automatisch antwoord|afwezig)(?:\s*auto-?reply)?\s*(?::|-|$)",
    re.IGNORECASE,
)
_BOUNCE_SENDERS = frozenset({"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon"})


@functools.lru_cache(maxsize=16)
def _token_pattern(prefix: str) -> re.Pattern[str]:
    return re.compile(rf"\[\s*{re.escape(prefix)}\s*-\s*(\d{{1,18}})\s*\]", re.IGNORECASE)


def ticket_token(subject: str | None, prefix: str = "CL") -> int | None:
    """The ticket number of the first ``[CL-1234]`` token in ``subject``, or None."""
    if not subject:
        return None
    match = _token_pattern(prefix).search(subject)
    return int(match.group(1)) if match else None


def _dsn_fields(content: bytes) -> list[dict[str, str]]:
    """The field blocks of a message/delivery-status body (per-message, per-recipient)."""
    text = decode_bytes(content).replace("\r\n", "\n")
    blocks: list[dict[str, str]] = []
    for chunk in re.split(r"\n[ \t]*\n", text):
        fields: dict[str, str] = {}
        last = ""
        for line in chunk.split("\n"):
            if line[:1] in (" ", "\t") and last:
                fields[last] += " " + line.strip()
                continue
            name, sep, value = line.partition(":")
            if sep:
                last = name.strip().lower()
                fields[last] = value.strip()
        if fields:
            blocks.append(fields)
    return blocks


def _address_of(value: str) -> str:
    value = value.split(";", 1)[-1] if ";" in value else value
    return value.strip().strip("<>").strip().lower()


def _bounced_id(content: bytes) -> str | None:
    try:
        inner = email.message_from_bytes(content, policy=email.policy.compat32)
        return normalise_message_id(_raw_get(_raw_headers(inner), "message-id"))
    except Exception:
        return None


def classify(parsed: ParsedMessage) -> Classification:
    """Loop and noise protection flags for a parsed message (see docs/email-parsing.md)."""
    reasons: list[str] = []

    def has(name: str) -> str | None:
        return parsed.header(name)

    auto_value = (has("auto-submitted") or "").split(";", 1)[0].strip().lower()
    auto_submitted = bool(auto_value) and auto_value != "no"
    if auto_submitted:
        reasons.append(f"auto-submitted: {auto_value}")

    precedence = (has("precedence") or "").strip().lower()
    bulk = precedence in ("bulk", "junk", "list")
    if bulk:
        reasons.append(f"precedence: {precedence}")
    for name in ("list-id", "list-unsubscribe"):
        if has(name) is not None:
            bulk = True
            reasons.append(f"{name} present")

    autoreply = False
    for name in ("x-autoreply", "x-autorespond", "x-ms-exchange-inbox-rules-loop"):
        if has(name) is not None:
            autoreply = True
            reasons.append(f"{name} present")
    suppress = (has("x-auto-response-suppress") or "").lower()
    if re.search(r"\b(all|oof)\b", suppress):
        autoreply = True
        reasons.append(f"x-auto-response-suppress: {suppress}")
    if precedence == "auto_reply":
        autoreply = True
        reasons.append("precedence: auto_reply")
    if _AUTOREPLY_SUBJECT.search(parsed.subject):
        autoreply = True
        reasons.append("auto-reply subject")

    sender = parsed.from_.address if parsed.from_ else ""
    local = sender.split("@", 1)[0]
    bounce = local in _BOUNCE_SENDERS
    if bounce:
        reasons.append(f"bounce sender {local}")
    dsn = parsed.content_type == "multipart/report" and parsed.report_type == "delivery-status"
    if dsn:
        bounce = True
        reasons.append("delivery-status report")

    bounced_id: str | None = None
    failed: list[str] = []
    if bounce:
        for att in parsed.attachments:
            if att.content_type == "message/delivery-status":
                for block in _dsn_fields(att.content):
                    recipient = block.get("final-recipient") or block.get("original-recipient")
                    action = block.get("action", "").lower()
                    status = block.get("status", "")
                    if recipient and (action == "failed" or (not action and status[:1] == "5")):
                        failed.append(_address_of(recipient))
            elif (
                att.content_type in ("message/rfc822", "text/rfc822-headers") and bounced_id is None
            ):
                bounced_id = _bounced_id(att.content)
        for value in (has("x-failed-recipients") or "").split(","):
            if "@" in value:
                failed.append(_address_of(value))
        if bounced_id is None:
            # Bounces without a DSN part quote the original headers in the body.
            match = re.search(r"^\s*>?\s*Message-ID:\s*(<[^<>\s]+>)", parsed.text, re.I | re.M)
            if match:
                bounced_id = match.group(1)
    return Classification(
        auto_submitted=auto_submitted,
        bulk=bulk,
        autoreply=autoreply,
        bounce=bounce,
        bounced_message_id=bounced_id,
        failed_recipients=tuple(dict.fromkeys(failed)),
        reasons=tuple(reasons),
    )
