"""``make backup`` and ``make restore FILE=…``: a logical backup of the application database, and
a restore that recreates it from such a file (see core/backup.py and README "Backup and restore")."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console  # noqa: E402

from config import load_config  # noqa: E402
from core.backup import BackupError, backup, restore  # noqa: E402


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("backup", help="dump the database to a file")
    create.add_argument("--dir", type=Path, default=None, help="default GRIDS_BACKUP_DIR (var/backups)")
    load = commands.add_parser("restore", help="drop the database and load a backup into it")
    load.add_argument("file", type=Path)
    load.add_argument("--yes", action="store_true", help="do not ask before dropping the database")
    args = parser.parse_args(argv)
    config = load_config()
    url = config["SQLALCHEMY_DATABASE_URI"]
    console = Console(stderr=True)
    try:
        if args.command == "backup":
            with console.status("pg_dump ..."):
                path, seconds = backup(url, args.dir or Path(config["GRIDS_BACKUP_DIR"]))
            console.print(f"backup {path} ({path.stat().st_size / 1e6:,.1f} MB) in {seconds:.1f} s")
            print(path)
        else:
            if not args.yes and sys.stdin.isatty():
                answer = input(f"This drops the database and replaces it with {args.file}. Type 'restore': ")
                if answer.strip() != "restore":
                    console.print("nothing done")
                    return 1
            with console.status(f"restoring {args.file.name} ..."):
                seconds = restore(url, args.file)
            console.print(f"restored {args.file} in {seconds:.1f} s")
    except BackupError as error:
        console.print(f"[red]{error}[/red]")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
