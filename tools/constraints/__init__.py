"""Constraint benchmark of tools/eval-constraints: queries that combine a process with a material,
a certification, a size or a place, judged from the companies' structured fields only, run
through MarketLounge's /api/v1/match and a SQLite FTS5 baseline in the same run.

Standard library only (sqlite3 has FTS5; urllib for HTTP)."""
