"""The reply checker: which of the customer's questions and requests does a draft leave
unanswered, does it promise a time while the ticket stays open, does it greet and close
as the team's style asks? Never blocks sending: it only returns findings, each with a
human explanation.

Pure: no Django, no caseline imports outside ``caseline.text``. Rules (see
docs/reply-checker.md):

1. Asks are extracted from the customer's messages since our last public reply. Quoted
   lines (``>``), quote headers ("On ... wrote:", "Am ... schrieb", "-----Original
   Message-----", "Von:"/"From:" blocks) and everything from the signature on (``--`` or a
   closing line such as "Thanks," / "Viele Grüße") are ignored. A sentence is an ask when
   it is a question ("?", or a wh-/w-word followed by a verb), a request ("could you",
   "können Sie", "please ...", "bitte ...", "I need", "wir brauchen", "let me know
   whether", "ich wollte fragen, ob"), or a numbered/bulleted item that is one of those.
   Rhetorical questions ("right?", "Why would anyone ...") and offers ("let me know if
   you need more logs") are not asks. Two asks joined by "and"/"und" are split.
2. Each ask is compared with every sentence and every paragraph of the draft (greeting,
   closing, questions and sentences that only echo the customer - "you asked why ..." -
   do not count): weighted lexical coverage of the ask's content-word stems plus TF-IDF
   cosine similarity; an ask whose own words are few ("What else could cause this?") is
   widened with its neighbouring sentences. Score >= ``threshold`` means addressed.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from caseline.text.replycheck_lexicon import tokens

__all__ = [
    "DEFAULT_THRESHOLD",
    "MAX_DRAFT_CHARS",
    "Ask",
    "AskResult",
    "Finding",
    "ReplyCheck",
    "ReplyStyle",
    "check_reply",
    "extract_asks",
    "has_closing",
    "has_eta",
    "has_greeting",
]

DEFAULT_THRESHOLD = 0.15
#: Text beyond this many characters (per message and of the draft) is not examined.
MAX_DRAFT_CHARS = 20_000

UNANSWERED = "unanswered_question"
MISSING_ETA = "missing_eta"
MISSING_GREETING = "missing_greeting"
MISSING_CLOSING = "missing_closing"


# --------------------------------------------------------------------------- types


@dataclass(frozen=True, slots=True)
class ReplyStyle:
    """What the team's style requires of every public reply."""

    greeting_required: bool = False
    closing_required: bool = False


@dataclass(frozen=True, slots=True)
class Ask:
    """A question or request of the customer. ``start``/``end`` are character offsets in
    ``messages[message_index]`` as given to :func:`extract_asks`."""

    text: str
    kind: str  # "question" | "request"
    message_index: int
    start: int
    end: int
    context: str = ""
    #: the item number when the customer numbered the asks ("2." / "2)")
    number: int | None = None


@dataclass(frozen=True, slots=True)
class AskResult:
    """How well the draft addresses one ask; ``evidence`` is the best matching draft text."""

    ask: Ask
    addressed: bool
    score: float
    evidence: str
    #: semantic path only: cosine of the ask and the draft's best passage (its new words)
    similarity: float | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str  # unanswered_question | missing_eta | missing_greeting | missing_closing
    message: str
    ask: Ask | None = None


@dataclass(frozen=True, slots=True)
class ReplyCheck:
    asks: tuple[AskResult, ...]
    findings: tuple[Finding, ...]
    has_eta: bool
    has_greeting: bool
    has_closing: bool
    threshold: float = DEFAULT_THRESHOLD
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: which matcher judged the asks: "lexical" here, "semantic" from replycheck_semantic
    method: str = "lexical"

    @property
    def unanswered(self) -> tuple[Ask, ...]:
        return tuple(r.ask for r in self.asks if not r.addressed)


# --------------------------------------------------------------------------- cleaning

_QUOTE_HEADER = re.compile(
    r"""^\s*(?:
        on\s.{3,200}\swrote:\s*$
      | am\s.{3,200}\sschrieb.{0,200}:\s*$
      | -{2,}\s*(?:original\s+message|ursprüngliche\s+nachricht|forwarded\s+message|
                  weitergeleitete\s+nachricht)\s*-{2,}
      | (?:from|von):\s.+\n\s*(?:sent|gesendet|date|datum):\s
    )""",
    re.IGNORECASE | re.VERBOSE | re.MULTILINE,
)

_CLOSING_LINE = re.compile(
    r"""^\s*(?:
        (?:many\s+|thanks\s+and\s+|with\s+)?(?:kind\s+|best\s+|warm\s+|warmest\s+)?regards
      | best(?:\s+wishes)?
      | all\s+the\s+best
      | cheers
      | (?:many\s+)?thanks(?:\s+(?:again|in\s+advance|a\s+lot|and\s+regards|and\s+best))?
      | thank\s+you(?:\s+(?:again|in\s+advance|very\s+much))?
      | thx
      | sincerely(?:\s+yours)?
      | yours(?:\s+sincerely|\s+truly)?
      | (?:mit\s+)?(?:viele|beste|liebe|freundliche|herzliche|schöne|dringende)\s+grüße
      | mit\s+(?:den\s+)?(?:besten|freundlichen|herzlichen|lieben)\s+grüßen
      | (?:viele\s+|beste\s+|freundliche\s+)?grüße
      | (?:danke|vielen\s+dank)(?:\s+und\s+(?:viele\s+)?gr(?:uß|üße))?(?:\s+im\s+voraus)?
      | gruß | lg | vg | mfg
    )[\s,.!]*(?:\s+\S+){0,3}?\s*$""",
    re.IGNORECASE | re.VERBOSE,
)

_SIG_SEPARATOR = re.compile(r"^--\s*$|^__+\s*$")


@dataclass(frozen=True, slots=True)
class _Span:
    text: str
    start: int
    end: int
    number: int | None = None


def _lines(text: str) -> list[_Span]:
    out: list[_Span] = []
    pos = 0
    for line in text.splitlines(keepends=True):
        stripped = line.rstrip("\r\n")
        out.append(_Span(stripped, pos, pos + len(stripped)))
        pos += len(line)
    return out


def _closing_index(lines: list[_Span], *, from_end: bool) -> int | None:
    """Index of the closing line ("Thanks,", "Viele Grüße") or None. From the end, only the
    last few non-empty lines are searched (a name and a title may follow)."""
    candidates = range(len(lines) - 1, -1, -1) if from_end else range(len(lines))
    seen = 0
    for i in candidates:
        line = lines[i].text.strip()
        if not line:
            continue
        seen += 1
        if from_end and seen > 6:
            return None
        if len(line) <= 40 and _CLOSING_LINE.match(line):
            return i
    return None


def _paragraphs(text: str) -> list[list[_Span]]:
    """The new text of a customer message as paragraphs of lines (quotes, quote headers
    and the signature removed). Offsets stay those of ``text``."""
    text = text[:MAX_DRAFT_CHARS]
    cut = _QUOTE_HEADER.search(text)
    if cut is not None:
        text = text[: cut.start()]
    lines = _lines(text)
    kept: list[_Span] = []
    for i, line in enumerate(lines):
        if _SIG_SEPARATOR.match(line.text):
            break
        if line.text.lstrip().startswith(">"):
            kept.append(_Span("", line.start, line.start))
            continue
        kept.append(line)
        if i > 0 and _is_closing_block(lines, i):
            kept.pop()
            break
    paragraphs: list[list[_Span]] = []
    current: list[_Span] = []
    for line in kept:
        if line.text.strip():
            current.append(line)
        elif current:
            paragraphs.append(current)
            current = []
    if current:
        paragraphs.append(current)
    return paragraphs


def _is_closing_block(lines: list[_Span], i: int) -> bool:
    """Line ``i`` is a closing line followed only by a short signature."""
    line = lines[i].text.strip()
    if not line or len(line) > 40 or not _CLOSING_LINE.match(line):
        return False
    rest = [s.text for s in lines[i + 1 :] if s.text.strip()]
    return len(rest) <= 6


# --------------------------------------------------------------------------- sentences

_BULLET = re.compile(r"^\s*(?:[-*•·–]|\(?\d{1,2}[.)]|\(?[a-z][.)])\s+", re.IGNORECASE)
_ABBREV = re.compile(
    r"(?:\b(?:e\.g|i\.e|z\.b|u\.a|d\.h|bzw|ca|dr|mr|mrs|ms|prof|nr|vs|etc|inkl|ggf|evtl|"
    r"no|approx|incl))\.$",
    re.IGNORECASE,
)
_SENT_END = re.compile(r"[.!?]+[\"')\]]*(?=\s)|[.!?]+[\"')\]]*$")


def _sentences(text: str, paragraph: list[_Span]) -> list[_Span]:
    """Sentences of a paragraph (consecutive lines of ``text``): bulleted/numbered lines
    start a new sentence, other lines continue the previous one (hard-wrapped mail), then
    split after . ! ? (not after abbreviations and numbers)."""
    items: list[tuple[int, int, int | None]] = []
    for line in paragraph:
        bullet = _BULLET.match(line.text)
        start = line.start + (bullet.end() if bullet else len(line.text) - len(line.text.lstrip()))
        if bullet or not items or _greeting_only(text[items[-1][0] : items[-1][1]]):
            digits = re.search(r"\d+", bullet.group(0)) if bullet else None
            items.append((start, line.end, int(digits.group(0)) if digits else None))
        else:
            items[-1] = (items[-1][0], line.end, items[-1][2])
    out: list[_Span] = []
    for lo, hi, number in items:
        piece_text = text[lo:hi]
        pos = 0
        first = len(out)
        for match in _SENT_END.finditer(piece_text):
            if match.group(0).startswith(".") and _no_break(piece_text, pos, match):
                continue
            _append(out, piece_text[pos : match.end()], lo + pos)
            pos = match.end()
        if pos < len(piece_text):
            _append(out, piece_text[pos:], lo + pos)
        if number is not None and len(out) > first:
            head = out[first]
            out[first] = _Span(head.text, head.start, head.end, number)
    return out


_DAY_MONTH = re.compile(r"\b\d{1,2}\.$")
_MONTH_START = re.compile(
    r"\s*(?:jan|feb|mär|mar|apr|mai|may|jun|jul|aug|sep|okt|oct|nov|dez|dec)", re.IGNORECASE
)


def _greeting_only(line: str) -> bool:
    """A greeting alone on its line ("Hi Maria,", "Hallo zusammen,")."""
    line = line.strip()
    return bool(_GREETING.match(line)) and len(line.split()) <= 5 and line.endswith((",", "!"))


def _no_break(text: str, pos: int, match: re.Match[str]) -> bool:
    """A full stop that does not end the sentence: abbreviation, "12. März", or a
    lower-case continuation."""
    before = text[pos : match.start() + 1]
    after = text[match.end() :]
    if _ABBREV.search(before):
        return True
    if _DAY_MONTH.search(before) and _MONTH_START.match(after):
        return True
    if "\n" in after[: len(after) - len(after.lstrip())]:
        return False  # the line ends here: a new line starts a new sentence
    following = after.lstrip()[:1]
    return bool(following) and following.islower()


def _append(out: list[_Span], piece: str, start: int) -> None:
    lead = len(piece) - len(piece.lstrip())
    body = piece.strip()
    if body:
        # the text as written (offsets must slice it out of the message): a hard-wrapped
        # line break or a control character stays; matching reads words, not spacing
        out.append(_Span(body, start + lead, start + lead + len(body)))


# --------------------------------------------------------------------------- asks

_WH_EN = r"what|why|how|when|where|which|who|whom|whose"
_WH_DE = (
    r"was|warum|wieso|weshalb|weswegen|wie|wann|wo|woher|wohin|wozu|womit|wer|wem|wen|welche[rsmn]?"
)
_AUX_EN = (
    r"is|are|was|were|do|does|did|can|could|would|will|should|shall|has|have|had|much|many|"
    r"long|often|far|else|exactly|'s|s"
)
_VERB_DE = (
    r"ist|sind|war|waren|hat|haben|wird|werden|wurde|wurden|kann|können|muss|müssen|soll|"
    r"sollen|darf|dürfen|gibt|geht|kommt|kommen|dauert|funktioniert|finde|finden|findet|läuft|"
    r"laufen|macht|machen|bekomme|bekommen|lange|viel|viele|oft|genau|stelle|stellen|sieht"
)
_WH_QUESTION = re.compile(
    rf"^(?:(?:and|also|so|und|also|außerdem|sorry|quick\s+question)[,:]?\s+)?"
    rf"(?:(?:{_WH_EN})\b(?:'s|\s+(?:{_AUX_EN})\b)|(?:{_WH_DE})\s+(?:{_VERB_DE})\b)",
    re.IGNORECASE,
)
_REQUEST = re.compile(
    r"""\b(?:
        (?:could|can|would|will)\s+(?:you|u|someone|somebody|your\s+team)\b
      | (?:great|nice|helpful|appreciated?)\s+if\s+you\s+could\b
      | wäre\s+(?:schön|super|toll|hilfreich|nett),?\s+wenn\s+(?:sie|du|ihr)\b
      | (?:please|pls|plz|kindly)\b
      | (?:i|we)\s+(?:really\s+|urgently\s+|also\s+|still\s+)?(?:need|require)\b
      | (?:i|we)(?:'d|\s+would)\s+(?:need|like\s+to\s+know|appreciate)\b
      | let\s+(?:me|us)\s+know\s+(?:whether|if|how|when|what|which|why|where|who)\b
      | (?:tell|show|send|give)\s+(?:me|us)\b
      | (?:i|we)\s+(?:was|were|am|are)\s+wondering\b
      | (?:i|we)\s+wanted\s+to\s+ask\b
      | is\s+there\s+any\s+update
      | (?:könnten|können|würden|wären|könntet|kannst|könntest)\s+(?:sie|ihr|du)\b
      | bitte\b
      | (?:ich|wir)\s+(?:brauche|brauchen|benötige|benötigen|bräuchte|bräuchten)\b
      | (?:brauche|brauchen|benötige|benötigen|bräuchte|bräuchten)\s+(?:ich|wir)\b
      | (?:ich|wir)\s+(?:wollte|wollten|möchte|möchten)\s+(?:fragen|wissen)\b
      | (?:ich|wir)\s+würden?\s+gerne?\s+wissen\b
      | (?:geben|teilen|sagen|schicken|senden)\s+sie\s+(?:mir|uns)\b
      | wäre\s+es\s+möglich\b
      | (?:sperren|löschen|prüfen|schicken|senden|ändern|ergänzen|aktivieren|deaktivieren|
         stornieren|kündigen|erstellen|schalten|richten)\s+sie\b
    )""",
    re.IGNORECASE | re.VERBOSE,
)
_RHETORICAL = re.compile(
    r"""(?:
        ^(?:why\s+would\s+(?:anyone|anybody|you|someone)|who\s+would|do\s+you\s+(?:even\s+)?
            know\s+how|what\s+a\b|how\s+hard\s+can|how\s+are\s+you|how\s+is\s+it\s+going|
            isn't\s+it|wer\s+hätte|was\s+soll\s+(?:das|man)|wie\s+geht\s+es|
            seriously|really|honestly|right|ernsthaft|oder|na\s+ja)\b
      | \b(?:right|isn't\s+it|don't\s+you\s+think|oder|nicht\s+wahr|gell|honestly|seriously|
           ernsthaft|ehrlich)\s*\?+\s*$
      | \b(?:on\s+earth|the\s+hell|the\s+heck|in\s+the\s+world|who\s+thought|
           whose\s+idea|good\s+idea|um\s+himmels\s+willen|wer\s+kommt\s+auf)\b
    )""",
    re.IGNORECASE | re.VERBOSE,
)
_OFFER = re.compile(
    r"""\b(?:
        let\s+(?:me|us)\s+know\s+if\s+(?:you|there)\s+(?:need|have|want|require|are)
      | please\s+(?:note|find|see|be\s+aware|feel\s+free|don't\s+hesitate|do\s+not\s+hesitate|
          ignore|disregard)
      | (?:thanks|thank\s+you)\s+in\s+advance
      | if\s+you\s+need\s+anything
      | (?:melden|wenden)\s+sie\s+sich\s+gerne
      | bitte\s+(?:beachten|entschuldigen|ignorieren)\b
      | anbei\b
      | bei\s+(?:fragen|rückfragen)
    )""",
    re.IGNORECASE | re.VERBOSE,
)
# "... and tell us what ...": a second ask inside one sentence.
_SPLIT = re.compile(
    rf"""(?:,\s*|\s+)(?:and|und|&)\s+(?=(?:(?:also|außerdem|please|bitte|kindly)\s+)*(?:
        (?:{_WH_EN}|whether|if)\b
      | (?:{_WH_DE}|ob)\b
      | (?:can|could|would|will|do|does|is|are|should)\s+(?:you|we|i|it|the|there|that)\b
      | (?:tell|let|send|confirm|advise|show|give|explain)\b
      | (?:können|könnten|kann|gibt|ist|sind)\s+(?:sie|wir|es|man|das)\b
      | \w+(?:en|t)\s+(?:wir|es|man|ich)\b
      | \w+en\s+sie\b
    ))""",
    re.IGNORECASE | re.VERBOSE,
)


def _ask_kind(sentence: str) -> str | None:
    """The kind of ask one sentence is ("question" or "request"), or None."""
    s = sentence.strip()
    if not s or _OFFER.search(s):
        return None
    is_question = s.rstrip(" \"')").endswith("?")
    if is_question and _RHETORICAL.search(s):
        return None
    if is_question:
        return "question"
    if _WH_QUESTION.match(s) and not re.match(
        r"^wie\s+(?:besprochen|vereinbart|gesagt|erwähnt|gewünscht)", s, re.IGNORECASE
    ):
        return "question"
    if _REQUEST.search(s):
        return "request"
    return None


def _split_compound(span: _Span) -> list[_Span]:
    parts: list[_Span] = []
    text = span.text
    pos = 0
    for match in _SPLIT.finditer(text):
        left = text[pos : match.start()]
        if _ask_kind(left.rstrip(" ,") + ("?" if text.rstrip().endswith("?") else "")) is None:
            continue
        parts.append(_Span(left.strip(" ,"), span.start + pos, span.start + match.start()))
        pos = match.end()
    if not parts:
        return [span]
    parts.append(_Span(text[pos:].strip(), span.start + pos, span.end))
    return parts


def extract_asks(messages: Sequence[str]) -> tuple[Ask, ...]:
    """The questions and requests of the customer in ``messages`` (oldest first)."""
    asks: list[Ask] = []
    seen: set[str] = set()
    for index, message in enumerate(messages):
        for paragraph in _paragraphs(message or ""):
            sentences = _sentences(message, paragraph)
            for i, sentence in enumerate(sentences):
                kind = _ask_kind(sentence.text)
                if kind is None:
                    continue
                neighbours = " ".join(
                    s.text for s in sentences[max(0, i - 2) : i + 2] if s is not sentence
                )
                parts = _split_compound(sentence)
                for part in parts:
                    part_kind = kind if len(parts) == 1 else (_ask_kind(part.text) or kind)
                    key = " ".join(part.text.lower().split())
                    if key in seen:
                        continue
                    seen.add(key)
                    asks.append(
                        Ask(
                            text=part.text,
                            kind=part_kind,
                            message_index=index,
                            start=part.start,
                            end=part.end,
                            # an elliptic part ("... and confirm in writing") also
                            # borrows the words of its whole sentence
                            context=neighbours
                            if len(parts) == 1 or len(set(tokens(part.text))) > 1
                            else f"{neighbours} {sentence.text}",
                            number=sentence.number if part is parts[0] else None,
                        )
                    )
    return tuple(asks)


# --------------------------------------------------------------------------- draft

_GREETING = re.compile(
    r"""^\s*(?:hi|hello|hey|dear|good\s+(?:morning|afternoon|evening|day)|greetings|hiya|
        hallo|guten\s+(?:morgen|tag|abend)|sehr\s+geehrte[rs]?|liebe[rs]?|moin|servus|
        grüß\s+gott|grüezi|hej|hola|bonjour)\b""",
    re.IGNORECASE | re.VERBOSE,
)
_ECHO = re.compile(
    r"""\b(?:you(?:'re|\s+are|\s+were)?\s+ask(?:ed|ing)|your\s+question|good\s+question|
        you\s+(?:want(?:ed)?|would\s+like|'d\s+like)\s+to\s+know|you\s+wonder(?:ed)?|
        (?:regarding|as\s+for|about)\s+your\s+(?:question|request)|
        sie\s+(?:wollen|wollten|möchten)\s+wissen|sie\s+haben\s+gefragt|
        sie\s+(?:fragen|fragten|möchten\s+wissen)|ihre\s+frage|gute\s+frage|
        thanks?\s+(?:you\s+)?for\s+(?:your|the)\s+(?:question|patience|message|email|report|
        reaching)|danke\s+für\s+ihre|vielen\s+dank\s+für\s+ihre)\b""",
    re.IGNORECASE | re.VERBOSE,
)


# A sentence that only defers ("we are looking into it", "I've forwarded this to
# engineering", "wir schauen uns das an") or generalises ("... is a common setup") says
# nothing that answers: the deferring clause is cut, a generality dropped.
_DEFERRAL = re.compile(
    r"""(?:,\s*|;\s*|\s+(?:and|und)\s+|^)(?:(?:we|i)(?:'ll|'re|'ve|'m|\s+will|\s+are|\s+am|
        \s+have|\s+shall)?\s+(?:now\s+|currently\s+|still\s+|also\s+)?(?:look(?:ing)?\s+into|
        (?:have|having|take|taking)\s+a\s+(?:closer\s+)?look|investigat\w*|(?:have\s+)?forwarded|
        passed\s+(?:this|it|that)\s+on|escalated|get(?:ting)?\s+back\s+to\s+you|
        check(?:ing)?\s+(?:this|it|that)\b)
      | wir\s+(?:schauen\s+uns\s+das|sehen\s+uns\s+das|prüfen\s+das|kümmern\s+uns|
        melden\s+uns(?!\s+(?:bis|um|morgen|heute))|haben\s+ihr\s+anliegen)
      | (?:wir\s+)?(?:untersuchen|prüfen)\s+(?:es|das|dies)\b
      | (?:an\s+\w+\s+|an\s+das\s+\w+\s+)?weitergeleitet)""",
    re.IGNORECASE | re.VERBOSE,
)
_GENERALITY = re.compile(
    r"\b(?:is|are)\s+an?\s+(?:very\s+)?(?:common|typical|frequent)\b"
    r"|\b(?:ist|sind)\s+(?:ein(?:e)?\s+)?(?:häufige[rs]?|typische[rs]?|übliche[rs]?)\b",
    re.IGNORECASE,
)


def _substance(sentence: str) -> str:
    """The part of a draft sentence that can answer: "" for a generality, the text before
    a deferring clause ("the cause is X; we are looking into it" -> "the cause is X")."""
    if _GENERALITY.search(sentence):
        return ""
    match = _DEFERRAL.search(sentence)
    if match:
        sentence = sentence[: match.start()].rstrip(" ,;:–-")
    return sentence if len(sentence.split()) >= 2 else ""


def has_greeting(draft: str) -> bool:
    first = next((line for line in draft.splitlines() if line.strip()), "")
    return bool(_GREETING.match(first))


def has_closing(draft: str) -> bool:
    return _closing_index(_lines(draft.rstrip()), from_end=True) is not None


_DAY_EN = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tue|wed|thu|fri)"
_DAY_DE = r"(?:montag|dienstag|mittwoch|donnerstag|freitag|samstag|sonntag)"
_MONTH = (
    r"(?:jan(?:uary|uar)?|feb(?:ruary|ruar)?|mar(?:ch)?|märz|apr(?:il)?|may|mai|june?|juni|"
    r"july?|juli|aug(?:ust)?|sep(?:tember)?|oct(?:ober)?|okt(?:ober)?|nov(?:ember)?|"
    r"dec(?:ember)?|dez(?:ember)?)"
)
_CLOCK = r"\d{1,2}(?::\d{2}|\s*(?:am|pm|uhr|h)\b)"
_ETA = re.compile(
    rf"""(?:
        \b(?:by|before|until|till|no\s+later\s+than|on|at|around|next)\s+(?:the\s+)?(?:
            (?:tomorrow|tonight|today|eod|cob|end\s+of\s+(?:the\s+)?(?:day|week|month|business\s+day))
          | {_DAY_EN}
          | noon|midday|midnight
          | {_CLOCK}
          | \d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH}
          | {_MONTH}\s+\d{{1,2}}
          | \d{{4}}-\d{{2}}-\d{{2}}
        )
      | \b(?:tomorrow|tonight|today|later\s+today|this\s+(?:afternoon|evening|morning))\b
      | \b(?:within|in\s+the\s+next|in)\s+(?:\d+(?:\s*[–-]\s*\d+)?|an?|one|two|three|four|five|a\s+few)\s+
            (?:business\s+|working\s+)?(?:minutes?|mins?|hours?|hrs?|days?|weeks?)\b
      | \b(?:bis|spätestens|ab)\s+(?:zum\s+|morgen|heute|übermorgen|ende|nächste|{_DAY_DE}|
            {_CLOCK}|\d{{1,2}}\.\s*(?:\d{{1,2}}\.|{_MONTH}))
      | (?<!guten\s)(?<!heute\s)\b(?:morgen|übermorgen|heute\s+(?:nacht|abend|nachmittag|bis|um)|im\s+laufe\s+des\s+tages)\b
      | \b(?:am|um|gegen)\s+(?:{_DAY_DE}|{_CLOCK}|\d{{1,2}}\.\s*(?:\d{{1,2}}\.|{_MONTH}))
      | \b(?:innerhalb|binnen)\s+(?:von\s+)?(?:\d+|einer|einem|zwei|drei|vier|fünf|24|48)\s+
            (?:minuten|stunden?|std|tagen?|werktagen?|wochen?)\b
      | \bin\s+(?:\d+(?:\s*[–-]\s*\d+)?|einer|einem|zwei|drei)\s+(?:minuten|stunden?|tagen?|werktagen?|wochen?)\b
      | \b{_CLOCK}\s*(?:utc|gmt|cet|cest|est|edt|pst|pdt|mez|mesz)\b
      | \b(?:take|takes|need|needs|about|approximately|roughly|around|dauert|etwa|rund|ungefähr)\s+
            (?:about\s+|etwa\s+|rund\s+)?\d+(?:\s*[–-]\s*\d+)?\s*
            (?:minutes?|mins?|hours?|hrs?|days?|minuten|stunden?|tagen?|werktagen?)\b
    )""",
    re.IGNORECASE | re.VERBOSE,
)


_ETA_FIRM = re.compile(
    r"^(?:by|before|no\s+later|within|in\s+the\s+next|tomorrow|tonight|bis|spätestens|"
    r"innerhalb|binnen|morgen|übermorgen)\b",
    re.IGNORECASE,
)
_FUTURE = re.compile(
    r"\b(?:will|'ll|shall|going\s+to|expect|expected|plan|planned|scheduled|next|"
    r"werde|werden|wird|melde|voraussichtlich|erhalten\s+sie|bekommen\s+sie)\b",
    re.IGNORECASE,
)
_PAST = re.compile(
    r"\b(?:was|were|had|have|has|'ve|did|ran|happened|occurred|since|ago|yesterday|"
    r"wurde|wurden|war|waren|hatte|hatten|habe|haben|hat|seit|gestern)\b",
    re.IGNORECASE,
)


def has_eta(draft: str) -> bool:
    """The draft states a time or date commitment ("by tomorrow", "within 2 hours",
    "bis Freitag", "I'll update you at 15:00 UTC"). A time in a sentence about the past
    ("the rebalance ran until 14:05 UTC") is no commitment."""
    for line in draft.splitlines():
        for sentence in re.split(r"(?<=[.!?;])\s+", line):
            for match in _ETA.finditer(sentence):
                if _ETA_FIRM.match(match.group(0)) or _FUTURE.search(sentence):
                    return True
                # "today" also means "currently"; other times count unless in the past
                if match.group(0).lower() != "today" and not _PAST.search(sentence):
                    return True
    return False


def _draft_units(draft: str) -> tuple[list[str], set[int]]:
    """Sentences and paragraphs of the draft that can answer (greeting, closing and
    signature, questions back to the customer and mere echoes are left out), and the item
    numbers of numbered answers ("2. Yes, ...")."""
    lines = _lines(draft)
    closing = _closing_index(lines, from_end=True)
    if closing is not None:
        lines = lines[:closing]
    paragraphs: list[list[_Span]] = []
    current: list[_Span] = []
    for line in lines:
        if line.text.strip() and not line.text.lstrip().startswith(">"):
            current.append(line)
        elif current:
            paragraphs.append(current)
            current = []
    if current:
        paragraphs.append(current)
    units: list[str] = []
    numbers: set[int] = set()
    for p_index, paragraph in enumerate(paragraphs):
        sentences = _sentences(draft, paragraph)
        if p_index == 0 and sentences and _GREETING.match(sentences[0].text):
            first = sentences[0].text
            head, sep, tail = first.partition(",")
            if sep and len(head.split()) <= 5 and tail.strip():
                sentences[0] = _Span(tail.strip(), sentences[0].start, sentences[0].end)
            elif len(first.split()) <= 5:
                sentences = sentences[1:]
        kept = []
        for s in sentences:
            if s.text.rstrip().endswith("?") or _ECHO.search(s.text):
                continue
            text = _substance(s.text)
            if text:
                kept.append(_Span(text, s.start, s.end, s.number))
        numbers.update(s.number for s in kept if s.number is not None and len(s.text) > 2)
        useful = [s.text for s in kept]
        units.extend(useful)
        if len(useful) > 1:
            units.append(" ".join(useful))
    return units, numbers


# --------------------------------------------------------------------------- answer types

# What kind of answer an ask wants, and the words such an answer nearly always contains.
# A draft passage without them ("we are looking into the 403 errors" for "did you change
# the permissions?") counts less; one with them counts more.
_LEAD = r"^(?:(?:and|also|so|und|also|außerdem|sorry|quick\s+one|one\s+more|if\s+so|und\s+falls\s+ja|falls\s+ja)[,:]?\s+)*"
_ANSWER_TYPES: tuple[tuple[str, re.Pattern[str], re.Pattern[str]], ...] = (
    (
        "why",
        re.compile(
            r"\b(?:why|warum|wieso|weshalb|weswegen|how\s+come|what\s+(?:else\s+)?(?:could|might|"
            r"would|can)\s+cause|what\s+causes|wie\s+kommt)\b",
            re.IGNORECASE,
        ),
        re.compile(
            r"\b(?:because|due\s+to|caused|cause[sd]?|reason|comes?\s+from|came\s+from|result\s+of|"
            r"triggered|(?:raised|happens|occurs|appears)\s+(?:when|if)|that's\s+why|which\s+is\s+why|"
            r"so\s+that|weil|da|denn|wegen|aufgrund|grund|ursache|liegt\s+an|lag\s+an|kommt\s+von|"
            r"stammt|stammen|rührt|kommt\s+daher|liegt\s+daran|"
            r"kam\s+von|deutet|verursacht|dadurch|daher|deshalb|deswegen)\b",
            re.IGNORECASE,
        ),
    ),
    (
        "cost",
        re.compile(
            r"\b(?:how\s+much|cost|costs|price|pricing|pay|was\s+kostet|wie\s+teuer|kosten|"
            r"kostet|preis)\b",
            re.IGNORECASE,
        ),
        re.compile(
            r"\d[\d.,]*\s*(?:eur|usd|gbp|chf|€|\$|£|%)|[€$£]\s*\d|\b(?:free|kostenlos|gratis|"
            r"no\s+(?:extra\s+)?(?:charge|cost)|included|inklusive|enthalten)\b",
            re.IGNORECASE,
        ),
    ),
    (
        "when",
        re.compile(
            _LEAD + r"(?:(?:when|wann|how\s+long|wie\s+lange|how\s+soon)\b|.*\b(?:by\s+when|"
            r"until\s+when|bis\s+wann|ab\s+wann|let\s+(?:me|us)\s+know\s+when|how\s+long)\b)",
            re.IGNORECASE,
        ),
        re.compile(
            r"\b(?:\d+\s*(?:ms|s|sec|seconds?|min|minutes?|h|hours?|days?|weeks?|months?|stunden?|"
            r"tagen?|wochen?|monaten?|sekunden?|minuten)|\d{1,2}:\d{2}|now|immediately|today|tonight|"
            r"tomorrow|soon|next|until|once|as\s+soon\s+as|sofort|jetzt|heute|morgen|jederzeit|"
            r"nächsten?|bald|bis|sobald|monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
            r"montag|dienstag|mittwoch|donnerstag|freitag|samstag|sonntag|january|february|march|"
            r"april|may|june|july|august|september|october|november|december|januar|februar|"
            r"märz|mai|juni|juli|oktober|dezember)\b",
            re.IGNORECASE,
        ),
    ),
    (
        # "which ports / what version / what is the timeout": a value, i.e. a number the
        # customer has not written themselves ("TCP 11104", "4.2", "30 seconds")
        "value",
        re.compile(
            r"\b(?:which|what(?:'s|\s+(?:is|are|was|were|should|would))?(?:\s+(?:the|your|our|my))?|"
            r"welche[rsnm]?|wie\s+(?:lautet|lauten|hoch\s+ist))\s+(?:[\w-]+\s+){0,3}?(?:ports?|"
            r"versions?|releases?|builds?|ip(?:s|-?adress\w*)?|address(?:es)?|timeouts?|limits?|"
            r"sizes?|max(?:imum)?|number|amount|rate|interval|retention|latency|deadline|date|"
            r"quota|capacity|tolerance|value|threshold|zeitlimit|grenze|größe|anzahl|adressen?|"
            r"intervall|frist|datum|kontingent|wert|schwellenwert|toleranz)\b",
            re.IGNORECASE,
        ),
        re.compile(r"\d"),
    ),
    (
        "count",
        re.compile(
            r"\b(?:how\s+many|how\s+often|how\s+big|how\s+large|wie\s+viele?|wie\s+oft|"
            r"wie\s+hoch|wie\s+groß|(?:what|which|welche[rsn]?)\s+(?:bandwidth|size|capacity|"
            r"limit|bandbreite|größe|kapazität|grenze))\b",
            re.IGNORECASE,
        ),
        re.compile(r"\d|\b(?:once|twice|none|no|keine?|einmal|zweimal)\b", re.IGNORECASE),
    ),
    (
        "how",
        re.compile(
            _LEAD + r"(?:how\s+(?:do|can|should|could|would)\s+(?:i|we|you|one)|how\s+to|"
            r"wie\s+(?:kann|können|könnte|könnten|sollen|soll|müssen)\s+(?:ich|wir|man)|"
            r"what\s+(?:should|can|do)\s+(?:we|i)\s+do|was\s+(?:können|sollen|müssen)\s+wir\s+tun)\b",
            re.IGNORECASE,
        ),
        re.compile(
            r"`|>|\b(?:please|bitte|run|use|go\s+to|open|click|choose|select|set|add|enter|under|"
            r"you\s+can|unter|verwenden|nutzen|führen|öffnen|wählen|klicken|tragen|können\s+sie|"
            r"sie\s+können|steps?|schritte?)\b",
            re.IGNORECASE,
        ),
    ),
    (
        "where",
        re.compile(_LEAD + r"(?:where|wo|woher)\b", re.IGNORECASE),
        re.compile(
            r">|https?://|\b(?:under|unter|in\s+the|im|from|aus|menu|menü|page|seite|tab|section|"
            r"bereich|settings|einstellungen)\b",
            re.IGNORECASE,
        ),
    ),
    (
        "who",
        re.compile(_LEAD + r"(?:who|wer|wem|wen)\b", re.IGNORECASE),
        re.compile(
            r"\b[A-Z][a-zäöü]+\s+[A-Z][a-zäöü]+\b|\b(?:team|manager|engineer|colleague|admin|"
            r"administrator|kollegin|kollege|ansprechpartner\w*|nobody|niemand|automatically|"
            r"automatisch|system)\b"
        ),
    ),
    (
        "yesno",
        re.compile(
            _LEAD + r"(?:(?:is|are|was|were|do|does|did|should|has|have|shall|may)\b|"
            r"(?:can|will|could|would)\b(?!\s+(?:you|u|someone)\b)|(?:kann|können|könnten)\b(?!\s+sie\b)|"
            r"(?:ist|sind|war|gibt|muss|müssen|brauchen|braucht|bekommen|hat|haben|hatte|hatten|"
            r"gab|wurde|wurden|wird|werden|gilt|lässt|darf|dürfen|fallen|fällt|funktioniert|"
            r"unterstützt|unterstützen)\b)"
            r"|\b(?:whether|ob)\b",
            re.IGNORECASE,
        ),
        re.compile(
            r"\b(?:yes|no|not|never|ja|nein|nicht|kein\w*|nie|leider|unfortunately|possible|"
            r"impossible|möglich|supported|unterstützt|available|verfügbar|can|cannot|kann|können|"
            r"both|beide|only|nur|sure|correct|richtig|indeed|tatsächlich|of\s+course|natürlich|"
            r"selbstverständlich|required|necessary|needed|erforderlich|nötig|notwendig|must|muss|"
            r"müssen|allowed|erlaubt|always|immer|will|wird|included|inklusive|enthalten|done|"
            r"erledigt|safe|sicher)\b|n't\b",
            re.IGNORECASE,
        ),
    ),
)


_GERMAN_WHAT = re.compile(_LEAD + r"was\s+(?!(?:it|this|that|the|there|he|she|a|an)\b)", re.I)


def answer_type(ask: str) -> tuple[str, re.Pattern[str]] | None:
    """The kind of answer ``ask`` wants (why, cost, when, count, how, where, who, yes/no)
    and the pattern of words such an answer contains; None for other asks."""
    german_what = _GERMAN_WHAT.match(ask)
    for name, asks, markers in _ANSWER_TYPES:
        if name == "yesno" and german_what:
            continue  # German "Was bedeutet ...?" is "what", not "was it ...?"
        if asks.search(ask):
            return name, markers
    return None


# A clear yes or no ("yes", "it does", "you don't need to", "ist möglich", "leider nicht");
# the other yes/no-ish words of the "yesno" type ("can", "will", "only") are weaker.
_YES_NO_CLEAR = re.compile(
    r"\b(?:yes|no|nope|yep|ja|nein|leider|unfortunately|(?:not\s+)?possible|(?:nicht\s+)?möglich|"
    r"(?:not\s+)?supported|(?:nicht\s+)?unterstützt|it\s+(?:does|doesn't|does\s+not|is|isn't|"
    r"is\s+not|can|can't|cannot|will|won't|works)|(?:you|we)\s+(?:can|can't|cannot|don't|do\s+not|"
    r"won't|will\s+not|need|must|have\s+to)|(?:sie|wir|man)\s+(?:können|müssen|brauchen|"
    r"kann|muss)|works|work\s+fine|funktioniert|geht|klappt|of\s+course|natürlich|sure|"
    r"correct|richtig|indeed|not\s+needed|nicht\s+nötig|nicht\s+erforderlich|kein\w*)\b|n't\b",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"\d+(?:[.,:/]\d+)*")
_WHICH = re.compile(
    r"\b(?:which|welche[rsnm]?)\s+(?:(?:one\s+)?of\s+(?:the|our|your|these|those)\s+)?([\w-]+)",
    re.IGNORECASE,
)
# A draft that opens with a plain yes or no answers the customer's first yes/no question.
_OPENING_YES_NO = re.compile(
    r"^(?:yes|no|yep|nope|ja|nein|correct|richtig|genau|exactly|indeed|unfortunately\s+not|"
    r"leider\s+nicht|leider\s+nein|it\s+(?:does|doesn't|does\s+not|is|isn't|is\s+not|can|"
    r"can't|cannot|will|won't))\b",
    re.IGNORECASE,
)


def _focus(ask: str) -> set[str]:
    """The thing a which-question asks for ("which attributes ..." -> attributes)."""
    match = _WHICH.search(ask)
    return set(tokens(match.group(1))) if match else set()


def _matches(words: set[str], unit_words: set[str]) -> set[str]:
    """The ask words found in a passage: equal stems, or one a prefix of the other of at
    least five letters (async / asyncio)."""
    found = words & unit_words
    for word in words - found:
        if len(word) >= 5 and any(
            u.startswith(word) or (len(u) >= 5 and word.startswith(u)) for u in unit_words
        ):
            found.add(word)
    return found


# --------------------------------------------------------------------------- scoring


def _tfidf(docs: list[list[str]]) -> tuple[list[dict[str, float]], dict[str, float]]:
    df: Counter[str] = Counter()
    for doc in docs:
        df.update(set(doc))
    n = len(docs)
    idf = {term: math.log((1 + n) / (1 + count)) + 1.0 for term, count in df.items()}
    vectors: list[dict[str, float]] = []
    for doc in docs:
        tf = Counter(doc)
        vec = {t: (1.0 + math.log(c)) * idf[t] for t, c in tf.items()}
        norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
        vectors.append({t: v / norm for t, v in vec.items()})
    return vectors, idf


def _cosine(a: dict[str, float], b: dict[str, float]) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(v * b.get(t, 0.0) for t, v in a.items())


@dataclass(frozen=True, slots=True)
class _Weights:
    lexical: float = 0.6
    context_weight: float = 1.0
    short_ask: int = 2
    shared: float = 0.4
    typed_bonus: float = 1.25
    typed_penalty: float = 0.4
    why_penalty: float = 0.2
    novelty_floor: float = 0.4
    novelty_full: float = 0.3
    opening_yes_no: float = 0.3
    yes_no_weak: float = 0.8
    focus_penalty: float = 0.3


WEIGHTS = _Weights()


def _score_asks(
    asks: Sequence[Ask], units: list[str], customer_text: Iterable[str]
) -> list[tuple[float, str]]:
    unit_tokens = [tokens(u) for u in units]
    ask_tokens = [tokens(a.text) for a in asks]
    ctx_tokens = [tokens(a.context) for a in asks]
    background = [tokens(t) for t in customer_text]
    docs = unit_tokens + ask_tokens + background
    vectors, idf = _tfidf(docs) if docs else ([], {})
    unit_vecs = vectors[: len(units)]
    unit_sets = [set(t) for t in unit_tokens]
    # An answer says something new: a passage made of the customer's own words ("since
    # last week your users must log in daily") only echoes the question.
    said = {t for doc in background for t in doc}
    novelty = [
        min(1.0, WEIGHTS.novelty_floor + (len(ws - said) / len(ws)) / WEIGHTS.novelty_full)
        if ws
        else 0.0
        for ws in unit_sets
    ]
    customer_numbers = {n for text in customer_text for n in _NUMBER.findall(text)}
    new_value = [any(n not in customer_numbers for n in _NUMBER.findall(u)) for u in units]
    opening = bool(units) and bool(_OPENING_YES_NO.match(units[0]))
    types = [answer_type(a.text) for a in asks]
    first_yes_no = next((i for i, t in enumerate(types) if t and t[0] == "yesno"), None)
    results: list[tuple[float, str]] = []
    for index, (own, ctx) in enumerate(zip(ask_tokens, ctx_tokens, strict=True)):
        wanted = types[index]
        focus = _focus(asks[index].text)
        own_set = set(own)
        # Words this ask shares with the customer's other asks (the ticket's topic) say
        # little about whether *this* ask is answered: "both certificates active?" is not
        # answered by the sentence that answers "how do we upload the certificate?".
        others = {t for j, other in enumerate(ask_tokens) if j != index for t in other}
        weights: dict[str, float] = {
            t: idf.get(t, 1.0) * (WEIGHTS.shared if t in others else 1.0) for t in own
        }
        if len(weights) <= WEIGHTS.short_ask:
            # A short ask ("Is that supported?") is widened with its neighbours; together
            # they weigh at most ``context_weight`` of the ask's own words (or all of it
            # when the ask has no content word at all: "What's going on?").
            extra = {
                t: idf.get(t, 1.0) * (WEIGHTS.shared if t in others else 1.0)
                for t in ctx
                if t not in weights
            }
            own_total = sum(weights.values())
            extra_total = sum(extra.values())
            if extra_total:
                scale = (
                    1.0
                    if not own_total
                    else min(1.0, WEIGHTS.context_weight * own_total / extra_total)
                )
                weights.update({t: w * scale for t, w in extra.items()})
        if not weights or not units:
            results.append((0.0, ""))
            continue
        total = sum(weights.values())
        norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
        ask_vec = {t: w / norm for t, w in weights.items()}
        best, evidence = 0.0, ""
        if opening and index == first_yes_no:
            best, evidence = WEIGHTS.opening_yes_no, units[0]
        for u_index, (unit, words, vec, new) in enumerate(
            zip(units, unit_sets, unit_vecs, novelty, strict=True)
        ):
            found = _matches(set(weights), words)
            if len(own_set) > 1 and not own_set & found:
                # the neighbours only help an ask whose own words are in the passage too
                score = 0.0
            else:
                lexical = sum(w for t, w in weights.items() if t in found) / total
                cosine = _cosine(ask_vec, vec)
                score = (WEIGHTS.lexical * lexical + (1 - WEIGHTS.lexical) * cosine) * new
            typed = wanted is not None and (
                new_value[u_index] if wanted[0] == "value" else bool(wanted[1].search(unit))
            )
            if wanted is not None:
                if typed and wanted[0] == "yesno" and not _YES_NO_CLEAR.search(unit):
                    score *= WEIGHTS.yes_no_weak
                elif typed:
                    score *= WEIGHTS.typed_bonus
                else:
                    score *= WEIGHTS.why_penalty if wanted[0] == "why" else WEIGHTS.typed_penalty
            value_given = typed and wanted is not None and wanted[0] == "value"
            if focus and not value_given and not _matches(focus, words):
                # "which attributes ...?" is not answered by a passage naming no attribute
                score *= WEIGHTS.focus_penalty
            if score > best:
                best, evidence = score, unit
        results.append((best, evidence))
    return results


# --------------------------------------------------------------------------- checker


def _quote(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def check_reply(
    customer_messages: Sequence[str],
    draft: str,
    *,
    keep_open: bool = True,
    eta: datetime | None = None,
    style: ReplyStyle | None = None,
    threshold: float = DEFAULT_THRESHOLD,
) -> ReplyCheck:
    """Check ``draft`` against the customer's messages since our last public reply.

    ``customer_messages`` are plain text, oldest first (quote-stripped or not: quoted
    lines and signatures are ignored here too). ``keep_open``: the ticket stays open after
    this reply, so it should promise a time; ``eta``: an ETA set alongside the reply counts
    as that promise. ``style``: the team's greeting/closing requirements.
    """
    style = style or ReplyStyle()
    draft = (draft or "")[:MAX_DRAFT_CHARS]
    asks = extract_asks(customer_messages)
    units, numbers = _draft_units(draft)
    scores = _score_asks(asks, units, [m[:MAX_DRAFT_CHARS] for m in customer_messages])
    results = tuple(
        AskResult(
            ask=a,
            # A numbered answer ("2. Yes, ...") addresses the customer's ask of that number.
            addressed=s >= threshold or (a.number is not None and a.number in numbers),
            score=round(s, 3),
            evidence=e,
        )
        for a, (s, e) in zip(asks, scores, strict=True)
    )
    findings: list[Finding] = []
    for result in results:
        if not result.addressed:
            findings.append(
                Finding(
                    kind=UNANSWERED,
                    message=(
                        f"The customer asked “{_quote(result.ask.text)}” — your draft does "
                        "not address it."
                    ),
                    ask=result.ask,
                )
            )
    eta_found = eta is not None or has_eta(draft)
    if keep_open and not eta_found:
        findings.append(
            Finding(
                kind=MISSING_ETA,
                message=(
                    "The ticket stays open, but your draft promises no time for the next "
                    "update or the fix (for example “by 15:00 UTC”, “within 2 hours”, "
                    "“bis Freitag”). Add one or set an ETA."
                ),
            )
        )
    greeting = has_greeting(draft)
    closing = has_closing(draft)
    if style.greeting_required and not greeting:
        findings.append(
            Finding(
                kind=MISSING_GREETING,
                message=(
                    "Your team's style asks for a greeting (for example “Hi Maria,” or "
                    "“Hallo Herr Hoffmann,”); the draft does not start with one."
                ),
            )
        )
    if style.closing_required and not closing:
        findings.append(
            Finding(
                kind=MISSING_CLOSING,
                message=(
                    "Your team's style asks for a closing (for example “Best regards,” or "
                    "“Viele Grüße”); the draft does not end with one."
                ),
            )
        )
    return ReplyCheck(
        asks=results,
        findings=tuple(findings),
        has_eta=eta_found,
        has_greeting=greeting,
        has_closing=closing,
        threshold=threshold,
    )
