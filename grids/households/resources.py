"""HTTP endpoints of households."""
from __future__ import annotations

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint

from core.errors import Invalid
from core.formats import feature_collection_response, wants_geojson
from core.openapi import also_answers
from core.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, paginate_select
from grids import services as territory
from grids.accounts.roles import ADMINS, roles_allowed
from grids.households import queries, services
from grids.households.schemas import (
    HouseholdImportArgs,
    HouseholdImportResultSchema,
    HouseholdQueryArgs,
    HouseholdSchema,
    HouseholdUpdateSchema,
)

blp = Blueprint("households", __name__, url_prefix="/households", description="Households")
READERS = (*ADMINS, "reviewer")
# UTF-8 text (a byte-order mark allowed) whose header names the lon and lat columns, in any order and case;
# each row is then accepted or rejected on its own, in the answer.
_CELL = r'[^,\r\n"\u0000]*'
_LON = r"[ \t]*[Ll][Oo][Nn][ \t]*"
_LAT = r"[ \t]*[Ll][Aa][Tt][ \t]*"
CSV_PATTERN = (rf"^\ufeff?(?:{_CELL},)*(?:{_LON},(?:{_CELL},)*{_LAT}|{_LAT},(?:{_CELL},)*{_LON})(?:,{_CELL})*"
               r"(?:\r?\n[^\u0000]*)?$")
CSV_DESCRIPTION = ("UTF-8 CSV with a header naming at least lon and lat (columns: lon, lat, crs, address, residents, "
                   "tags; tags separated by ; or |); at most 200,000 rows")
CSV_BODY = {"required": True, "content": {
    "text/csv": {"schema": {"type": "string", "pattern": CSV_PATTERN, "description": CSV_DESCRIPTION}},
    "multipart/form-data": {
        "schema": {"type": "object", "required": ["file"], "additionalProperties": False,
                   "properties": {"file": {"type": "string", "format": "binary", "description": CSV_DESCRIPTION}}},
        "encoding": {"file": {"contentType": "text/csv"}}},
}}


@blp.route("")
class Households(MethodView):
    """Households in the caller's scope."""

    @roles_allowed(*READERS)
    @blp.arguments(HouseholdQueryArgs, location="query")
    @blp.response(200, HouseholdSchema(many=True))
    @also_answers(blp)
    @blp.paginate(page_size=DEFAULT_PAGE_SIZE, max_page_size=MAX_PAGE_SIZE)
    def get(self, args, pagination_parameters):
        """List households by region, cell and tag."""
        statement = queries.households_select(territory.region_code_prefix(args.get("region")),
                                              args.get("grid"), args.get("tag"))
        items = paginate_select(statement, pagination_parameters)
        if wants_geojson(args.get("f")):
            return feature_collection_response(items, HouseholdSchema(), "location", id_attr="id")
        return items

    @roles_allowed(*ADMINS)
    @blp.arguments(HouseholdSchema)
    @blp.response(201, HouseholdSchema)
    def post(self, data):
        """Create a household; it is placed in the tier-3 cell containing its location."""
        return services.create_household(data)


@blp.route("/<id64:household_id>")
class HouseholdById(MethodView):
    """One household."""

    @roles_allowed(*READERS)
    @blp.response(200, HouseholdSchema)
    def get(self, household_id):
        """Get a household."""
        return services.get_household(household_id)

    @roles_allowed(*ADMINS)
    @blp.arguments(HouseholdUpdateSchema)
    @blp.response(200, HouseholdSchema)
    def patch(self, changes, household_id):
        """Change a household's address, residents or tags."""
        return services.update_household(household_id, changes)

    @roles_allowed(*ADMINS)
    @blp.response(200, HouseholdSchema)
    def delete(self, household_id):
        """Remove a household (kept for its visits; dropped from worklists and counts)."""
        return services.remove_household(household_id)


@blp.route("/import")
class HouseholdImport(MethodView):
    """CSV import of households."""

    @roles_allowed(*ADMINS)
    @blp.arguments(HouseholdImportArgs, location="query")
    @blp.doc(requestBody=CSV_BODY)
    @blp.response(200, HouseholdImportResultSchema)
    def post(self, args):
        """Import households from CSV (lon, lat, crs, address, residents, tags); all-or-nothing unless partial."""
        upload = request.files.get("file")
        content = upload.read() if upload is not None else request.get_data()
        if not content:
            raise Invalid(errors={"file": ["Send the CSV as the body or as the multipart field 'file'."]})
        return services.import_csv(content, partial=args["partial"], dry_run=args["dry_run"])


# What create_app() registers under /api/v1 (see the package's blueprints()).
BLUEPRINTS = (blp,)
