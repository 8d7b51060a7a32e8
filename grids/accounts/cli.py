"""``flask users``: create accounts from the command line."""
from __future__ import annotations

import click
from flask.cli import AppGroup

from core.errors import DomainError
from grids.accounts import services
from grids.accounts.roles import ROLES

users_cli = AppGroup("users", help="User accounts.")


@users_cli.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--scope", required=True, help="Region code the user is limited to.")
@click.option("--member-id", type=int, default=None)
@click.password_option(help="Prompted for when not given.")
def create_command(username: str, role: str, scope: str, member_id: int | None, password: str) -> None:
    """Create a user of any role (for bootstrapping and operations)."""
    try:
        user = services.create_user(None, {"username": username, "password": password, "role": role,
                                            "scope": scope, "member_id": member_id})
    except DomainError as error:
        raise click.ClickException(f"{error.message or ''} {error.errors or ''}".strip()) from error
    click.echo(f"created {user.username} ({user.role}, scope {user.scope})")
