"""Markdown and PDF exports (the PDF parsed back with pypdf)."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from pypdf import PdfReader

from caseline.learning import export, queries, services
from caseline.learning.models import RootCauseCategory

from .conftest import T0

pytestmark = pytest.mark.django_db


def _filled(world):
    pm = world.resolved_escalation().postmortem
    cat = RootCauseCategory.objects.get(name="Software defect")
    services.update_postmortem(
        pm.pk,
        world.lead,
        summary="Replication stopped for Łódź and Zürich customers — 3 h",
        customer_impact="Writes queued; Привет from the Kyiv office",
        root_cause_category_id=cat.pk,
        went_well="Paging | escalation worked",
        process_improvements="Canary config pushes",
    )
    services.add_action_item(
        pm.pk,
        world.lead,
        what="Alert on replica lag",
        owner_id=world.agent.pk,
        due_at=T0 + timedelta(days=7),
    )
    pm = queries.get_postmortem(pm.pk)
    return pm, export.document(pm, queries.review_of(pm))


def test_markdown_has_every_section_the_timeline_and_actions(world):
    pm, doc = _filled(world)
    md = export.to_markdown(doc)
    assert md.startswith(f"# Post-mortem {pm.reference}: ")
    for heading in (
        "## Summary",
        "## Customer impact",
        "## Root cause",
        "## Timeline",
        "## Contributing factors",
        "## What went well",
        "## What went badly",
        "## Process improvements",
        "## Action items",
    ):
        assert heading in md
    assert "Replica lag after a config push" in md
    assert "- **Root-cause category:** Software defect" in md
    assert "| Alert on replica lag | agent@caseline.test |" in md
    assert "Paging | escalation" in md  # a section body is not a table cell
    assert "escalation.opened" in md


def test_pdf_is_a_pdf_with_the_sections_in_unicode(world):
    _, doc = _filled(world)
    data = export.to_pdf(doc)
    assert data.startswith(b"%PDF")
    assert export.font_dir() is not None  # DejaVu (fonts-dejavu-core)
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)
    for needle in (
        "Summary",
        "Root cause",
        "Timeline",
        "Action items",
        "Alert on replica lag",
        "Łódź",
        "Zürich",
        "Привет",
        "Replica lag after a config push",
    ):
        assert needle in text, needle
