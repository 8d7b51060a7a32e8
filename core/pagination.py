"""Offset pagination of SQLAlchemy selects for flask-smorest's ``@blp.paginate``."""
from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select

from core.extensions import db

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


def paginate_select(statement: Select, pagination_parameters: Any) -> list[Any]:
    """Run ``statement`` for one page and record the total for the X-Pagination header."""
    count_statement = select(func.count()).select_from(statement.order_by(None).subquery()) \
        .execution_options(**statement.get_execution_options())  # e.g. an explicit "unscoped"
    pagination_parameters.item_count = db.session.scalar(count_statement)
    if pagination_parameters.first_item >= pagination_parameters.item_count:
        return []  # past the last page (also keeps huge page numbers out of OFFSET)
    page = statement.limit(pagination_parameters.page_size).offset(pagination_parameters.first_item)
    return list(db.session.scalars(page))
