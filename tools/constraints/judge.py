"""Relevance from the companies' structured fields only (never from an engine's answer).

A query is a list of constraints, the process first; a company is relevant iff it meets every
one of them. The rules (tools/constraints/README.md says the same):

- process: one of the company's concept activations is the query's concept or a descendant of
  it (ids are dotted paths: "usinage.fraisage.5-axes" meets "usinage.fraisage" and "usinage");
- material: a family word ("titane", "stainless steel") is met by any material label of that
  family in tools/datagen/vocab.json; a grade or sub-family word ("316L", "TA6V", "laiton",
  "Inconel") only by the labels it names (listed in templates.json with its aliases);
- certification: one of the company's certifications is among those the query's certification
  names in templates.json ("AS9100" and "EN 9100" are one standard; "NADCAP" alone is any NADCAP
  scope; "EN 1090 EXC2" is met by EXC2 or EXC3, "EXC3" only by EXC3);
- size: the headcount band lies within the query's bounds: "plus de 50" = the band's lower bound
  >= 50; "moins de 20" = its upper bound <= 19; PME = upper bound <= 249; ETI = 250..4999;
  grand groupe = lower bound >= 5000 (the bands are INSEE's: "50-99", "10000+");
- région: address.region (else the département's or the commune's région);
- near: great-circle distance from the company (address lat/lon, else its commune's town hall)
  to the city's town hall <= the query's radius (60 km unless the query says N km).
"""

import math


def band_bounds(band):
    """INSEE headcount band -> (lower, upper) bounds; upper None for an open band."""
    if band is None:
        return None
    band = band.strip()
    if band.endswith("+"):
        return int(band[:-1]), None
    if "-" in band:
        lo, hi = band.split("-", 1)
        return int(lo), int(hi)
    return int(band), int(band)


def haversine_km(lat1, lon1, lat2, lon2):
    r = 6371.0088
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(min(1.0, math.sqrt(a)))


class Facts:
    """What the judge reads from one company record."""

    __slots__ = ("id", "processes", "families", "materials", "certifications", "band", "region", "lat", "lon")

    def __init__(self, record, ref):
        self.id = record["id"]
        self.processes = set()
        for activation in record.get("concepts") or []:
            self.processes.update(ref.ancestors(activation["id"]))
        self.materials = set(record.get("materials") or [])
        self.families = {ref.material_family[m] for m in self.materials if m in ref.material_family}
        self.certifications = set(record.get("certifications") or [])
        self.band = band_bounds(record.get("headcount"))
        address = record.get("address") or {}
        commune = ref.communes.get(address.get("commune_code") or "")
        departement = ref.departements.get(address.get("departement") or (commune or {}).get("departement") or "")
        self.region = address.get("region") or (departement or {}).get("region") or (commune or {}).get("region")
        self.lat, self.lon = address.get("lat"), address.get("lon")
        if (self.lat is None or self.lon is None) and commune:
            self.lat, self.lon = commune["lat"], commune["lon"]


def met(constraint, facts):
    """Whether one company meets one constraint."""
    kind = constraint["type"]
    if kind == "process":
        return constraint["concept"] in facts.processes
    if kind == "material":
        return bool(facts.families & set(constraint.get("families", ()))) or bool(
            facts.materials & set(constraint.get("labels", ()))
        )
    if kind == "certification":
        return bool(facts.certifications & set(constraint["match"]))
    if kind == "size":
        if facts.band is None:
            return False
        lo, hi = facts.band
        if "min" in constraint and lo < constraint["min"]:
            return False
        if "max" in constraint and (hi is None or hi > constraint["max"]):
            return False
        return True
    if kind == "region":
        return facts.region == constraint["region"]
    if kind == "near":
        if facts.lat is None or facts.lon is None:
            return False
        return haversine_km(facts.lat, facts.lon, constraint["lat"], constraint["lon"]) <= constraint["km"]
    raise ValueError(f"unknown constraint type {kind!r}")


def relevant(constraints, facts):
    return all(met(c, facts) for c in constraints)


def judge_hits(constraints, ids, facts_by_id):
    """For each hit id: {"id", "relevant", "met": {constraint type: bool}}; an id the benchmark
    did not generate meets nothing."""
    out = []
    for cid in ids:
        facts = facts_by_id.get(cid)
        per = {c["type"]: (facts is not None and met(c, facts)) for c in constraints}
        out.append({"id": cid, "relevant": all(per.values()), "met": per})
    return out
