"""The search box's syntax (pure: no database)."""

from __future__ import annotations

import pytest

from caseline.search.syntax import MAX_QUERY_CHARS, MAX_TERMS, QueryError, parse


@pytest.mark.parametrize(
    ("text", "terms"),
    [
        ("C++", ("C++",)),
        ("don't", ("don't",)),
        ("error 500: login", ("error", "500:", "login")),
        ("sso-okta", ("sso-okta",)),
        ('"unbalanced', ("unbalanced",)),
        ("AND OR NOT", ("AND", "OR", "NOT")),
        ("*", ()),
        ("- : ( ) *", ()),
        ('"error 500" login', ("error 500", "login")),
        ('say "  two   words " here', ("say", "two words", "here")),
        ("login login", ("login",)),
        ("tab\tand\x00nul", ("tab", "and", "nul")),
        ("marker\ue000text", ("marker", "text")),
    ],
)
def test_terms(text, terms):
    assert parse(text).terms == terms


def test_every_term_is_quoted_for_fts5_and_websearch():
    q = parse('C++ "a b" x"y')
    assert q.terms == ("C++", "a b", "x", "y")
    assert q.fts5() == '"C++" "a b" "x" "y"'
    assert q.websearch() == '"C++" "a b" "x" "y"'
    assert q.websearch(any_term=True) == '"C++" or "a b" or "x" or "y"'


@pytest.mark.parametrize("text", ["", "   ", None])
def test_empty_is_refused(text):
    with pytest.raises(QueryError):
        parse(text)


def test_limits():
    with pytest.raises(QueryError):
        parse("a" * (MAX_QUERY_CHARS + 1))
    with pytest.raises(QueryError):
        parse(" ".join(f"w{i}" for i in range(MAX_TERMS + 1)))
    assert len(parse(" ".join(f"w{i}" for i in range(MAX_TERMS))).terms) == MAX_TERMS
