"""Pure text functions (no Django, no other caseline imports): quote and signature
stripping of mail replies, HTML to text."""

from caseline.text.quotes import (
    DEFAULT_LANGUAGES,
    QUOTE_CLASSES,
    QUOTE_IDS,
    HtmlSplit,
    StrippedReply,
    html_to_text,
    split_html_quote,
    strip_reply,
)

__all__ = [
    "DEFAULT_LANGUAGES",
    "QUOTE_CLASSES",
    "QUOTE_IDS",
    "HtmlSplit",
    "StrippedReply",
    "html_to_text",
    "split_html_quote",
    "strip_reply",
]
