"""API shapes of /api/v1/search."""

from __future__ import annotations

from datetime import datetime

from ninja import Schema

from .backends import Hit


class HitOut(Schema):
    kind: str
    id: int
    title: str
    snippet_html: str
    ticket_id: int | None
    organization_id: int | None
    organization: str | None
    updated_at: datetime | None
    score: float


class SearchMeta(Schema):
    query: str
    type: str | None
    limit: int
    count: int


class SearchResponse(Schema):
    results: list[HitOut]
    meta: SearchMeta


def hit_out(hit: Hit) -> dict:
    return {
        "kind": hit.kind,
        "id": hit.id,
        "title": hit.title,
        "snippet_html": hit.snippet_html,
        "ticket_id": hit.ticket_id,
        "organization_id": hit.org_id,
        "organization": hit.org,
        "updated_at": hit.updated_at,
        "score": round(hit.score, 6),
    }
