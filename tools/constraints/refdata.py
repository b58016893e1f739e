"""The repository's reference data the benchmark judges with: the glossary, the generator's
material families and certifications, communes and départements, and the query templates."""

import csv
import json
import os

TOOLS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(TOOLS)


def path(*parts):
    return os.path.join(REPO, *parts)


class RefData:
    """Everything read once from the repository (paths relative to its root)."""

    def __init__(self, templates_file=None):
        self.concepts = {}
        with open(path("schema", "glossary", "concepts.ndjson"), encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    concept = json.loads(line)
                    self.concepts[concept["id"]] = concept
        vocab = json.load(open(path("tools", "datagen", "vocab.json"), encoding="utf-8"))
        # Material label -> family ("acier inoxydable 316L" -> "inox").
        self.material_family = {m["label"]: m["family"] for m in vocab["materials"]}
        self.families = sorted(set(self.material_family.values()))
        self.certifications = list(vocab["certifications"])
        self.communes = {}
        with open(path("schema", "ref", "communes.csv"), encoding="utf-8") as f:
            for row in csv.DictReader(f):
                lat, lon = row["lat"], row["lon"]
                self.communes[row["code_insee"]] = {
                    "name": row["nom"],
                    "departement": row["departement"],
                    "region": row["region"],
                    "lat": float(lat) if lat else None,
                    "lon": float(lon) if lon else None,
                }
        self.departements = {}
        with open(path("schema", "ref", "departements.csv"), encoding="utf-8") as f:
            for row in csv.DictReader(f):
                self.departements[row["code"]] = {"name": row["nom"], "region": row["region"]}
        self.regions = sorted({d["region"] for d in self.departements.values()})
        templates_file = templates_file or os.path.join(os.path.dirname(__file__), "templates.json")
        self.templates = json.load(open(templates_file, encoding="utf-8"))
        self.check_templates()

    def check_templates(self):
        """Fails loudly when the templates name something the reference data does not have
        (a renamed material label, a removed certification, a mistyped région or city)."""
        t = self.templates
        problems = []
        labels = set(self.material_family)
        for m in t["materials"]:
            for fam in m["match"].get("families", []):
                if fam not in self.families:
                    problems.append(f"material {m['id']}: unknown family {fam!r}")
            for label in m["match"].get("labels", []):
                if label not in labels:
                    problems.append(f"material {m['id']}: label {label!r} not in vocab.json")
        for c in t["certifications"]:
            for label in c["match"]:
                if label not in self.certifications:
                    problems.append(f"certification {c['id']}: {label!r} not in vocab.json")
        region_names = {r["name"] for r in t["regions"]}
        for r in region_names:
            if r not in self.regions:
                problems.append(f"région {r!r} not in departements.csv")
        for code, name in t["city_names"].items():
            if code not in self.communes:
                problems.append(f"city {code} ({name}) not in communes.csv")
            elif self.communes[code]["lat"] is None:
                problems.append(f"city {code} ({name}) has no coordinates")
        for set_name, s in t["sets"].items():
            for r in s["regions"]:
                if r not in region_names:
                    problems.append(f"set {set_name}: région {r!r} has no forms")
            for code in s["cities"]:
                if code not in t["city_names"]:
                    problems.append(f"set {set_name}: city {code} has no name")
        if problems:
            raise SystemExit("tools/constraints/templates.json:\n  " + "\n  ".join(problems))

    def ancestors(self, concept_id):
        """The id and every prefix of it: "usinage.fraisage.5-axes" -> itself, "usinage.fraisage",
        "usinage" (ids are dotted paths in the glossary)."""
        parts = concept_id.split(".")
        return [".".join(parts[:i]) for i in range(len(parts), 0, -1)]
