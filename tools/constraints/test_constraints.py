"""Unit tests of the judging rules, the query text, the FTS5 query and the metrics.

    cd tools && python3 -m unittest constraints.test_constraints
"""

import unittest

from . import judge, metrics, queries
from .fts import Fts5, tokens
from .refdata import RefData

REF = RefData()


def company(**over):
    record = {
        "id": "123456782",
        "name": "Usinage Test",
        "description": "Atelier de mécanique.",
        "capabilities": ["fraisage 5 axes"],
        "machines": [],
        "certifications": ["EN 9100", "EN 1090-2 EXC3"],
        "materials": ["titane TA6V", "aluminium 6061"],
        "headcount": "50-99",
        "address": {"postal_code": "69007", "commune": "Lyon", "commune_code": "69387", "departement": "69",
                    "region": "Auvergne-Rhône-Alpes", "lat": 45.75, "lon": 4.84},
        "concepts": [{"id": "usinage.fraisage.5-axes", "weight": 0.8, "source": "declared"},
                     {"id": "usinage", "weight": 0.5, "source": "inferred"}],
    }
    record.update(over)
    return judge.Facts(record, REF)


def material(mid):
    m = next(m for m in REF.templates["materials"] if m["id"] == mid)
    return dict({"type": "material", "id": mid}, **m["match"])


def certification(cid):
    c = next(c for c in REF.templates["certifications"] if c["id"] == cid)
    return {"type": "certification", "id": cid, "match": c["match"]}


class Judge(unittest.TestCase):
    def test_process_is_met_by_the_concept_and_its_descendants(self):
        f = company()
        for cid in ("usinage", "usinage.fraisage", "usinage.fraisage.5-axes"):
            self.assertTrue(judge.met({"type": "process", "concept": cid}, f), cid)
        for cid in ("usinage.fraisage.3-axes", "usinage.tournage", "decolletage"):
            self.assertFalse(judge.met({"type": "process", "concept": cid}, f), cid)

    def test_material_family_and_grade(self):
        f = company()
        self.assertTrue(judge.met(material("titane"), f))
        self.assertTrue(judge.met(material("TA6V"), f))
        self.assertTrue(judge.met(material("aluminium"), f))
        self.assertFalse(judge.met(material("7075"), f))  # a grade needs that grade
        self.assertFalse(judge.met(material("inox"), f))
        self.assertFalse(judge.met(material("acier"), company(materials=["acier inoxydable 316L"])))
        self.assertTrue(judge.met(material("inox"), company(materials=["acier inoxydable 316L"])))

    def test_certification_aliases_and_classes(self):
        f = company()
        self.assertTrue(judge.met(certification("en9100"), f))
        self.assertTrue(judge.met(certification("en1090-exc2"), f))  # EXC3 covers EXC2
        self.assertTrue(judge.met(certification("en1090"), f))
        self.assertFalse(judge.met(certification("en1090-exc3"), company(certifications=["EN 1090-2 EXC2"])))
        self.assertFalse(judge.met(certification("nadcap"), f))
        self.assertTrue(judge.met(certification("nadcap"), company(certifications=["NADCAP soudage"])))

    def test_size_bounds(self):
        self.assertEqual(judge.band_bounds("50-99"), (50, 99))
        self.assertEqual(judge.band_bounds("10000+"), (10000, None))
        self.assertEqual(judge.band_bounds("0"), (0, 0))
        f = company()  # 50-99
        self.assertTrue(judge.met({"type": "size", "min": 50}, f))
        self.assertFalse(judge.met({"type": "size", "min": 100}, f))
        self.assertTrue(judge.met({"type": "size", "max": 249}, f))
        self.assertFalse(judge.met({"type": "size", "max": 19}, f))
        self.assertFalse(judge.met({"type": "size", "max": 249}, company(headcount="10000+")))
        self.assertTrue(judge.met({"type": "size", "min": 5000}, company(headcount="10000+")))
        self.assertFalse(judge.met({"type": "size", "min": 20, "max": 49}, company(headcount="10-19")))

    def test_region_falls_back_on_the_departement(self):
        f = company(address={"postal_code": "35000", "commune": "Rennes", "departement": "35"})
        self.assertEqual(f.region, "Bretagne")
        self.assertTrue(judge.met({"type": "region", "region": "Bretagne"}, f))

    def test_near_uses_the_radius(self):
        lyon = REF.communes["69123"]
        near = {"type": "near", "lat": lyon["lat"], "lon": lyon["lon"], "km": 60}
        self.assertTrue(judge.met(near, company()))
        grenoble = company(address={"postal_code": "38000", "commune": "Grenoble", "commune_code": "38185"})
        self.assertGreater(judge.haversine_km(lyon["lat"], lyon["lon"], grenoble.lat, grenoble.lon), 90)
        self.assertFalse(judge.met(near, grenoble))
        self.assertTrue(judge.met(dict(near, km=120), grenoble))
        paris = REF.communes["75056"]
        self.assertAlmostEqual(judge.haversine_km(paris["lat"], paris["lon"], lyon["lat"], lyon["lon"]), 392, delta=3)

    def test_unknown_hit_meets_nothing(self):
        judged = judge.judge_hits([{"type": "process", "concept": "usinage"}], ["000000000"], {})
        self.assertEqual(judged, [{"id": "000000000", "relevant": False, "met": {"process": False}}])


class Text(unittest.TestCase):
    def test_surface_forms(self):
        self.assertEqual(queries.lower_first("Tournage CN"), "tournage CN")
        self.assertEqual(queries.lower_first("EDM"), "EDM")
        self.assertEqual(queries.lower_first("Zn-Ni plating"), "Zn-Ni plating")
        self.assertEqual(queries.lower_first("Multi Jet Fusion"), "Multi Jet Fusion")
        self.assertEqual(queries._ELISION.sub(r"\1'", "usinage près de Orléans"), "usinage près d'Orléans")

    def test_fts_query_has_no_syntax(self):
        self.assertEqual(tokens('usinage "NEAR(x)" AND Ti-6Al-4V*'), ["usinage", "NEAR", "x", "AND", "Ti", "6Al", "4V"])

    def test_fts_and_then_or(self):
        records = [
            {"id": "1", "name": "Alpha", "description": "usinage titane", "address": {}},
            {"id": "2", "name": "Beta", "description": "usinage", "address": {}},
            {"id": "3", "name": "Gamma", "description": "titane", "address": {}},
            {"id": "4", "name": "Delta", "description": "peinture", "address": {}},
        ]
        fts = Fts5(records, REF)
        hits = fts.search("Usinage TITANE", k=3)
        self.assertEqual(hits[0], "1")
        self.assertEqual(sorted(hits[1:]), ["2", "3"])
        self.assertEqual(fts.search("usinage (titane) OR", k=10)[0], "1")  # "or" is a word, quoted
        self.assertEqual(fts.search("électroérosion", k=10), [])


class Metrics(unittest.TestCase):
    def hits(self, flags):
        return [{"id": str(i), "relevant": f, "met": {"process": True, "material": f}} for i, f in enumerate(flags)]

    def test_precision_window_is_min_k_relevant(self):
        self.assertEqual(metrics.precision(self.hits([False, True, True]), 1, 10), 0.0)
        self.assertEqual(metrics.precision(self.hits([True, False, True]), 2, 10), 0.5)
        self.assertEqual(metrics.precision(self.hits([True] * 3), 20, 10), 0.3)  # missing results count

    def test_ndcg(self):
        self.assertAlmostEqual(metrics.ndcg(self.hits([True, True]), 2, 10), 1.0)
        self.assertAlmostEqual(metrics.ndcg(self.hits([False, True]), 1, 10), 1 / 1.5849625, places=5)
        self.assertEqual(metrics.ndcg(self.hits([False] * 10), 3, 10), 0.0)


class Generation(unittest.TestCase):
    def test_deterministic_and_every_query_has_a_relevant_company(self):
        records = []
        # A few hand-made companies are enough to exercise the generator.
        for i, (concept, mat, cert, band, commune) in enumerate([
            ("usinage.fraisage.5-axes", "titane TA6V", "EN 9100", "50-99", "69123"),
            ("usinage.tournage.cn", "acier inoxydable 316L", "ISO 9001", "10-19", "75056"),
            ("soudage.arc.tig", "aluminium 7075", "ISO 3834-2", "250-499", "35238"),
        ]):
            c = REF.communes[commune]
            records.append({"id": f"00000000{i}", "name": "X", "materials": [mat], "certifications": [cert],
                            "headcount": band, "concepts": [{"id": concept}],
                            "address": {"commune_code": commune, "region": c["region"], "lat": c["lat"], "lon": c["lon"]}})
        facts = [judge.Facts(r, REF) for r in records]
        a = queries.generate_all(REF, facts, "dev", 1, 3)
        b = queries.generate_all(REF, facts, "dev", 1, 3)
        self.assertEqual(a, b)
        self.assertTrue(a)
        by_id = {f.id: f for f in facts}
        for q in a:
            self.assertTrue(q["relevant"], q["text"])
            for cid in q["relevant"]:
                self.assertTrue(judge.relevant(q["constraints"], by_id[cid]))


if __name__ == "__main__":
    unittest.main()
