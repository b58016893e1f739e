"""Constraint precision@k, nDCG@k (binary gains), their means by kind, and the issue's targets."""

import math
import statistics

from .queries import kind_label

ENGINES = ("ml", "fts5")
TARGET_OVERALL = 0.85
TARGET_MARGIN = 0.15
TARGET_LANG_GAP = 0.10


def precision(judged, n_relevant, k):
    """Share of the first min(k, #relevant) results that meet every constraint (a missing
    result counts as not meeting them)."""
    m = min(k, n_relevant)
    return sum(1 for h in judged[:m] if h["relevant"]) / m if m else 0.0


def ndcg(judged, n_relevant, k):
    dcg = sum(1.0 / math.log2(i + 2) for i, h in enumerate(judged[:k]) if h["relevant"])
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(k, n_relevant)))
    return dcg / ideal if ideal else 0.0


def met_rates(judged, n_relevant, k):
    """Per constraint type, the share of the first min(k, #relevant) results meeting it."""
    m = min(k, n_relevant)
    window = judged[:m]
    types = window[0]["met"].keys() if window else ()
    return {t: sum(1 for h in window if h["met"][t]) / m for t in types}


def score_query(q, judged_by_engine, k):
    n = len(q["relevant"])
    out = {}
    for engine, judged in judged_by_engine.items():
        out[engine] = {
            "p": precision(judged, n, k),
            "ndcg": ndcg(judged, n, k),
            "met": met_rates(judged, n, k),
        }
    return out


def _mean(xs):
    return sum(xs) / len(xs) if xs else None


def aggregate(rows):
    """rows: [(query, scores)] -> means for one group of queries."""
    out = {"n": len(rows)}
    if not rows:
        return out
    out["median_relevant"] = statistics.median(len(q["relevant"]) for q, _ in rows)
    for engine in ENGINES:
        out[engine] = {
            "p_at_10": _mean([s[engine]["p"] for _, s in rows]),
            "ndcg_at_10": _mean([s[engine]["ndcg"] for _, s in rows]),
            "process_met": _mean([s[engine]["met"].get("process", 0.0) for _, s in rows]),
            "constraint_met": _mean([s[engine]["met"].get(q["type"], 0.0) for q, s in rows]),
        }
    return out


def summarize(rows, kinds):
    by_kind = {kind: aggregate([r for r in rows if r[0]["kind"] == kind]) for kind in kinds}
    groups = {
        "overall": aggregate(rows),
        "overall_fr": aggregate([r for r in rows if r[0]["lang"] == "fr"]),
        "overall_en": aggregate([r for r in rows if r[0]["lang"] == "en"]),
    }
    return by_kind, groups


def checks(by_kind, groups):
    """The issue's targets: ML overall P@10 >= 0.85; ML >= FTS5 + 0.15 on every kind; English
    within 0.10 of French on every constraint type both languages have."""
    results = []
    overall = groups["overall"]
    if overall.get("n"):
        v = overall["ml"]["p_at_10"]
        results.append({"check": f"ML overall P@10 >= {TARGET_OVERALL}", "value": round(v, 3), "ok": v >= TARGET_OVERALL})
    for kind, agg in by_kind.items():
        if not agg.get("n"):
            continue
        ml, fts = agg["ml"]["p_at_10"], agg["fts5"]["p_at_10"]
        results.append({"check": f"{kind}: ML P@10 >= FTS5 + {TARGET_MARGIN}", "value": round(ml - fts, 3),
                        "ok": ml >= fts + TARGET_MARGIN - 1e-9})
    for kind, agg in by_kind.items():
        lang, ctype = kind.split(".", 1)
        fr = by_kind.get("fr." + ctype)
        if lang != "en" or not agg.get("n") or not fr or not fr.get("n"):
            continue
        gap = agg["ml"]["p_at_10"] - fr["ml"]["p_at_10"]
        results.append({"check": f"{ctype}: |ML P@10 en - fr| <= {TARGET_LANG_GAP}", "value": round(gap, 3),
                        "ok": abs(gap) <= TARGET_LANG_GAP + 1e-9})
    return results


def _f(x):
    return "–" if x is None else f"{x:.2f}"


def markdown(by_kind, groups):
    lines = ["| kind | ML P@10 | FTS5 P@10 | ML nDCG | FTS5 nDCG | n |", "|---|---|---|---|---|---|"]

    def row(name, agg, bold=False):
        if not agg.get("n"):
            return
        vals = [_f(agg["ml"]["p_at_10"]), _f(agg["fts5"]["p_at_10"]), _f(agg["ml"]["ndcg_at_10"]),
                _f(agg["fts5"]["ndcg_at_10"])]
        if bold:
            vals = [f"**{v}**" for v in vals]
        lines.append(f"| {name} | " + " | ".join(vals) + f" | {agg['n']} |")

    for kind, agg in by_kind.items():
        row(kind_label(kind), agg)
    row("French", groups["overall_fr"])
    row("English", groups["overall_en"])
    row("overall", groups["overall"], bold=True)
    return "\n".join(lines)


def markdown_misses(by_kind):
    """Where the first min(10, #relevant) results fall short: the share meeting the process and
    the share meeting the query's other constraint, per engine."""
    lines = ["| kind | ML process met | ML constraint met | FTS5 process met | FTS5 constraint met | median #relevant |",
             "|---|---|---|---|---|---|"]
    for kind, agg in by_kind.items():
        if not agg.get("n"):
            continue
        lines.append(f"| {kind_label(kind)} | {_f(agg['ml']['process_met'])} | {_f(agg['ml']['constraint_met'])} | "
                     f"{_f(agg['fts5']['process_met'])} | {_f(agg['fts5']['constraint_met'])} | "
                     f"{agg['median_relevant']:g} |")
    return "\n".join(lines)
