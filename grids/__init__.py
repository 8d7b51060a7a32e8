"""Territory and people: regions, grid cells, households (and later members, accounts)."""
