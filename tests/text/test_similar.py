"""The pure similarity index and detector (caseline/text/similar.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from caseline.text.similar import (
    Detector,
    Match,
    SimilarityIndex,
    is_fault_report,
    propose,
    ticket_terms,
)

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def _index(**kw) -> SimilarityIndex:
    return SimilarityIndex(window=timedelta(hours=24), **kw)


def test_terms_weight_the_subject_and_fold_languages():
    terms = ticket_terms("Zertifikat abgelaufen", "the certificate expired")
    assert terms.count("certif") == 3  # subject twice (German synonym), body once


def test_query_finds_the_similar_ticket_and_never_itself():
    idx = _index()
    idx.add(1, "a", T0, "SSO login failing with Okta", "SAML response validation failed")
    idx.add(2, "b", T0, "Invoice address change", "please change our billing address")
    idx.add(3, "c", T0, "Okta SAML error on login", "SAML validation failed since 8am")
    got = idx.query("Okta SAML error on login", "SAML validation failed since 8am", exclude=3)
    assert [m.key for m in got][:1] == [1]
    assert all(m.key != 3 for m in got)
    assert all(0.0 <= m.score <= 1.0 for m in got)


def test_add_is_idempotent_and_replaces():
    idx = _index()
    idx.add(1, "a", T0, "replication paused", "control plane unavailable")
    before = (len(idx), idx.vocabulary_size(), idx.df("replic"))
    idx.add(1, "a", T0, "replication paused", "control plane unavailable")
    assert (len(idx), idx.vocabulary_size(), idx.df("replic")) == before
    idx.add(1, "a", T0, "invoice twice", "charged twice")
    assert idx.df("replic") == 0 and idx.df("invoic") == 1


def test_expire_drops_old_tickets_and_their_postings():
    idx = _index()
    idx.add(1, "a", T0, "replication paused", "x")
    idx.add(2, "b", T0 + timedelta(hours=20), "replication paused", "y")
    assert idx.expire(T0 + timedelta(hours=23)) == 0
    assert idx.expire(T0 + timedelta(hours=25)) == 1
    assert 1 not in idx and 2 in idx
    assert idx.df("replic") == 1
    got = idx.query("replication paused", "", at=T0 + timedelta(hours=25))
    assert [m.key for m in got] == [2]


def test_empty_text_is_indexed_and_matches_nothing():
    idx = _index()
    idx.add(1, "a", T0, "", "")
    idx.add(2, "b", T0, "the and of", "")  # stopwords only
    assert len(idx) == 2
    assert idx.query("", "") == []
    assert idx.query("replication", "") == []


def test_query_window_by_time():
    idx = _index()
    idx.add(1, "a", T0, "backup failed vault unreachable", "")
    got = idx.query("backup failed vault unreachable", "", at=T0 - timedelta(minutes=1))
    assert got == []  # opened after `at`
    got = idx.query("backup failed vault unreachable", "", at=T0 + timedelta(hours=30))
    assert got == []  # older than the window


def test_propose_needs_another_organization_and_the_threshold():
    m = [
        Match(1, "a", T0, 0.9),
        Match(2, "b", T0, 0.5),
        Match(3, "c", T0, 0.1),
    ]
    assert [x.key for x in propose(m, org="a", threshold=0.3)] == [2]
    assert propose(m, org="a", threshold=0.3, min_orgs=2) == ()
    assert [x.key for x in propose(m, org="z", threshold=0.3, min_orgs=2)] == [1, 2]


def test_fault_reports_and_questions():
    assert is_fault_report("SSO login failing", "users get an error")
    assert is_fault_report("Zertifikat abgelaufen", "API nicht erreichbar")
    assert not is_fault_report("How to change the session length?", "Where can we set it?")
    # a fault word in a how-to subject still counts (crude, lexical: documented)
    assert is_fault_report("How to change login timeout?", "Where can we configure it?")
    assert not is_fault_report("Rotate API keys", "What's the way to rotate keys?")


def test_detector_links_other_orgs_and_grows_clusters():
    d = Detector(window=timedelta(hours=24), threshold=0.2, join_threshold=0.2)
    texts = [
        (1, "a", "Replication paused on all groups", "control plane unavailable since 07:15"),
        (2, "a", "Replication paused again", "control plane unavailable, same org"),
        (3, "b", "Replication paused - control plane unavailable", "all groups paused"),
    ]
    for i, (key, org, s, b) in enumerate(texts):
        found = d.observe(key, org, T0 + timedelta(minutes=i), s, b)
        if key == 2:
            assert found.links == ()  # same organization only: not multi-customer
    assert {m.key for m in found.links} == {1, 2}
    assert d.cluster_of(1) == frozenset({1, 2, 3})


words = st.sampled_from(
    "replication paused backup failed vault login okta saml invoice twice certificate "
    "expired api 429 dashboard slow the and how can we".split()
)
texts = st.lists(words, max_size=12).map(" ".join)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 30), st.sampled_from("abc"), st.integers(0, 72 * 60), texts),
        max_size=40,
    ),
    texts,
)
def test_index_invariants(ops, query):
    idx = _index(reweight_every=0.05)
    latest: dict[int, tuple[str, datetime, str]] = {}
    for key, org, minute, text in ops:
        at = T0 + timedelta(minutes=minute)
        idx.add(key, org, at, text, "")
        latest[key] = (org, at, text)
    assert len(idx) == len(latest)
    # document frequencies equal a recount
    for term in set(ticket_terms(query, "")):
        want = sum(1 for _, _, t in latest.values() if term in ticket_terms(t, ""))
        assert idx.df(term) == want
    got = idx.query(query, "", k=100)
    assert all(0.0 <= m.score <= 1.0 + 1e-9 for m in got)
    assert [m.score for m in got] == sorted((m.score for m in got), reverse=True)
    # pruned queries agree with the full scan above the cut
    cut = idx.query(query, "", k=100, min_score=0.3)
    assert {m.key for m in cut} == {m.key for m in got if m.score >= 0.3}
    # expiring everything empties the index
    idx.expire(T0 + timedelta(days=10))
    assert len(idx) == 0 and idx.vocabulary_size() == 0


def test_add_many_indexes_like_add():
    rows = [
        (1, "a", T0, "Replication paused", "control plane unavailable"),
        (2, "b", T0, "Invoice paid twice", "card charged twice"),
        (3, "c", T0 + timedelta(minutes=1), "replication stopped", "control plane error"),
    ]
    one, many = _index(), _index()
    for row in rows:
        one.add(*row)
    assert many.add_many(rows) == 3
    assert sorted(one.keys()) == sorted(many.keys())
    for term in ("replic", "invoic", "contro"):
        assert one.df(term) == many.df(term)
    q = ("replication paused", "control plane unavailable")
    assert [m.key for m in one.query(*q)] == [m.key for m in many.query(*q)]


def test_corpus_stopwords_are_skipped_in_big_indexes():
    idx = SimilarityIndex(window=timedelta(hours=24), max_df=0.5, max_df_floor=2)
    for key in range(1, 7):
        idx.add(key, "a", T0, "common words", f"unique{key}")
    # "common" is in every document (> 50 %): a query of it alone finds nothing
    assert idx.query("common", "") == []
    assert [m.key for m in idx.query("unique3", "")] == [3]
