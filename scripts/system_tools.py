#!/usr/bin/env python3
"""Install the Debian packages the tests and the dashboard need, when they are missing.

Stdlib only, so it runs before the virtual environment exists.  Usage:

    system_tools.py [--required] npm chromium ogrinfo cjk-font pdftotext

Each argument is a command; the Debian package that provides it is installed with
apt-get when the command is not on PATH.  Installing needs root (CI and sessions run
as root); otherwise the missing commands are listed with the line that installs them
and the script exits 0, so tests that need them skip rather than the build failing
(``--required`` or ``GRIDS_REQUIRE_TOOLS=1`` turns that into an error).
"""
from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PACKAGES = {
    "npm": "npm",               # the dashboard's map library comes from the npm registry
    "chromium": "chromium",     # the browser test drives Debian's chromium through Playwright
    "ogrinfo": "gdal-bin",      # the OGC API test reads it with GDAL's OAPIF driver
    "cjk-font": "fonts-wqy-microhei",  # Chinese in the browser test's screenshots and in bulletin PDFs
    "pdftotext": "poppler-utils",  # the bulletin test reads the PDF's text
}
# Things that are not commands, and how to tell they are there.
FILES = {"cjk-font": "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"}


def _present(name: str) -> bool:
    return os.path.exists(FILES[name]) if name in FILES else shutil.which(name) is not None


def _say(message: str) -> None:
    print(f"[system-tools] {message}", file=sys.stderr, flush=True)


def apt_install(packages: list[str], say=_say) -> int:
    """``apt-get update`` then install ``packages`` without recommends (root only); apt's exit code.

    One at a time: ``make run`` sets up in parallel, and two of its steps may both need Debian packages
    (PostGIS, the CJK font), which apt would refuse while the other holds its lock."""
    with open(Path(tempfile.gettempdir()) / "grids-apt.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        say("installing " + " ".join(packages) + " from Debian's packages ...")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, stdout=subprocess.DEVNULL)
        return subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", *packages], env=env,
                              stdout=subprocess.DEVNULL).returncode


def ensure(commands: list[str], required: bool = False) -> int:
    """Install the packages behind the missing ``commands``; 1 when some stay missing and are required."""
    unknown = [c for c in commands if c not in PACKAGES]
    if unknown:
        _say("unknown commands: " + ", ".join(unknown))
        return 2
    missing = [c for c in commands if not _present(c)]
    if not missing:
        return 0
    packages = sorted({PACKAGES[c] for c in missing})
    install = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    if os.geteuid() != 0:
        _say("missing " + ", ".join(missing) + "; as root run: apt-get update && " + " ".join(install))
        return 1 if required or os.environ.get("GRIDS_REQUIRE_TOOLS") == "1" else 0
    if apt_install(packages) != 0:
        _say("apt-get install failed: " + " ".join(packages))
        return 1
    still = [c for c in missing if not _present(c)]
    if still:
        _say("still missing after installing: " + ", ".join(still))
        return 1
    return 0


if __name__ == "__main__":
    arguments = sys.argv[1:]
    sys.exit(ensure([a for a in arguments if a != "--required"], required="--required" in arguments))
