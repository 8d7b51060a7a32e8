"""Coverage rows as CSV (UTF-8 with BOM, so Excel shows Chinese names), XLSX and GeoJSON."""
from __future__ import annotations

import io
from typing import Any

from flask import Response, json
from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

from core.exports import append_row, csv_bytes

COLUMNS = ("code", "name", "households", "households_visited", "coverage", "band", "vulnerable",
           "vulnerable_visited", "vulnerable_coverage", "app_installed", "app_install_rate", "grids",
           "grids_visited", "visits", "flagged_visits")
SHARES = {"coverage", "vulnerable_coverage", "app_install_rate"}
BAND_FILL = {"red": "F8CBAD", "amber": "FFE699", "green": "C6EFCE"}


def _filename(report: dict[str, Any], extension: str) -> str:
    return f"coverage_{report['region'].code}_{report['by']}_{report['from']}_{report['to']}.{extension}"


def _attachment(body: bytes | str, mimetype: str, filename: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def to_csv(report: dict[str, Any]) -> Response:
    """CSV with a header row; UTF-8 with a byte-order mark; text cells inert (no formulas)."""
    body = csv_bytes(COLUMNS, ([row[c] for c in COLUMNS] for row in report["rows"]))
    return _attachment(body, "text/csv; charset=utf-8", _filename(report, "csv"))


def to_xlsx(report: dict[str, Any]) -> Response:
    """An XLSX sheet: bold header, frozen first row, widths, percentages, band colours."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "coverage"
    append_row(sheet, COLUMNS)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in report["rows"]:
        append_row(sheet, [row[c] for c in COLUMNS])
    for index, column in enumerate(COLUMNS, start=1):
        letter = get_column_letter(index)
        width = max(len(column), *(len(str(r[column] or "")) * (2 if column == "name" else 1)
                                   for r in report["rows"])) if report["rows"] else len(column)
        sheet.column_dimensions[letter].width = min(40, width + 2)
        if column in SHARES:
            for cell in sheet[letter][1:]:
                cell.number_format = "0.0%"
    band_column = COLUMNS.index("band") + 1
    for row_index, row in enumerate(report["rows"], start=2):
        fill = BAND_FILL.get(row["band"])
        if fill:
            sheet.cell(row=row_index, column=band_column).fill = PatternFill("solid", start_color=fill, end_color=fill)
    sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return _attachment(buffer.getvalue(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                       _filename(report, "xlsx"))


def to_geojson(report: dict[str, Any], geometries: dict[str, Any]) -> Response:
    """Rows as features with the region or cell boundary."""
    features = [{"type": "Feature", "id": row["code"], "geometry": geometries.get(row["code"]),
                 "properties": {c: row[c] for c in COLUMNS}} for row in report["rows"]]
    body = json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False)
    return _attachment(body, "application/geo+json", _filename(report, "geojson"))
