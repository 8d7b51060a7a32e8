"""Activity on the territory: visits, coverage, cases, certification (imports from ``grids``)."""
