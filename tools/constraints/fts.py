"""The full-text baseline: one SQLite FTS5 table over every text a user could search, queried
with the AND of the query's words, then filled up to k with the OR of them, ranked by bm25()."""

import re
import sqlite3

COLUMNS = ("name", "description", "capabilities", "machines", "materials", "certifications",
           "commune", "departement", "region")
# Words as FTS5's unicode61 tokenizer cuts them (letters and digits; "_" separates); quoting each
# one leaves no FTS5 syntax (AND, OR, NOT, NEAR, *, ^, :, parentheses, quotes) in the query.
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)


def tokens(query):
    return _TOKEN.findall(query)


class Fts5:
    def __init__(self, records, ref, path=":memory:"):
        self.db = sqlite3.connect(path)
        cols = ", ".join(COLUMNS)
        self.db.execute(f"CREATE VIRTUAL TABLE companies USING fts5(id UNINDEXED, {cols}, "
                        "tokenize = 'unicode61 remove_diacritics 2')")
        rows = []
        for r in records:
            address = r.get("address") or {}
            dep_code = address.get("departement") or ""
            dep = ref.departements.get(dep_code, {})
            region = address.get("region") or dep.get("region") or ""
            rows.append((
                r["id"], r.get("name") or "", r.get("description") or "",
                " ; ".join(r.get("capabilities") or []), " ; ".join(r.get("machines") or []),
                " ; ".join(r.get("materials") or []), " ; ".join(r.get("certifications") or []),
                address.get("commune") or "", dep.get("name", ""), region,
            ))
        self.db.executemany(f"INSERT INTO companies VALUES (?, {', '.join('?' * len(COLUMNS))})", rows)
        self.db.commit()

    def _run(self, match, limit):
        sql = "SELECT id FROM companies WHERE companies MATCH ? ORDER BY bm25(companies) LIMIT ?"
        return [row[0] for row in self.db.execute(sql, (match, limit))]

    def search(self, query, k=10):
        words = ['"' + w + '"' for w in tokens(query)]
        if not words:
            return []
        hits = self._run(" AND ".join(words), k)
        if len(hits) < k:
            seen = set(hits)
            for cid in self._run(" OR ".join(words), k + len(hits)):
                if cid not in seen:
                    hits.append(cid)
                    seen.add(cid)
                if len(hits) == k:
                    break
        return hits
