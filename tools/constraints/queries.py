"""Queries from templates: one glossary process combined with one constraint, in French and
English, deterministic from (template set, seed, kind). Only pairs that at least one generated
company meets are kept; the relevant set is computed here, from the structured fields."""

import random
import re

from . import judge

TYPES = ("material", "certification", "size", "region", "near")
LABELS = {
    "material": "process + material",
    "certification": "process + certification",
    "size": "process + size",
    "region": "process + région",
    "near": "process + near a city",
}

# French elision after "de" ("près de Orléans" -> "près d'Orléans").
_ELISION = re.compile(r"\b([Dd])e (?=[aeiouyhàâäéèêëîïôöùûüœAEIOUYHÀÂÄÉÈÊËÎÏÔÖÙÛÜŒ])")
_WORD = re.compile(r"\w+", re.UNICODE)


def kind_label(kind):
    lang, ctype = kind.split(".", 1)
    label = LABELS[ctype]
    return ("EN " + label) if lang == "en" else label


def lower_first(text):
    """"Tournage CN" -> "tournage CN", as a buyer types it; acronyms ("EDM", "CNC turning") and
    names in title case ("Multi Jet Fusion") stay as they are."""
    first, *rest = text.split()
    if len(first) < 2 or not first[0].isupper() or any(ch.isupper() for ch in first[1:]):
        return text  # "EDM", "CNC", "Zn-Ni"
    if any(len(w) > 1 and w[0].isupper() and w[1].islower() for w in rest):
        return text  # "Multi Jet Fusion"
    return text[0].lower() + text[1:]


def words(text):
    return [w.casefold() for w in _WORD.findall(text)]


class Generator:
    def __init__(self, ref, facts, set_name):
        self.ref = ref
        self.facts = facts
        self.set_name = set_name
        self.tpl = ref.templates
        self.set = self.tpl["sets"][set_name]
        # Company indices per concept (the concept or one of its descendants activated).
        self.members = {}
        for i, f in enumerate(facts):
            for cid in f.processes:
                self.members.setdefault(cid, set()).add(i)
        self.by_level = {}
        for cid, concept in ref.concepts.items():  # glossary order: deterministic
            if self.members.get(cid):
                self.by_level.setdefault(concept["level"], []).append(cid)
        self._cache = {}

    def kinds(self):
        out = []
        for lang in ("fr", "en"):
            for ctype in TYPES:
                if ctype in self.set["templates"].get(lang, {}):
                    out.append(f"{lang}.{ctype}")
        return out

    def _satisfying(self, constraint):
        key = repr(sorted((k, repr(v)) for k, v in constraint.items() if k not in ("surface", "id")))
        if key not in self._cache:
            self._cache[key] = {i for i, f in enumerate(self.facts) if judge.met(constraint, f)}
        return self._cache[key]

    def _candidates(self, ctype, lang, km):
        """(constraint, surface forms) of one type usable in this set and language."""
        t, s = self.tpl, self.set
        out = []
        if ctype == "material":
            for m in t["materials"]:
                forms = m["forms"].get(self.set_name, {}).get(lang)
                if forms:
                    c = {"type": "material", "id": m["id"]}
                    c.update({k: v for k, v in m["match"].items()})
                    out.append((c, forms))
        elif ctype == "certification":
            for cert in t["certifications"]:
                forms = cert["forms"].get(self.set_name, {}).get(lang)
                if forms:
                    out.append(({"type": "certification", "id": cert["id"], "match": cert["match"]}, forms))
        elif ctype == "size":
            for size in t["sizes"]:
                forms = size["forms"].get(self.set_name, {}).get(lang)
                if forms:
                    c = {"type": "size", "id": size["id"]}
                    c.update({k: size[k] for k in ("min", "max") if k in size})
                    out.append((c, forms))
        elif ctype == "region":
            regions = {r["name"]: r for r in t["regions"]}
            for name in s["regions"]:
                r = regions[name]
                out.append(({"type": "region", "id": name, "region": name}, r))
        elif ctype == "near":
            for code in s["cities"]:
                commune = self.ref.communes[code]
                c = {"type": "near", "id": f"{code}@{km}", "code": code, "city": t["city_names"][code],
                     "lat": commune["lat"], "lon": commune["lon"], "km": km}
                out.append((c, [t["city_names"][code]]))
        return out

    def _process_surface(self, rng, cid, lang):
        concept = self.ref.concepts[cid]
        label = concept["label"] if lang == "fr" else concept["label_en"]
        synonyms = concept.get("synonyms" if lang == "fr" else "synonyms_en") or []
        weights = self.set["process_forms"]
        use_synonym = synonyms and rng.random() < weights.get("synonym", 0) / (
            weights.get("synonym", 0) + weights.get("label", 1))
        return lower_first(rng.choice(synonyms) if use_synonym else label)

    def generate(self, kind, n, seed, min_relevant=1):
        lang, ctype = kind.split(".", 1)
        rng = random.Random(f"{self.set_name}/{seed}/{kind}")
        templates = self.set["templates"][lang][ctype]
        levels = [lv for lv in ("metier", "operation", "variante") if self.by_level.get(lv)]
        level_weights = [self.tpl["level_weights"].get(lv, 0) for lv in levels]
        out, seen = [], set()
        tries = 0
        while len(out) < n and tries < 300 * n:
            tries += 1
            level = rng.choices(levels, weights=level_weights)[0]
            cid = rng.choice(self.by_level[level])
            template = rng.choice(templates)
            if isinstance(template, dict):
                km = rng.choice(template["km"]) if "km" in template else self.tpl["near_km_default"]
                text_tpl = template["text"]
            else:
                km = self.tpl["near_km_default"]
                text_tpl = template
            process = {"type": "process", "id": cid, "concept": cid}
            pool = self.members[cid]
            eligible = [(c, forms) for c, forms in self._candidates(ctype, lang, km)
                        if len(pool & self._satisfying(c)) >= min_relevant]
            if not eligible:
                continue
            constraint, forms = rng.choice(eligible)
            key = (cid, constraint["id"])
            if key in seen:
                continue
            process_surface = self._process_surface(rng, cid, lang)
            fill = {"process": process_surface, "km": km}
            if ctype == "region":
                region = forms
                fill["region_in"] = rng.choice(region["fr_in"])
                fill["region_name"] = rng.choice(region.get("fr_name", [region["name"]]))
                surface = fill["region_in"] if "{region_in}" in text_tpl else fill["region_name"]
            elif ctype == "near":
                surface = fill["city"] = forms[0]
            elif ctype == "size":
                surface = rng.choice(forms)
                fill["size"] = surface.replace("{process}", process_surface)
            else:
                surface = fill[ctype] = rng.choice(forms)
            # A process that already names the constraint ("tuyauterie inox hygiénique" + inox)
            # would test nothing about the constraint.
            if ctype in ("material", "certification") and set(words(surface)) <= set(words(process_surface)):
                continue
            text = text_tpl.format(**fill)
            if lang == "fr":
                text = _ELISION.sub(r"\1'", text)
            text = re.sub(r"\s+", " ", text).strip()
            seen.add(key)
            constraints = [process, constraint]
            relevant = sorted(self.facts[i].id for i in pool & self._satisfying(constraint))
            out.append({
                "id": f"{self.set_name}-{kind}-{len(out) + 1:03d}",
                "kind": kind,
                "lang": lang,
                "type": ctype,
                "text": text,
                "process_level": level,
                "process_surface": process_surface,
                "constraint_surface": surface,
                "constraints": constraints,
                "relevant": relevant,
            })
        return out


def generate_all(ref, facts, set_name, seed, per_kind, kinds=None, min_relevant=1):
    gen = Generator(ref, facts, set_name)
    queries = []
    for kind in gen.kinds():
        if kinds and kind not in kinds and kind.split(".", 1)[1] not in kinds:
            continue
        queries.extend(gen.generate(kind, per_kind, seed, min_relevant))
    return queries
