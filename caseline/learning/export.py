"""Post-mortem exports: Markdown and PDF (fpdf2), both rendered from one structured
document (:func:`document`). The PDF embeds a Unicode TrueType font (DejaVu Sans from
Debian's ``fonts-dejavu-core``, or ``settings.LEARNING_PDF_FONT_DIR``); without one it
falls back to the built-in Helvetica, which only covers Latin-1 (other characters are
replaced by ``?``)."""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from django.conf import settings

FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu")
FONT_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}

SECTION_TITLES = (
    ("summary", "Summary"),
    ("customer_impact", "Customer impact"),
    ("root_cause", "Root cause"),
    ("contributing_factors", "Contributing factors"),
    ("went_well", "What went well"),
    ("went_badly", "What went badly"),
    ("process_improvements", "Process improvements"),
)


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC") if at else "—"


def document(pm, review=None) -> dict[str, Any]:
    """The post-mortem as plain data (what both exports render)."""
    subjects = []
    if pm.escalation_id:
        subjects.append(f"Escalation ESC-{pm.escalation_id}")
    if pm.incident_id:
        subjects.append(f"Incident INC-{pm.incident_id}")
    facts = [
        ("Status", pm.get_status_display()),
        ("Subject", ", ".join(subjects)),
        ("Resolved", _when(pm.resolved_at)),
        ("Root-cause category", str(pm.root_cause_category or "—")),
        ("Product area", str(pm.product_area or "—")),
        ("Authors", ", ".join(str(a) for a in pm.authors.all()) or "—"),
    ]
    if review is not None:
        facts.append(("Review meeting", _when(review.scheduled_at)))
    if pm.published_at:
        facts.append(("Published", _when(pm.published_at)))
    sections = [(title, getattr(pm, key) or "") for key, title in SECTION_TITLES]
    timeline = [(_when(t.at), t.text) for t in pm.timeline.all()]
    actions = [
        {
            "what": a.what,
            "owner": str(a.owner),
            "due": a.due_at.strftime("%Y-%m-%d"),
            "status": a.get_status_display()
            + (f" ({a.reason})" if a.status == "wont_do" and a.reason else ""),
            "ticket": f"#{a.ticket_id}" if a.ticket_id else "",
        }
        for a in pm.action_items.all()
    ]
    return {
        "title": f"Post-mortem {pm.reference}: {pm.title}",
        "facts": facts,
        "sections": sections,
        "timeline": timeline,
        "actions": actions,
    }


def _md_escape_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(doc: dict[str, Any]) -> str:
    lines = [f"# {doc['title']}", ""]
    for label, value in doc["facts"]:
        lines.append(f"- **{label}:** {value}")
    lines.append("")
    for title, body in doc["sections"][:3]:
        lines += [f"## {title}", "", body.strip() or "_(empty)_", ""]
    lines += ["## Timeline", ""]
    if doc["timeline"]:
        lines += ["| When | What |", "|---|---|"]
        lines += [f"| {w} | {_md_escape_cell(t)} |" for w, t in doc["timeline"]]
    else:
        lines.append("_(no entries)_")
    lines.append("")
    for title, body in doc["sections"][3:]:
        lines += [f"## {title}", "", body.strip() or "_(empty)_", ""]
    lines += ["## Action items", ""]
    if doc["actions"]:
        lines += ["| What | Owner | Due | Status | Ticket |", "|---|---|---|---|---|"]
        lines += [
            "| "
            + " | ".join(
                _md_escape_cell(a[k]) for k in ("what", "owner", "due", "status", "ticket")
            )
            + " |"
            for a in doc["actions"]
        ]
    else:
        lines.append("_(none)_")
    return "\n".join(lines).rstrip() + "\n"


def font_dir() -> str | None:
    configured = getattr(settings, "LEARNING_PDF_FONT_DIR", "") or os.environ.get(
        "CASELINE_PDF_FONT_DIR", ""
    )
    for folder in ([configured] if configured else []) + list(FONT_DIRS):
        if all(os.path.exists(os.path.join(folder, f)) for f in FONT_FILES.values()):
            return folder
    return None


def to_pdf(doc: dict[str, Any]) -> bytes:
    from fpdf import FPDF
    from fpdf.enums import XPos, YPos

    pdf = FPDF(format="A4")
    pdf.set_title(doc["title"])
    pdf.set_creator("Caseline")
    pdf.set_auto_page_break(auto=True, margin=15)
    folder = font_dir()
    if folder:
        for style, name in FONT_FILES.items():
            pdf.add_font("DejaVu", style, os.path.join(folder, name))
        family = "DejaVu"

        def clean(text: str) -> str:
            return text

    else:  # pragma: no cover - the machines have fonts-dejavu-core
        family = "Helvetica"

        def clean(text: str) -> str:
            return text.encode("latin-1", "replace").decode("latin-1")

    pdf.add_page()
    width = pdf.epw
    nl = {"new_x": XPos.LMARGIN, "new_y": YPos.NEXT}

    def heading(text: str, size: int = 13) -> None:
        pdf.ln(2)
        pdf.set_font(family, "B", size)
        pdf.multi_cell(width, 7, clean(text), **nl)
        pdf.set_font(family, "", 10)

    def para(text: str) -> None:
        pdf.set_font(family, "", 10)
        pdf.multi_cell(width, 5, clean(text or "(empty)"), **nl)

    heading(doc["title"], 16)
    for label, value in doc["facts"]:
        pdf.set_font(family, "B", 10)
        pdf.cell(45, 5, clean(label))
        pdf.set_font(family, "", 10)
        pdf.multi_cell(width - 45, 5, clean(str(value)), **nl)
    for title, body in doc["sections"][:3]:
        heading(title)
        para(body.strip())
    heading("Timeline")
    if not doc["timeline"]:
        para("(no entries)")
    for when, text in doc["timeline"]:
        pdf.set_font(family, "B", 9)
        pdf.cell(38, 5, clean(when))
        pdf.set_font(family, "", 9)
        pdf.multi_cell(width - 38, 5, clean(text), **nl)
    for title, body in doc["sections"][3:]:
        heading(title)
        para(body.strip())
    heading("Action items")
    if not doc["actions"]:
        para("(none)")
    for a in doc["actions"]:
        pdf.set_font(family, "B", 10)
        pdf.multi_cell(width, 5, clean(f"• {a['what']}"), **nl)
        pdf.set_font(family, "", 9)
        extra = f" · ticket {a['ticket']}" if a["ticket"] else ""
        pdf.multi_cell(
            width, 5, clean(f"  {a['owner']} · due {a['due']} · {a['status']}{extra}"), **nl
        )
    return bytes(pdf.output())
