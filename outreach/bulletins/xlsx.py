"""The bulletin as an XLSX workbook: one sheet each for the ranking, the red and black lists, the
changes, warnings and cases.  Every row goes through ``core.exports.append_row``, the one function
that neutralises text a spreadsheet would run as a formula, for every export."""
from __future__ import annotations

import io
from typing import Any

from flask_babel import gettext as _
from openpyxl import Workbook
from openpyxl.styles import Font

from core.exports import append_row

RANKING_COLUMNS = ("rank", "code", "name", "score", "previous_rank", "rank_change", "previous_score", "score_change",
                   "coverage", "vulnerable_coverage", "app_install_rate", "warnings_met_on_time", "flagged_share",
                   "campaigns_per_1k_households", "households", "cases", "campaigns", "warnings")
SHARES = {"coverage", "vulnerable_coverage", "app_install_rate", "warnings_met_on_time", "flagged_share"}


def _sheet(workbook: Workbook, title: str, header: list[str], rows: list[list[Any]], shares: set[int] = frozenset()):
    sheet = workbook.create_sheet(title)
    append_row(sheet, header)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        append_row(sheet, row)
    for index in shares:
        for cell in list(sheet.iter_cols(min_col=index + 1, max_col=index + 1, min_row=2))[0] if rows else []:
            cell.number_format = "0.0%"
    sheet.freeze_panes = "A2"
    for column in sheet.columns:
        width = max(len(str(c.value or "")) * (2 if any(ord(ch) > 255 for ch in str(c.value or "")) else 1)
                    for c in column)
        sheet.column_dimensions[column[0].column_letter].width = min(40, width + 2)
    return sheet


def render(content: dict[str, Any]) -> bytes:
    """The bulletin's workbook."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    summary, warnings, cases = content["summary"], content["warnings"], content["cases"]
    _sheet(workbook, _("Summary"), [_("Item"), _("Value")], [
        [_("Region"), content["region"]["name"]], [_("Code"), content["region"]["code"]],
        [_("Period"), content["period"]], [_("Scorecard version"), content["scorecard_version"]],
        [_("Edition"), content["edition"] or _("draft")], [_("Households"), summary["households"]],
        [_("Households visited"), summary["households_visited"]], [_("Coverage"), summary["coverage"]],
        [_("Coverage last month"), summary["previous_coverage"]], [_("Visits"), summary["visits"]],
        [_("Flagged visits"), summary["flagged_visits"]], [_("Publicity events"), summary["campaigns"]],
    ])
    ranking_rows = [[r.get(c) for c in RANKING_COLUMNS] for r in content["rankings"]]
    _sheet(workbook, _("Ranking"), list(RANKING_COLUMNS), ranking_rows,
           {i for i, c in enumerate(RANKING_COLUMNS) if c in SHARES})
    for key, title in (("red_list", _("Red list")), ("black_list", _("Black list"))):
        _sheet(workbook, title, ["rank", "code", "name", "score"],
               [[r["rank"], r["code"], r["name"], r["score"]] for r in content[key]])
    changes = [[_("up"), r["code"], r["name"], r["previous_rank"], r["rank"], r["rank_change"]]
               for r in content["changes"]["risers"]] + \
              [[_("down"), r["code"], r["name"], r["previous_rank"], r["rank"], r["rank_change"]]
               for r in content["changes"]["fallers"]]
    _sheet(workbook, _("Changes"), ["direction", "code", "name", "previous_rank", "rank", "rank_change"], changes)
    _sheet(workbook, _("Warnings"), [_("Item"), _("Value")], [[key, value] for key, value in warnings.items()])
    _sheet(workbook, _("Cases"), ["occurred_on", "village_code", "village_name", "type", "loss_yuan"],
           [[c["occurred_on"], c["village_code"], c["village_name"], c["type"], c["loss_yuan"]]
            for c in cases["items"]])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
