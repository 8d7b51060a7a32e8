"""Spreadsheet output (CSV and XLSX) safe to open: one function neutralises every text cell.

A spreadsheet program treats a cell starting with ``=``, ``+``, ``-``, ``@`` (and, after
trimming, tab or CR) as a formula: a name like ``=HYPERLINK("http://…"&A2,"详情")`` typed into
a grid import would run on the city administrator's machine.  Such text is prefixed with an
apostrophe (OWASP's advice), and XLSX cells holding text are always stored as text, never as
formulas.  Numbers stay numbers (a negative number is not text).
"""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")
# Characters XML 1.0 (and so XLSX) cannot hold; openpyxl would refuse the whole workbook.
_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def inert(value: Any) -> Any:
    """``value`` as it may go into a spreadsheet cell: text that would start a formula gets a
    leading apostrophe; anything else is unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """CSV (UTF-8 with a byte-order mark, so Excel shows Chinese) with every cell made inert."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([inert(name) for name in header])
    for row in rows:
        writer.writerow(["" if value is None else inert(value) for value in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def append_row(sheet, values: Sequence[Any]) -> None:
    """Append a row to an openpyxl sheet with every text cell inert (openpyxl stores text starting with
    ``=`` as a formula; inert text never starts so, so it is stored as text)."""
    sheet.append([_XML_ILLEGAL.sub("", inert(value)) if isinstance(value, str) else value for value in values])
