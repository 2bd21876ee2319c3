"""Multi-customer detection: which recent tickets of *other* organizations look like this
new one? (SPEC §6, docs/incident-detection.md)

Pure: no Django, no caseline imports outside ``caseline.text``. Three pieces:

1. :func:`ticket_terms` — the content-word stems of a ticket's subject (counted
   ``SUBJECT_WEIGHT`` times) and first message, with the reply checker's tokeniser
   (EN + DE stopwords, crude stemmer, synonym table: ``login``/``Anmeldung``,
   ``certificate``/``Zertifikat``, ``error``/``Fehler`` …).
2. :class:`SimilarityIndex` — an incremental in-memory TF-IDF index of the tickets of the
   last ``window``: ``add`` (idempotent: re-adding a key replaces it), ``remove``,
   ``expire(now)``, and ``query`` by cosine similarity through an inverted index, so a
   query touches only the postings of its own terms. Document frequencies are kept exact
   on every add/remove; stored document weights are re-normalised with the current IDF
   whenever the index has grown or shrunk by ``reweight_every`` (10 %) since the last
   pass, so the amortised cost of an add stays a few dozen dictionary operations.
   A query walks its terms rarest first; once the terms left could not lift a new
   document to ``min_score`` any more, it only updates the candidates it already has
   (exact for every document scoring ``>= min_score``).
3. :func:`propose` — the decision: matches of a *different* organization scoring at least
   ``threshold``, and only if at least ``min_orgs`` other organizations are among them.
"""

from __future__ import annotations

import heapq
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from caseline.text.replycheck_lexicon import tokens

__all__ = [
    "DEFAULT_HISTORY_HOURS",
    "DEFAULT_JOIN_THRESHOLD",
    "DEFAULT_MIN_ORGS",
    "DEFAULT_THRESHOLD",
    "DEFAULT_WINDOW_HOURS",
    "MAX_CHARS",
    "SUBJECT_WEIGHT",
    "Detection",
    "Detector",
    "Match",
    "SimilarityIndex",
    "is_fault_report",
    "propose",
    "ticket_terms",
]

#: Cosine similarity at or above which a link is proposed (chosen on the tune half of
#: tests/fixtures/incidents; docs/incident-detection.md).
DEFAULT_THRESHOLD = 0.25
#: A ticket joins the cluster of a match scoring at least this.
DEFAULT_JOIN_THRESHOLD = 0.35
DEFAULT_WINDOW_HOURS = 24.0
#: Document frequencies (IDF) come from this much history (>= the window).
DEFAULT_HISTORY_HOURS = 168.0
DEFAULT_MIN_ORGS = 1
#: The subject is counted this many times: it is the customer's own summary.
SUBJECT_WEIGHT = 2
#: Text of the first message beyond this many characters is not read.
MAX_CHARS = 4_000


def ticket_terms(subject: str, body: str) -> list[str]:
    """The terms of a ticket: subject stems (``SUBJECT_WEIGHT`` times) + body stems."""
    head = tokens(subject or "")
    return head * SUBJECT_WEIGHT + tokens((body or "")[:MAX_CHARS])


@dataclass(frozen=True, slots=True)
class Match:
    """An indexed ticket similar to the query, with its cosine ``score`` (0..1)."""

    key: int
    org: str
    opened_at: datetime
    score: float


@dataclass(slots=True)
class _Doc:
    org: str
    opened_at: datetime
    tf: dict[str, float]  # 1 + log(count), per term
    weights: dict[str, float]  # normalised TF-IDF weights as in the postings


class SimilarityIndex:
    """TF-IDF over the tickets of the last ``window``; keys are ticket ids.

    Not thread-safe: one index per process, guarded by the caller if it shares it.
    """

    def __init__(
        self,
        *,
        window: timedelta = timedelta(hours=DEFAULT_WINDOW_HOURS),
        reweight_every: float = 0.10,
        max_df: float = 0.05,
        max_df_floor: int = 500,
        reweight_limit: int = 5_000,
    ) -> None:
        if window <= timedelta(0):
            raise ValueError("window must be positive")
        self.window = window
        #: query terms in more than max(max_df * n, max_df_floor) documents are skipped
        #: (corpus stopwords, as scikit-learn's ``max_df``): they add little to a score and
        #: their postings are most of a query's cost in a large window
        self.max_df = max_df
        self.max_df_floor = max_df_floor
        self._reweight_every = reweight_every
        #: past this size the IDF is stable: stored weights are no longer re-normalised
        #: (a new document is weighted with the IDF of its moment), so an add never
        #: pays for a pass over the whole index
        self._reweight_limit = reweight_limit
        self._docs: dict[int, _Doc] = {}
        self._postings: dict[str, dict[int, float]] = {}
        self._df: Counter[str] = Counter()
        #: an upper bound of each term's weight in any document (for query pruning)
        self._maxw: dict[str, float] = {}
        self._expiry: list[tuple[datetime, int]] = []  # heap of (opened_at, key)
        self._weighted_at = 0  # index size at the last re-weighting pass
        self.latest: datetime | None = None  # the newest opened_at ever added

    # ------------------------------------------------------------------ inspection

    def __len__(self) -> int:
        return len(self._docs)

    def __contains__(self, key: object) -> bool:
        return key in self._docs

    def keys(self) -> list[int]:
        return list(self._docs)

    def vocabulary_size(self) -> int:
        return len(self._postings)

    def df(self, term: str) -> int:
        return self._df.get(term, 0)

    def idf(self, term: str) -> float:
        """Smoothed IDF (as scikit-learn's ``smooth_idf``): ``ln((1+n)/(1+df)) + 1``."""
        return math.log((1 + len(self._docs)) / (1 + self._df.get(term, 0))) + 1.0

    # ------------------------------------------------------------------ changes

    def add(self, key: int, org: str, opened_at: datetime, subject: str, body: str) -> None:
        """Index a ticket (replacing an earlier entry of ``key``)."""
        self.add_terms(key, org, opened_at, ticket_terms(subject, body))

    def add_terms(self, key: int, org: str, opened_at: datetime, terms: Iterable[str]) -> None:
        if key in self._docs:
            self.remove(key)
        counts = Counter(terms)
        tf = {t: 1.0 + math.log(c) for t, c in counts.items()}
        self._docs[key] = _Doc(org=org, opened_at=opened_at, tf=tf, weights={})
        self._df.update(tf.keys())
        heapq.heappush(self._expiry, (opened_at, key))
        if self.latest is None or opened_at > self.latest:
            self.latest = opened_at
        if self._needs_reweight():
            self._reweight()
        else:
            self._post(key, tf)

    def remove(self, key: int) -> bool:
        """Drop ``key`` from the index; False if it was not there."""
        doc = self._docs.pop(key, None)
        if doc is None:
            return False
        for term in doc.tf:
            posting = self._postings.get(term)
            if posting is not None:
                posting.pop(key, None)
                if not posting:
                    del self._postings[term]
            left = self._df[term] - 1
            if left > 0:
                self._df[term] = left
            else:
                del self._df[term]
        # the expiry heap entry stays; expire() skips entries of removed/re-added keys
        if self._needs_reweight():
            self._reweight()
        return True

    def expire(self, now: datetime) -> int:
        """Remove the tickets opened before ``now - window``; returns how many."""
        cutoff = now - self.window
        removed = 0
        while self._expiry and self._expiry[0][0] < cutoff:
            opened_at, key = heapq.heappop(self._expiry)
            doc = self._docs.get(key)
            if doc is not None and doc.opened_at == opened_at:
                self.remove(key)
                removed += 1
        if len(self._expiry) > 2 * len(self._docs) + 64:  # drop stale heap entries
            self._expiry = [(d.opened_at, k) for k, d in self._docs.items()]
            heapq.heapify(self._expiry)
        return removed

    def _needs_reweight(self) -> bool:
        n, then = len(self._docs), self._weighted_at
        if then >= self._reweight_limit and n >= self._reweight_limit:
            return False
        return abs(n - then) > max(8.0, self._reweight_every * then)

    def add_many(self, items: Iterable[tuple[int, str, datetime, str, str]]) -> int:
        """Index many tickets ``(key, org, opened_at, subject, body)`` at once (the build
        from the database): one weighting pass at the end instead of one per growth step."""
        count = 0
        for key, org, opened_at, subject, body in items:
            if key in self._docs:
                self.remove(key)
            counts = Counter(ticket_terms(subject, body))
            tf = {t: 1.0 + math.log(c) for t, c in counts.items()}
            self._docs[key] = _Doc(org=org, opened_at=opened_at, tf=tf, weights={})
            self._df.update(tf.keys())
            heapq.heappush(self._expiry, (opened_at, key))
            if self.latest is None or opened_at > self.latest:
                self.latest = opened_at
            count += 1
        if count:
            self._reweight()
        return count

    def _post(self, key: int, tf: dict[str, float]) -> None:
        weights = {t: w * self.idf(t) for t, w in tf.items()}
        norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
        normed = {t: w / norm for t, w in weights.items()}
        self._docs[key].weights = normed
        maxw = self._maxw
        for term, weight in normed.items():
            self._postings.setdefault(term, {})[key] = weight
            if weight > maxw.get(term, 0.0):
                maxw[term] = weight

    def _reweight(self) -> None:
        self._postings = {}
        self._maxw = {}
        for key, doc in self._docs.items():
            self._post(key, doc.tf)
        self._weighted_at = len(self._docs)

    # ------------------------------------------------------------------ queries

    def query(
        self,
        subject: str,
        body: str,
        *,
        k: int = 50,
        min_score: float = 0.0,
        exclude: int | None = None,
        at: datetime | None = None,
        within: timedelta | None = None,
    ) -> list[Match]:
        """The ``k`` most similar indexed tickets scoring ``>= min_score``, best first.

        ``at``: only tickets opened in ``[at - window, at]`` count (default: all indexed).
        ``within``: a shorter look-back than ``window`` for the candidates (the IDF still
        comes from the whole window).
        ``exclude``: a key to leave out (the ticket itself when it is indexed already).
        """
        return self.query_terms(
            ticket_terms(subject, body),
            k=k,
            min_score=min_score,
            exclude=exclude,
            at=at,
            within=within,
        )

    def query_terms(
        self,
        terms: Iterable[str],
        *,
        k: int = 50,
        min_score: float = 0.0,
        exclude: int | None = None,
        at: datetime | None = None,
        within: timedelta | None = None,
    ) -> list[Match]:
        limit = max(self.max_df * len(self._docs), self.max_df_floor)
        df = self._df
        counts = Counter(t for t in terms if t in self._postings and df[t] <= limit)
        if not counts or k <= 0:
            return []
        qw = {t: (1.0 + math.log(c)) * self.idf(t) for t, c in counts.items()}
        qnorm = math.sqrt(sum(w * w for w in qw.values()))
        qn = {t: w / qnorm for t, w in qw.items()}
        # MaxScore: a term's contribution to any document is at most q_t * max weight of
        # the term. Terms whose bounds add up to less than min_score are "non-essential":
        # a document having only those cannot reach min_score, so candidates come from
        # the postings of the essential terms alone; the non-essential terms are then
        # looked up in the candidates' own vectors, for those that can still make it.
        maxw = self._maxw
        order = sorted(qn, key=lambda t: qn[t] * maxw.get(t, 1.0))
        rest = 0.0
        split = 0
        if min_score > 0.0:
            for term in order:
                bound = qn[term] * maxw.get(term, 1.0)
                if rest + bound >= min_score:
                    break
                rest += bound
                split += 1
        essential = order[split:]
        lazy = order[:split]
        acc: dict[int, float] = {}
        get = acc.get
        for term in essential:
            w = qn[term]
            for key, dw in self._postings[term].items():
                acc[key] = get(key, 0.0) + w * dw
        if lazy:
            docs = self._docs
            floor = min_score - rest
            for key in [k for k, v in acc.items() if v >= floor]:
                dws = docs[key].weights
                acc[key] += sum(qn[t] * dws.get(t, 0.0) for t in lazy)
        if exclude is not None:
            acc.pop(exclude, None)
        lo = at - (within or self.window) if at is not None else None
        docs = self._docs

        def visible(key: int) -> bool:
            if at is None or lo is None:
                return True
            return lo <= docs[key].opened_at <= at

        best = heapq.nlargest(
            k, ((score, key) for key, score in acc.items() if score >= min_score and visible(key))
        )
        out: list[Match] = []
        for score, key in best:
            doc = self._docs[key]
            out.append(Match(key=key, org=doc.org, opened_at=doc.opened_at, score=min(score, 1.0)))
        return out


def propose(
    matches: Sequence[Match],
    *,
    org: str,
    threshold: float = DEFAULT_THRESHOLD,
    min_orgs: int = DEFAULT_MIN_ORGS,
) -> tuple[Match, ...]:
    """The links to propose for a new ticket of ``org``: matches of other organizations
    scoring ``>= threshold`` (best first), or nothing when fewer than ``min_orgs``
    distinct other organizations are among them."""
    chosen = tuple(
        sorted(
            (m for m in matches if m.org != org and m.score >= threshold),
            key=lambda m: (-m.score, m.key),
        )
    )
    if len({m.org for m in chosen}) < max(1, min_orgs):
        return ()
    return chosen


# --------------------------------------------------------------------------- faults

# A multi-customer incident is a fault that several customers report; a how-to question
# ("how do we rotate API keys?") asked by two customers on the same day is none. A ticket
# is a fault report when it says something fails, stopped, is missing, slow, expired,
# broken … (EN + DE), and not when it only asks how to do or configure something.
_FAULT = re.compile(
    r"""\b(?:
        errors?|error:|fail(?:s|ed|ing|ure|ures)?|failing|broken|down|outage|stör\w*|
        ausfall|fehler\w*|fehlgeschlagen|schlägt\s+fehl|schlagen\s+fehl|bricht\w*|
        (?:not|n't|nicht)\s+(?:\w+\s+){0,2}(?:work\w*|load\w*|arriv\w*|receiv\w*|
            deliver\w*|reach\w*|resolv\w*|progress\w*|run|running|start\w*|
            funktionier\w*|an|erreichbar|auflösbar|möglich|mehr)|
        can'?t|cannot|unable|couldn'?t|could\s+not|kann\s+nicht|können\s+nicht|
        niemand|nobody|none\s+of|no\s+(?:one|longer)|
        stopp?ed|stuck|hangs?|hanging|hängt|freez\w*|spin\w*|
        slow|langsam|delayed|verspätet\w*|late|timeouts?|times?\s+out|timed\s+out|
        empty|blank|leer\w*|missing|fehlt|zero\s+rows|
        expired|abgelaufen|invalid|declined|abgelehnt|rejected|denied|
        unavailable|unreachable|paused|pausiert|locked|
        twice|doppelt\w*|zweimal|duplicate|
        [45]\d\d|too\s+many\s+requests|rate\s+limit(?:ed|ing)?\s+(?:exceeded|errors?)|
        throttl\w*|
        urgent\w*|dringend\w*|asap|erneut|
        since\s+(?:this|about|around|midnight|noon|tonight|\d)|seit\s+(?:heute|ca|kurzem|\d|mitternacht)
    )(?!\w)""",
    re.IGNORECASE | re.VERBOSE,
)
_HOW_TO = re.compile(
    r"""^\s*(?:
        how\s+(?:do|can|should|would|to|does|is|long|much)|
        (?:can|could|do|does|is|are|should|will|would)\s+(?:we|i|you|it|there|the|our|your)\b|
        what(?:'s|\s+is|\s+are|\s+does|\s+should)|where|which|who|when\s+will|
        wie|kann\s+man|können\s+wir|können\s+sie|gibt\s+es|welche|wo|was|unterstützt|
        please\s+(?:add|send|change|update)|bitte\s+(?:ändern|senden)
    )""",
    re.IGNORECASE | re.VERBOSE,
)


def is_fault_report(subject: str, body: str) -> bool:
    """Does the ticket report something broken (rather than ask how to do something)?

    True when the subject or the first two sentences of the message name a fault and
    the subject is not itself a how-to question. Crude and lexical (EN + DE); used to keep
    look-alike questions out of incident clusters.
    """
    head = " ".join(re.split(r"(?<=[.!?])\s+", (body or "")[:MAX_CHARS].strip())[:2])
    subject = subject or ""
    if _HOW_TO.match(subject) and not _FAULT.search(subject):
        return False
    return bool(_FAULT.search(subject) or _FAULT.search(head))


# --------------------------------------------------------------------------- detector


@dataclass(frozen=True, slots=True)
class Detection:
    """What the detector proposes for one new ticket.

    ``direct``: other-organization tickets similar enough on their own;
    ``links``: ``direct`` plus the other-organization members of the clusters those
    tickets already belong to (best score first; a cluster member reached only through
    its cluster carries the score of the direct match that brought it in).
    """

    key: int
    fault: bool
    direct: tuple[Match, ...]
    links: tuple[Match, ...]

    @property
    def orgs(self) -> frozenset[str]:
        return frozenset(m.org for m in self.links)


class Detector:
    """Single-pass clustering of a stream of tickets (topic detection and tracking):
    each new ticket is compared with the tickets of the window; if it matches fault
    reports of other organizations it is proposed for their clusters and joins them.

    Clusters are kept as a union-find over keys; :meth:`join` lets the caller restore
    clusters it stored (proposals accepted, tickets linked to one incident).
    """

    def __init__(
        self,
        *,
        window: timedelta = timedelta(hours=DEFAULT_WINDOW_HOURS),
        threshold: float = DEFAULT_THRESHOLD,
        min_orgs: int = DEFAULT_MIN_ORGS,
        require_fault: bool = True,
        expand: bool = True,
        join_threshold: float | None = DEFAULT_JOIN_THRESHOLD,
        history: timedelta | None = timedelta(hours=DEFAULT_HISTORY_HOURS),
        max_links: int = 200,
    ) -> None:
        #: candidates come from ``window``; document frequencies from ``history`` (>= window)
        self.window = window
        self.index = SimilarityIndex(window=max(window, history or window))
        self.threshold = threshold
        #: a ticket joins the cluster of a match scoring at least this (default: threshold)
        self.join_threshold = max(threshold, join_threshold or threshold)
        self.min_orgs = min_orgs
        self.require_fault = require_fault
        self.expand = expand
        #: at most this many tickets are proposed for one new ticket
        self.max_links = max_links
        self._parent: dict[int, int] = {}
        self._members: dict[int, set[int]] = {}
        self._fault: dict[int, bool] = {}

    def __len__(self) -> int:
        return len(self.index)

    # ------------------------------------------------------------------ clusters

    def _find(self, key: int) -> int:
        root = key
        while self._parent.get(root, root) != root:
            root = self._parent[root]
        while key != root:  # path compression
            nxt = self._parent.get(key, key)
            self._parent[key] = root
            key = nxt
        return root

    def join(self, a: int, b: int) -> None:
        """Put ``a`` and ``b`` (and their clusters) into one cluster."""
        ra, rb = self._find(a), self._find(b)
        if ra == rb:
            return
        ma = self._members.pop(ra, {ra})
        mb = self._members.pop(rb, {rb})
        if len(ma) < len(mb):
            ra, rb, ma, mb = rb, ra, mb, ma
        self._parent[rb] = ra
        ma |= mb
        self._members[ra] = ma

    def cluster_of(self, key: int) -> frozenset[int]:
        """The indexed keys in ``key``'s cluster (itself included when indexed)."""
        members = self._members.get(self._find(key), {key})
        return frozenset(k for k in members if k in self.index)

    # ------------------------------------------------------------------ stream

    def add(self, key: int, org: str, opened_at: datetime, subject: str, body: str) -> None:
        self._fault[key] = is_fault_report(subject, body)
        self.index.add(key, org, opened_at, subject, body)

    def add_many(self, items: Sequence[tuple[int, str, datetime, str, str]]) -> int:
        for key, _org, _at, subject, body in items:
            self._fault[key] = is_fault_report(subject, body)
        return self.index.add_many(items)

    def expire(self, now: datetime) -> int:
        removed = self.index.expire(now)
        if removed and len(self._fault) > 2 * len(self.index) + 64:
            live = set(self.index.keys())
            self._fault = {k: v for k, v in self._fault.items() if k in live}
            roots = {k: self._find(k) for k in live}
            self._parent = {k: r for k, r in roots.items() if k != r}
            members: dict[int, set[int]] = {}
            for k, r in roots.items():
                members.setdefault(r, set()).add(k)
            self._members = {r: m for r, m in members.items() if len(m) > 1}
        return removed

    def detect(
        self,
        key: int,
        org: str,
        opened_at: datetime,
        subject: str,
        body: str,
        *,
        k: int = 50,
        until: datetime | None = None,
    ) -> Detection:
        """Propose links for a ticket (indexed or not; it is never matched with itself).

        Candidates are the tickets opened from ``window`` before ``opened_at`` until
        ``until`` (default ``opened_at``: what was known when the ticket came in; a later
        ``until`` also shows the tickets that came after it)."""
        end = opened_at if until is None or until < opened_at else until
        fault = is_fault_report(subject, body)
        if self.require_fault and not fault:
            return Detection(key=key, fault=False, direct=(), links=())
        matches = self.index.query(
            subject,
            body,
            k=k,
            min_score=self.threshold,
            exclude=key,
            at=end,
            within=end - opened_at + self.window,
        )
        if self.require_fault:
            matches = [m for m in matches if self._fault.get(m.key, True)]
        direct = propose(matches, org=org, threshold=self.threshold, min_orgs=1)
        if not direct:
            return Detection(key=key, fault=fault, direct=(), links=())
        best: dict[int, Match] = {m.key: m for m in direct}
        if self.expand:
            lo = opened_at - self.window
            roots: set[int] = set()
            for m in matches:
                if m.score < self.threshold:
                    continue
                root = self._find(m.key)
                if root in roots:  # each cluster once, through its best match
                    continue
                roots.add(root)
                for member in self.cluster_of(m.key):
                    if len(best) >= self.max_links:
                        break
                    if member == key or member in best:
                        continue
                    entry = self.index._docs[member]
                    if entry.org == org or not (lo <= entry.opened_at <= end):
                        continue
                    best[member] = Match(
                        key=member, org=entry.org, opened_at=entry.opened_at, score=m.score
                    )
        links = tuple(sorted(best.values(), key=lambda m: (-m.score, m.key)))
        if len({m.org for m in links}) < max(1, self.min_orgs):
            return Detection(key=key, fault=fault, direct=(), links=())
        return Detection(key=key, fault=fault, direct=direct, links=links)

    def observe(
        self, key: int, org: str, opened_at: datetime, subject: str, body: str
    ) -> Detection:
        """Detect, then index the ticket and join it to the clusters of its matches
        (same-organization matches above the threshold join too: a second ticket of an
        affected customer belongs to the incident, it is just not a *new* customer)."""
        self.expire(opened_at)
        found = self.detect(key, org, opened_at, subject, body)
        same_org: list[Match] = []
        if found.fault or not self.require_fault:
            same_org = [
                m
                for m in self.index.query(
                    subject,
                    body,
                    k=10,
                    min_score=self.threshold,
                    exclude=key,
                    at=opened_at,
                    within=self.window,
                )
                if m.org == org and (not self.require_fault or self._fault.get(m.key, True))
            ]
        self.add(key, org, opened_at, subject, body)
        for m in (*found.direct, *same_org):
            if m.score >= self.join_threshold:
                self.join(key, m.key)
        return found
