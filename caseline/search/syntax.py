"""The search box's syntax, parsed without Django (pure).

A query is a list of *terms*, all of which must match (AND). A term is either one
whitespace-separated word as typed (``C++``, ``don't``, ``sso-okta``, ``500:``) or a
``"quoted phrase"``. Nothing is an operator: ``AND``, ``OR``, ``NOT``, ``-``, ``*``,
``:``, parentheses are ordinary characters. Each backend hands every term to its
database as one *quoted* phrase, so the database's own tokenizer splits it the way it
split the indexed text, and no user input can be read as query syntax.

Terms that hold no letter or digit (``*``, ``-``, ``:``) are dropped; an unbalanced
``"`` is ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_QUERY_CHARS = 200
MAX_TERMS = 16

_PHRASE = re.compile(r'"([^"]*)"')
_HAS_WORD = re.compile(r"[^\W_]")  # a letter or digit (what the tokenizers keep)
_CONTROL = re.compile(r"[\x00-\x1f\x7f\ue000-\uf8ff]")


class QueryError(ValueError):
    """The query cannot be searched (the message says why)."""


@dataclass(frozen=True)
class Query:
    terms: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not self.terms

    def fts5(self) -> str:
        """SQLite FTS5 MATCH text: every term a quoted string (implicit AND)."""
        return " ".join('"' + t.replace('"', '""') + '"' for t in self.terms)

    def websearch(self, *, any_term: bool = False) -> str:
        """PostgreSQL ``websearch_to_tsquery`` text: every term in double quotes (a
        phrase, never an operator); AND of the terms, or OR when ``any_term``."""
        joiner = " or " if any_term else " "
        return joiner.join('"' + t.replace('"', " ") + '"' for t in self.terms)


def parse(text: str) -> Query:
    """Terms of ``text``; raises QueryError when it is blank or too long."""
    if text is None or not text.strip():
        raise QueryError("the query is empty")
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"the query is longer than {MAX_QUERY_CHARS} characters")
    # Control characters and the private-use range (the snippet markers) are spaces.
    text = _CONTROL.sub(" ", text)
    raw: list[str] = []
    pos = 0
    for m in _PHRASE.finditer(text):
        raw.extend(text[pos : m.start()].split())
        raw.append(" ".join(m.group(1).split()))
        pos = m.end()
    raw.extend(text[pos:].replace('"', " ").split())
    terms: list[str] = []
    for term in raw:
        if term and _HAS_WORD.search(term) and term not in terms:
            terms.append(term)
    if len(terms) > MAX_TERMS:
        raise QueryError(f"the query has more than {MAX_TERMS} terms")
    return Query(tuple(terms))
