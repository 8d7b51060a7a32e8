"""The bulletin as an A4 PDF, rendered on the server with ReportLab.

Chinese text needs a font with CJK glyphs embedded in the file: WenQuanYi Micro Hei
from Debian's ``fonts-wqy-microhei`` (``GRIDS_PDF_FONT``; ``scripts/system_tools.py
cjk-font`` installs it), embedded as a subset with a ToUnicode map so the text can be
searched and extracted (pdftotext).  Without that file ReportLab's built-in CID font
STSong-Light is used: it renders everywhere Adobe's Asian fonts are known but is not
embedded.
"""
from __future__ import annotations

import io
import logging
import os
from typing import Any
from xml.sax.saxutils import escape

from flask import current_app
from flask_babel import gettext as _
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

log = logging.getLogger(__name__)
EMBEDDED = "GridsCJK"
FALLBACK = "STSong-Light"
RED, BLACK_LIST = colors.HexColor("#C00000"), colors.HexColor("#222222")


def font_name() -> str:
    """Register the CJK font once per process; its ReportLab name."""
    path = current_app.config["GRIDS_PDF_FONT"]
    if EMBEDDED in pdfmetrics.getRegisteredFontNames():
        return EMBEDDED
    if os.path.exists(path):
        pdfmetrics.registerFont(TTFont(EMBEDDED, path, subfontIndex=0))
        return EMBEDDED
    if FALLBACK not in pdfmetrics.getRegisteredFontNames():
        log.warning("CJK font %s not found; using the non-embedded %s", path, FALLBACK)
        pdfmetrics.registerFont(UnicodeCIDFont(FALLBACK))
    return FALLBACK


def _para(text: str, style: ParagraphStyle) -> Paragraph:
    """A paragraph of plain text (names from the database may hold & or <, which ReportLab reads as markup)."""
    return Paragraph(escape(str(text)), style)


def _number(value: Any, digits: int = 2) -> str:
    if value is None:
        return "—"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _change(value: int | None) -> str:
    if value is None:
        return "—"
    return f"↑{value}" if value > 0 else f"↓{-value}" if value < 0 else "—"


def render(content: dict[str, Any]) -> bytes:
    """The bulletin's PDF (A4 portrait) in the request's language."""
    font = font_name()
    title = ParagraphStyle("title", fontName=font, fontSize=17, leading=24, alignment=1, spaceAfter=4)
    heading = ParagraphStyle("heading", fontName=font, fontSize=12, leading=18, spaceBefore=8, spaceAfter=4)
    body = ParagraphStyle("body", fontName=font, fontSize=9.5, leading=14)
    small = ParagraphStyle("small", fontName=font, fontSize=8, leading=11, alignment=1,
                           textColor=colors.HexColor("#555555"))
    region, summary = content["region"], content["summary"]
    story: list[Any] = [
        _para(_("%(region)s anti-fraud grid work bulletin, %(period)s", region=region["name"],
                    period=content["period"]), title),
        _para(_("Period %(start)s to %(end)s · scorecard version %(version)s · %(edition)s",
                    start=content["from"], end=content["to"], version=content["scorecard_version"],
                    edition=_("edition %(n)s", n=content["edition"]) if content["edition"] else _("draft")), small),
        Spacer(1, 4 * mm),
        _para(_("Overview"), heading),
        _para(_("Households visited %(visited)s of %(households)s (coverage %(coverage)s, last month "
                    "%(previous)s); vulnerable coverage %(vulnerable)s; %(visits)s visits, %(flagged)s flagged; "
                    "%(campaigns)s publicity events.",
                    visited=summary["households_visited"], households=summary["households"],
                    coverage=_percent(summary["coverage"]), previous=_percent(summary["previous_coverage"]),
                    vulnerable=_percent(summary["vulnerable_coverage"]), visits=summary["visits"],
                    flagged=summary["flagged_visits"], campaigns=summary["campaigns"]), body),
    ]
    story += _ranking_table(content["rankings"], font)
    story += _lists(content, font, heading)
    story += _changes(content["changes"], body, heading)
    warnings, cases = content["warnings"], content["cases"]
    story += [
        _para(_("Fund warnings"), heading),
        _para(_("%(n)s warnings (last month %(previous)s); %(met)s met, %(on_time)s on time (%(share)s); "
                    "median %(median)s minutes to meet; %(dissuaded)s dissuaded, %(transferred)s transferred "
                    "(%(amount)s yuan).",
                    n=warnings["warnings"], previous=warnings["previous_warnings"], met=warnings["met"],
                    on_time=warnings["met_on_time"], share=_percent(warnings["met_on_time_share"]),
                    median=_number(warnings["median_minutes_to_meet"], 1), dissuaded=warnings["dissuaded"],
                    transferred=warnings["transferred"], amount=_number(warnings["amount_transferred_yuan"])),
                  body),
        _para(_("Fraud cases"), heading),
        _para(_("%(n)s cases (last month %(previous)s), losses %(loss)s yuan.", n=cases["cases"],
                    previous=cases["previous_cases"], loss=_number(cases["loss_yuan"])), body),
    ]
    if cases["items"]:
        story.append(_table([[_("Date"), _("Village"), _("Type"), _("Loss (yuan)")]] + [
            [c["occurred_on"], c["village_name"], c["type"], _number(c["loss_yuan"])] for c in cases["items"]],
            font, [28 * mm, 60 * mm, 55 * mm, 30 * mm]))
    buffer = io.BytesIO()
    document = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=16 * mm, rightMargin=16 * mm, topMargin=16 * mm,
                                 bottomMargin=16 * mm, title=f"{region['name']} {content['period']}",
                                 author="grids", subject="bulletin")
    document.build(story, onFirstPage=_footer(font), onLaterPages=_footer(font))
    return buffer.getvalue()


def _table(rows: list[list[Any]], font: str, widths: list[float], highlight: dict[int, Any] | None = None) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1)
    style = [("FONTNAME", (0, 0), (-1, -1), font), ("FONTSIZE", (0, 0), (-1, -1), 8.5),
             ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#E7E6E6")),
             ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#999999")),
             ("ALIGN", (2, 1), (-1, -1), "RIGHT"), ("VALIGN", (0, 0), (-1, -1), "MIDDLE")]
    for row, colour in (highlight or {}).items():
        style.append(("TEXTCOLOR", (0, row), (-1, row), colour))
    table.setStyle(TableStyle(style))
    return table


def _ranking_table(rows: list[dict[str, Any]], font: str) -> list[Any]:
    header = [_("Rank"), _("Region"), _("Score"), _("Last month"), _("Change"), _("Coverage"), _("Vulnerable"),
              _("App"), _("Cases"), _("Events")]
    body = [[_number(r["rank"]), r["name"], _number(r["score"]), _number(r["previous_rank"]),
             _change(r["rank_change"]), _percent(r["coverage"]), _percent(r["vulnerable_coverage"]),
             _percent(r["app_install_rate"]), str(r["cases"]), str(r["campaigns"])] for r in rows]
    widths = [11 * mm, 46 * mm, 15 * mm, 16 * mm, 13 * mm, 17 * mm, 17 * mm, 15 * mm, 12 * mm, 12 * mm]
    heading = ParagraphStyle("h", fontName=font, fontSize=12, leading=18, spaceBefore=8, spaceAfter=4)
    return [_para(_("Ranking"), heading), _table([header] + body, font, widths)]


def _lists(content: dict[str, Any], font: str, heading: ParagraphStyle) -> list[Any]:
    parts: list[Any] = []
    for key, label, colour in (("red_list", _("Red list (best)"), RED),
                               ("black_list", _("Black list (worst)"), BLACK_LIST)):
        rows = content[key]
        if not rows:
            continue
        table = _table([[_("Rank"), _("Region"), _("Score")]] +
                       [[_number(r["rank"]), r["name"], _number(r["score"])] for r in rows],
                       font, [15 * mm, 70 * mm, 20 * mm], {i: colour for i in range(1, len(rows) + 1)})
        parts += [_para(label, heading), table]
    return parts


def _changes(changes: dict[str, Any], body: ParagraphStyle, heading: ParagraphStyle) -> list[Any]:
    def line(rows):
        return "; ".join(_("%(name)s %(before)s → %(after)s", name=r["name"], before=r["previous_rank"],
                           after=r["rank"]) for r in rows) or _("none")

    return [_para(_("Changes since last month"), heading),
            _para(_("Up: %(rows)s", rows=line(changes["risers"])), body),
            _para(_("Down: %(rows)s", rows=line(changes["fallers"])), body)]


def _footer(font: str):
    def draw(canvas, document):
        canvas.saveState()
        canvas.setFont(font, 8)
        canvas.drawCentredString(A4[0] / 2, 9 * mm, _("Page %(n)s", n=document.page))
        canvas.restoreState()
    return draw
