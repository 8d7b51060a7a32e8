#!/usr/bin/env python3
"""Keep the zh_CN catalogue in step with the code: extract, merge, compile.

Usage: ``python scripts/translations.py update`` (after adding messages: extracts,
merges into ``messages.po`` and lists untranslated ones) or ``compile`` (``.po`` →
``.mo``; run by the Makefile before the app starts).
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "translations"
PYBABEL = str(Path(sys.executable).with_name("pybabel"))


def update() -> None:
    subprocess.run([PYBABEL, "extract", "-F", "babel.cfg", "-k", "_l", "-k", "N_", "-o", "translations/messages.pot",
                    "--no-location", "--omit-header", "--ignore-dirs=.venv var migrations tests bench", "."],
                   cwd=ROOT, check=True)
    po = TRANSLATIONS / "zh" / "LC_MESSAGES" / "messages.po"
    command = "update" if po.exists() else "init"
    extra = ["--no-fuzzy-matching"] if command == "update" else []
    subprocess.run([PYBABEL, command, "-i", "translations/messages.pot", "-d", "translations", "-l", "zh",
                    *extra], cwd=ROOT, check=True)


def compile_catalogues() -> None:
    subprocess.run([PYBABEL, "-q", "compile", "-d", str(TRANSLATIONS)], check=True)


if __name__ == "__main__":
    {"update": update, "compile": compile_catalogues}[sys.argv[1] if len(sys.argv) > 1 else "compile"]()
