"""The grid worker's worklist (cells and households to visit, offline-friendly deltas)."""
