"""Inline replies: the customer's message quoted paragraph by paragraph, our answer under
each paragraph, set in the "ours" colour (teal, not red) on the ticket page and in the
outgoing HTML mail.

Pure string work (no Django). The composed HTML marks each of our answers with
``<div title="Our answer">`` -- an attribute the HTML sanitiser keeps (``title`` is allowed
on every element, ``class`` and ``style`` are not), so the mark survives ``add_message``'s
sanitising and the outbound renderer (``caseline.mail.outbound.render_reply``) and the
ticket page can colour the answers when they show the stored message.
"""

from __future__ import annotations

import html as htmllib
import re
from collections.abc import Sequence

OURS_COLOUR = "#0f6e6e"
OURS_MARK = '<div title="Our answer">'
MAX_PARAGRAPHS = 60

_BLANK = re.compile(r"\n\s*\n")


def paragraphs(text: str) -> list[str]:
    """The paragraphs of ``text`` (split at blank lines, stripped, empty ones dropped; at
    most ``MAX_PARAGRAPHS``, the rest joined into the last one)."""
    parts = [p.strip() for p in _BLANK.split((text or "").replace("\r\n", "\n"))]
    parts = [p for p in parts if p]
    if len(parts) > MAX_PARAGRAPHS:
        parts = parts[: MAX_PARAGRAPHS - 1] + ["\n\n".join(parts[MAX_PARAGRAPHS - 1 :])]
    return parts


def _html_lines(text: str) -> str:
    return htmllib.escape(text.strip()).replace("\n", "<br>")


def compose(
    pairs: Sequence[tuple[str, str]], *, intro: str = "", outro: str = ""
) -> tuple[str, str]:
    """(text, html) of an inline reply: ``intro``, then for each (customer paragraph,
    our answer) the paragraph quoted and the answer under it (no answer: the paragraph
    stays as context), then ``outro``. Empty answers everywhere give ("", "")."""
    if not any(a.strip() for _, a in pairs) and not intro.strip() and not outro.strip():
        return "", ""
    text_parts: list[str] = []
    html_parts: list[str] = []
    if intro.strip():
        text_parts.append(intro.strip())
        html_parts.append(f"{OURS_MARK}{_html_lines(intro)}</div>")
    for quoted, answer in pairs:
        if not quoted.strip():
            continue
        text_parts.append("\n".join(f"> {line}".rstrip() for line in quoted.strip().splitlines()))
        html_parts.append(f"<blockquote>{_html_lines(quoted)}</blockquote>")
        if answer.strip():
            text_parts.append(answer.strip())
            html_parts.append(f"{OURS_MARK}{_html_lines(answer)}</div>")
    if outro.strip():
        text_parts.append(outro.strip())
        html_parts.append(f"{OURS_MARK}{_html_lines(outro)}</div>")
    return "\n\n".join(text_parts), "".join(html_parts)


def is_inline(html: str) -> bool:
    return OURS_MARK in (html or "")


_MAIL_OURS = f'<div title="Our answer" style="color:{OURS_COLOUR};margin:0 0 12px 0">'
_MAIL_QUOTE = (
    '<blockquote style="margin:0 0 8px 0;padding-left:10px;border-left:3px solid #d0d7de;'
    'color:#57606a">'
)


def style_for_mail(html: str) -> str:
    """Inline CSS for mail clients (they ignore style sheets): our answers in the "ours"
    colour, the customer's paragraphs as grey quotes. Other HTML is returned unchanged."""
    if not is_inline(html):
        return html
    return html.replace(OURS_MARK, _MAIL_OURS).replace("<blockquote>", _MAIL_QUOTE)


def mark_for_page(html: str) -> str:
    """The stored HTML with our answers given the page's ``ours`` class."""
    if not is_inline(html):
        return html
    return html.replace(OURS_MARK, '<div class="ours" title="Our answer">').replace(
        "<blockquote>", '<blockquote class="theirs">'
    )
