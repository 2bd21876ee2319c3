"""Quote and signature stripping for inbound mail: what did the sender write *this time*?

Pure: no Django, no other caseline imports. ``strip_reply`` is our own interface over
mail-parser-reply (text level: "On … wrote:", "Von:/Gesendet:" blocks, "-----Original
Message-----", signatures) with an HTML pre-pass in front of it that cuts the quote
containers mail clients mark up explicitly (Gmail ``gmail_quote``, Outlook
``divRplyFwdMsg`` and the "From:/Sent:" separator block, ``blockquote type=cite`` of Apple
Mail and Thunderbird, Yahoo ``yahoo_quoted``, Thunderbird ``moz-cite-prefix``).

The full text always stays available: ``StrippedReply.full_text`` is the whole message
as text and ``quoted_text`` what was cut below the new text. ``new_text`` is never empty
for a message that had content: when stripping would leave nothing (a bottom-posted
reply the rules do not understand, a bare forward), it falls back to the full text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from html import unescape
from html.parser import HTMLParser

from mailparser_reply.parser import EmailMessage, EmailReply  # type: ignore[import-untyped]

__all__ = [
    "DEFAULT_LANGUAGES",
    "QUOTE_CLASSES",
    "QUOTE_IDS",
    "HtmlSplit",
    "StrippedReply",
    "html_to_text",
    "may_mark_quote",
    "split_html_quote",
    "strip_reply",
]

DEFAULT_LANGUAGES: tuple[str, ...] = ("en", "de", "fr", "es", "nl")

# mail-parser-reply's header patterns backtrack badly on long lines (measured here: 20
# lines of 10,000 characters took 18 s). Text beyond MAX_STRIP_CHARS is not fed to it (the
# tail is kept as-is when no quote header was found in the head), and lines longer than
# MAX_LINE_CHARS are swapped for placeholders while it runs (no quote header is that long).
MAX_STRIP_CHARS = 32_000
MAX_LINE_CHARS = 400


@dataclass(frozen=True, slots=True)
class StrippedReply:
    """The new part of a message, what it quoted, and the signature that was removed."""

    new_text: str
    quoted_text: str
    signature: str
    full_text: str = ""
    #: True when nothing could be stripped safely and new_text is the full text.
    fell_back: bool = False


# --------------------------------------------------------------------------- HTML


_VOID = frozenset(
    {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
    }
)
_SKIP_CONTENT = frozenset({"script", "style", "head", "title", "template", "noscript"})
# Blocks that stand apart by a blank line, and blocks that only start a new line.
_PARAGRAPH = frozenset(
    {"blockquote", "dl", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "ol", "p", "pre", "table", "ul"}
)
_LINE = frozenset(
    {"address", "article", "dd", "div", "dt", "footer", "header", "li", "section", "tr"}
)

QUOTE_CLASSES = frozenset(
    {
        "gmail_quote",
        "gmail_quote_container",
        "gmail_extra",
        "yahoo_quoted",
        "moz-cite-prefix",
        "moz-forward-container",
        "outlookmessageheader",
        "protonmail_quote",
        "zmail_extra",
        "aolreplyquote",
    }
)
QUOTE_IDS = frozenset(
    {
        "divrplyfwdmsg",
        "appendonsend",
        "mail-editor-reference-message-container",
        "yahoo_quoted",
        "zwchr",
    }
)
# Outlook desktop's "From:/Sent:" block is a div with a thin top border.
_OUTLOOK_BORDER = re.compile(r"border-top\s*:\s*solid\s+#(?:e1e1e1|b5c4df)", re.IGNORECASE)


def _is_quote_start(tag: str, attrs: list[tuple[str, str | None]]) -> bool:
    values = {name.lower(): (value or "") for name, value in attrs}
    if tag == "blockquote" and values.get("type", "").lower() == "cite":
        return True
    classes = {c.lower() for c in values.get("class", "").split()}
    if classes & QUOTE_CLASSES:
        return True
    if values.get("id", "").lower() in QUOTE_IDS:
        return True
    return tag == "div" and bool(_OUTLOOK_BORDER.search(values.get("style", "")))


class _Splitter(HTMLParser):
    """Turns HTML into text parts, each marked as inside or outside a quote container."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[tuple[str, bool]] = []
        self.found_quote = False
        self._skip = 0
        self._quote_tag: str | None = None
        self._quote_depth = 0
        self._pre = 0
        self._newlines = 2  # trailing newlines of the output so far (start: a fresh line)

    def _emit(self, text: str) -> None:
        self.parts.append((text, self._quote_tag is not None))
        stripped = text.rstrip("\n")
        if stripped:
            self._newlines = len(text) - len(stripped)
        else:
            self._newlines += len(text)

    def _ensure(self, count: int) -> None:
        if self._newlines < count:
            self._emit("\n" * (count - self._newlines))

    def _block(self, tag: str) -> None:
        if tag in _PARAGRAPH:
            self._ensure(2)
        elif tag in _LINE:
            self._ensure(1)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_CONTENT:
            self._skip += 1
            return
        if self._quote_tag is None and _is_quote_start(tag, attrs):
            self._quote_tag = tag
            self._quote_depth = 0
            self.found_quote = True
        if self._quote_tag == tag and tag not in _VOID:
            self._quote_depth += 1
        if tag == "pre":
            self._pre += 1
        if tag == "br":
            self._emit("\n")
        self._block(tag)
        if tag == "li":
            self._emit("- ")
        elif tag in ("td", "th") and self._newlines == 0:
            self._emit(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self._emit("\n")
        else:
            self._block(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_CONTENT:
            self._skip = max(0, self._skip - 1)
            return
        if tag == "pre":
            self._pre = max(0, self._pre - 1)
        self._block(tag)
        if self._quote_tag == tag:
            self._quote_depth -= 1
            if self._quote_depth <= 0:
                self._quote_tag = None

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if not self._pre:
            data = re.sub(r"[ \t\r\n\f]+", " ", data)
            if self._newlines and not data.strip():
                return
        self._emit(data)


_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u200b]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def _tidy(text: str) -> str:
    lines = [_SPACES.sub(" ", line).strip() for line in unescape(text).split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


@dataclass(frozen=True, slots=True)
class HtmlSplit:
    """An HTML message as text: all of it, the part above the first quote container,
    and everything outside quote containers."""

    full: str
    before_quote: str
    outside_quotes: str
    found_quote: bool


def _run_splitter(html: str) -> _Splitter:
    splitter = _Splitter()
    try:
        splitter.feed(html)
        splitter.close()
    except Exception:  # html.parser is lenient; this is only a last line of defence
        pass
    return splitter


_MARKERS = (
    "blockquote",  # <blockquote type="cite">
    "border-top",  # Outlook desktop's separator block
    *sorted(QUOTE_CLASSES | QUOTE_IDS),
)


def may_mark_quote(html: str) -> bool:
    """False when ``html`` certainly has no quote container for the pre-pass to find
    (none of the tag, class, id or style markers occurs in it, also after resolving
    character references, which the HTML parser resolves in attribute values)."""
    lower = (unescape(html) if "&" in html else html).lower()
    return any(marker in lower for marker in _MARKERS)


def split_html_quote(html: str) -> HtmlSplit:
    """Split HTML at the quote containers mail clients mark up (the HTML pre-pass)."""
    splitter = _run_splitter(html)
    parts = splitter.parts
    first = next((i for i, (_, quoted) in enumerate(parts) if quoted), len(parts))
    return HtmlSplit(
        full=_tidy("".join(text for text, _ in parts)),
        before_quote=_tidy("".join(text for text, _ in parts[:first])),
        outside_quotes=_tidy("".join(text for text, quoted in parts if not quoted)),
        found_quote=splitter.found_quote,
    )


def html_to_text(html: str) -> str:
    """Readable plain text of an HTML document or fragment (blocks become lines)."""
    if not html:
        return ""
    return _tidy("".join(text for text, _ in _run_splitter(html).parts))


# --------------------------------------------------------------------------- text

_QUOTE_LINE = re.compile(r"^[ \t]*>")
_SIG_DASHES = re.compile(r"^-- ?$", re.MULTILINE)
_FORWARD_MARK = re.compile(
    r"^[ \t]*(?:-{2,}[ \t]*(?:Forwarded message|Original Message|Weitergeleitete Nachricht|"
    r"Ursprüngliche Nachricht|Message transféré|Message d'origine|Mensaje reenviado|"
    r"Mensaje original|Doorgestuurd bericht|Oorspronkelijk bericht)[ \t]*-{2,}|"
    r"Begin forwarded message:|Anfang der weitergeleiteten (?:Nachricht|E-Mail):)",
    re.IGNORECASE | re.MULTILINE,
)


# Closing formulas that start a signature when they stand alone on a line near the end
# (mail-parser-reply knows some of them only with a comma, and no Russian ones).
_CLOSING = re.compile(
    r"^(?:regards|best regards|kind regards|warm regards|best|cheers|thanks|many thanks|"
    r"thank you|mit freundlichen grüßen|mit freundlichen gruessen|viele grüße|beste grüße|"
    r"liebe grüße|freundliche grüße|gruß|grüße|cordialement|bien cordialement|"
    r"bien à vous|saludos|un saludo|atentamente|met vriendelijke groet|groeten|"
    r"с уважением|спасибо)[ \t]*[,.!]?$",
    re.IGNORECASE,
)
MAX_SIGNATURE_LINES = 6


def _split_closing(body: str) -> tuple[str, str]:
    """Cut a trailing "Regards / Name / Company" block into the signature."""
    lines = body.split("\n")
    for index in range(len(lines) - 1, 0, -1):
        if _CLOSING.match(lines[index].strip()):
            tail = [line for line in lines[index + 1 :] if line.strip()]
            if len(tail) <= MAX_SIGNATURE_LINES and all(len(line) <= 80 for line in tail):
                head = "\n".join(lines[:index]).strip()
                if head:
                    return head, "\n".join(lines[index:]).strip()
            break
    return body, ""


def _normalise(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\ufeff", "")
    return "\n".join(line.rstrip() for line in text.split("\n")).strip("\n")


def _drop_quote_lines(text: str) -> str:
    """Drop quoted lines ("> ...") and an attribution line ending in ":" right above them."""
    lines = text.split("\n")
    kept: list[str] = []
    for index, line in enumerate(lines):
        if _QUOTE_LINE.match(line):
            continue
        if line.rstrip().endswith(":"):
            following = next((n for n in lines[index + 1 :] if n.strip()), "")
            if _QUOTE_LINE.match(following):
                continue
        kept.append(line)
    return _BLANK_LINES.sub("\n\n", "\n".join(kept)).strip()


class _FirstTwoReplies(EmailMessage):  # type: ignore[misc]
    """mail-parser-reply's ``EmailMessage`` whose ``read`` stops as soon as the first two
    replies are known: all that :func:`_parse` reads (the first reply's body and
    signature, the second one's header). The library's ``read`` finds every header of
    the whole text and runs its signature and disclaimer patterns over every part: on a
    reply with a long quoted history that is most of the stripping time.

    The loop is the library's (1.36) step for step, over ``finditer`` instead of
    ``findall`` (same matches, same order, same flattening of the groups);
    tests/mail/test_quote_reader.py compares both on the corpus and the benchmark's mail."""

    def read(self) -> _FirstTwoReplies:  # noqa: D102 - see the class
        pattern = self.HEADER_REGEX
        if pattern.groups < 2:  # findall would yield strings, not tuples: use the original
            super().read()
            return self
        current_position = 0
        previous_header = ""
        for match in pattern.finditer(self.text):
            for header in match.groups():
                if not header:
                    continue
                position = self.text.find(
                    header, current_position + 1 if current_position > 0 else current_position
                )
                disclaimers, signatures = self._process_signatures_disclaimers(
                    self.text[current_position:position]
                )
                reply = EmailReply(
                    headers=previous_header,
                    content=self.text[current_position:position],
                    signatures=signatures,
                    disclaimers=disclaimers,
                )
                current_position = position if position >= 0 else 0
                previous_header = header
                if not reply.content:
                    continue
                self.replies.append(reply)
                if len(self.replies) >= 2:  # later replies change neither of the first two
                    return self
                if 0 < position < len(self.text) - 1:
                    # The next reply starts at this header, whatever follows: its content
                    # (text[position:next]) cannot be empty. Its header is all we need.
                    self.replies.append(EmailReply(headers=header, content=header))
                    return self
        disclaimers, signatures = self._process_signatures_disclaimers(self.text[current_position:])
        self.replies.append(
            EmailReply(
                headers=previous_header,
                content=self.text[current_position:],
                signatures=signatures,
                disclaimers=disclaimers,
            )
        )
        return self


def _parse(text: str, languages: Sequence[str]) -> tuple[str, str, str]:
    """(new body, signature, header of the first quoted reply) via mail-parser-reply."""
    long_lines: dict[str, str] = {}

    def park(match: re.Match[str]) -> str:
        key = f"CaselineLongLine{len(long_lines):06d}x"
        long_lines[key] = match.group(0)
        return key

    text = re.sub(rf"^[^\n]{{{MAX_LINE_CHARS + 1},}}$", park, text, flags=re.MULTILINE)
    message = _FirstTwoReplies(text=text, languages=list(languages), keep_hyphen_lists=True).read()
    replies = message.replies
    if not replies:
        return "", "", ""
    first = replies[0]
    header = ""
    if len(replies) > 1:
        header = str(replies[1].headers or "")
    body, signature = str(first.body or ""), str(first.signatures or "")
    if long_lines:
        unpark = re.compile("|".join(long_lines))
        body = unpark.sub(lambda m: long_lines[m.group(0)], body)
        signature = unpark.sub(lambda m: long_lines[m.group(0)], signature)
    return body, signature, header


def _strip_text(text: str, languages: Sequence[str]) -> tuple[str, str]:
    """(new text, signature) of a plain-text reply; new text may be empty."""
    head, tail = text[:MAX_STRIP_CHARS], text[MAX_STRIP_CHARS:]
    # A forward's own introduction is the new text; the forwarded message is quoted.
    forward = _FORWARD_MARK.search(head)
    if forward:
        head, tail = head[: forward.start()], ""
    try:
        body, signature, quote_header = _parse(head, languages)
    except Exception:  # a bug in the library must not cost us a message
        body, signature, quote_header = head, "", ""
    if tail and not quote_header:
        body = body + tail
    body = _drop_quote_lines(body)
    body, closing = _split_closing(body)
    if closing:
        signature = (closing + "\n" + signature).strip()
    return body.strip(), signature.strip()


def _quoted_remainder(full: str, new_text: str) -> str:
    """What the full text holds besides the new text (the quoted history), best effort."""
    lines = [line.strip() for line in new_text.strip().split("\n") if line.strip()]
    if not lines:
        return full.strip()
    start = full.find(lines[0])
    end = full.find(lines[-1], max(start, 0))
    if start < 0 or end < 0:
        return ""
    before, after = full[:start].strip(), full[end + len(lines[-1]) :].strip()
    return "\n\n".join(part for part in (before, after) if part)


def strip_reply(
    text: str,
    html: str | None = None,
    languages: Sequence[str] = DEFAULT_LANGUAGES,
) -> StrippedReply:
    """Strip quoted history and the signature from a reply.

    ``text`` is the text/plain body (may be empty), ``html`` the text/html body if any.
    When HTML is given and marks a quote container, the HTML decides where the quote
    starts; otherwise the text (or the HTML converted to text) goes through the
    text-level rules of mail-parser-reply for ``languages``.
    """
    text = _normalise(text or "")
    split: HtmlSplit | None = None
    # The HTML pre-pass only matters when it can find a quote container, or when the
    # HTML is all there is (its text is then the message).
    if html and html.strip() and (not text.strip() or may_mark_quote(html)):
        split = split_html_quote(html)
    full = text if text.strip() else (split.full if split else "")
    full = _normalise(full)
    if not full.strip():
        return StrippedReply("", "", "", full_text=full)

    candidates: list[str] = []
    if split is not None and split.found_quote:
        # Top-posting (the usual case): everything from the first container on is history.
        # Bottom- or inline-posting: only what is outside the containers is new.
        candidates += [split.before_quote, split.outside_quotes]
    candidates.append(full)

    new_text = signature = ""
    for candidate in candidates:
        if not candidate.strip():
            continue
        new_text, signature = _strip_text(_normalise(candidate), languages)
        if new_text:
            break

    fell_back = False
    if not new_text:
        new_text, signature, fell_back = full.strip(), "", True
    quoted = _quoted_remainder(full, new_text) if not fell_back else ""
    if signature and signature in quoted:
        quoted = quoted.replace(signature, "", 1).strip()
    return StrippedReply(
        new_text=new_text,
        quoted_text=quoted,
        signature=signature,
        full_text=full,
        fell_back=fell_back,
    )
