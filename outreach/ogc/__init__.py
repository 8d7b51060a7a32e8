"""OGC API – Features (Part 1 Core, GeoJSON, read-only) at ``/ogc``: regions, grid cells and village coverage
for GIS tools (QGIS, GDAL's OAPIF driver), scoped and authenticated like the API."""
