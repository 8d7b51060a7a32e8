"""``flask keys``: key management."""
from __future__ import annotations

import click
from flask.cli import AppGroup
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import text

from core.errors import DomainError
from core.extensions import db
from core.phone_keys import PHONE_TABLES, rotate_phone_key

keys_cli = AppGroup("keys", help="Keys for signing and phone data.")


@keys_cli.command("rotate-phone-key")
def rotate_phone_key_command() -> None:
    """Re-encrypt every stored phone under a new key (safe while the service runs)."""
    console = Console()
    total = sum(db.session.scalar(text(f"select count(*) from {table} where phone_encrypted is not null"))  # noqa: S608
                for table in PHONE_TABLES)
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:,} rows"),
                  TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("re-encrypting phones", total=total * 2)
        try:
            counts = rotate_phone_key(lambda _table, rows: bar.advance(task, rows))
        except DomainError as error:
            raise click.ClickException(str(error.message)) from error
    console.print("re-encrypted " + ", ".join(f"{table} {count:,}" for table, count in counts.items()))
