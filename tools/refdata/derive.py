#!/usr/bin/env python3
"""Derive the reference tables shipped in schema/ref/ from the shared, provenance-tracked data.

Usage: python3 tools/refdata/derive.py [SHARED_REF_DIR]   (default: ../shared/data/ref)

The outputs are committed, so neither the build nor the server reads the shared folder.
Re-run this script when the shared data changes and review the diff.

Patches applied to communes (each one a documented gap of the source package):
- Paris, Lyon and Marseille are listed without postal codes (they are split into arrondissements):
  the arrondissement postal codes are added (75001-75020 and 75116, 69001-69009, 13001-13016).
- 54 communes have "nan" coordinates: they are written as empty (unknown).
- Some populations are missing ("\\N"): they are written as 0.
- Paris has no coordinates in the source: the town hall's (48.85661, 2.35222) is used.
"""
import csv
import json
import re
import unicodedata
import math
import pathlib
import shutil
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "schema" / "ref"

POSTAL_PATCHES = {
    "75056": [f"750{n:02d}" for n in range(1, 21)] + ["75116"],
    "69123": [f"6900{n}" for n in range(1, 10)],
    "13055": [f"130{n:02d}" for n in range(1, 17)],
}
COORD_PATCHES = {"75056": ("48.85661", "2.35222")}


def finite_or_empty(value: str) -> str:
    """The source writes unknown coordinates as empty or as "nan": both become empty."""
    try:
        return value if math.isfinite(float(value)) else ""
    except ValueError:
        return ""


def main() -> None:
    src = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data" / "ref"
    OUT.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src / "naf_rev2.json", OUT / "naf_rev2.json")
    json.load(open(OUT / "naf_rev2.json", encoding="utf-8"))  # fail loudly on a broken copy
    shutil.copyfile(src / "rome_by_naf_division.json", OUT / "rome_by_naf_division.json")
    json.load(open(OUT / "rome_by_naf_division.json", encoding="utf-8"))
    shutil.copyfile(src / "cpv2008_fr_en.csv", OUT / "cpv2008_fr_en.csv")
    with open(OUT / "cpv2008_fr_en.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
        assert rows and set(rows[0]) == {"code", "label_fr", "label_en"}, "unexpected CPV columns"

    with open(src / "communes_slim.csv", encoding="utf-8", newline="") as f_in, open(
        OUT / "communes.csv", "w", encoding="utf-8", newline=""
    ) as f_out:
        reader = csv.DictReader(f_in)
        writer = csv.writer(f_out, lineterminator="\n")
        writer.writerow(["code_insee", "nom", "population", "departement", "region", "codes_postaux", "lat", "lon"])
        n_rows = 0
        for row in reader:
            code = row["code_insee"]
            postal = row["codes_postaux"].split() or POSTAL_PATCHES.get(code, [])
            lat, lon = COORD_PATCHES.get(code, (finite_or_empty(row["lat"]), finite_or_empty(row["lon"])))
            writer.writerow([code, row["nom"], row["population"] if row["population"].isdigit() else "0", row["departement"], row["region"], " ".join(postal), lat, lon])
            n_rows += 1
    print(f"wrote {OUT / 'naf_rev2.json'} and {OUT / 'communes.csv'} ({n_rows} communes)")
    write_common_word_places(src)
    write_cn_material_codes(src)


ARTICLES = {"le", "la", "les", "l", "d", "de", "du", "des", "en", "sur", "sous", "et", "a", "au", "aux"}


def fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in text if not unicodedata.combining(c))


def place_key(name: str) -> str:
    return " ".join(w for w in re.findall(r"\w+", fold(name)) if w not in ARTICLES)


def write_common_word_places(src: pathlib.Path) -> None:
    """Place names that are also ordinary French words ("Tour", "Lot", "Manche", "Coquille"): in a
    query they only mean the place with a clear location phrase or a capital letter. The words
    are the headwords of the general thesaurus (mythes-fr)."""
    words = set()
    with open(src / "mythes_fr_thesaurus.dat", encoding="utf-8") as f:
        f.readline()
        for line in f:
            head, _, n_senses = line.rstrip("\n").partition("|")
            for _ in range(int(n_senses or 0)):
                f.readline()
            words.add(fold(head))
    keys = set()
    names = [row["nom"] for row in csv.DictReader(open(OUT / "communes.csv", encoding="utf-8"))]
    names += [row["nom"] for row in csv.DictReader(open(OUT / "departements.csv", encoding="utf-8"))]
    for name in names:
        key = place_key(name)
        if key and key in words:
            keys.add(key)
    with open(OUT / "common_word_places.txt", "w", encoding="utf-8") as out:
        out.write("# Place names that are also common French words (derived by tools/refdata/derive.py)\n")
        for key in sorted(keys):
            out.write(key + "\n")
    print(f"wrote {OUT / 'common_word_places.txt'} ({len(keys)} names)")


# Combined Nomenclature chapters of materials: 28 inorganic chemicals (carbides, oxides), 39
# plastics, 40 rubber, 54 synthetic filaments (aramid), 68 stone and carbon fibre articles, 69
# ceramics, 70 glass fibre, 72-81 base metals, 82 tools (cemented carbide inserts).
CN_MATERIAL_CHAPTERS = ("28", "39", "40", "54", "68", "69", "70", "72", "73", "74", "75", "76", "78", "79", "80", "81", "82")


def write_cn_material_codes(src: pathlib.Path) -> None:
    """The CN 2023 eight-digit codes of the materials chapters: the `cn` headings of
    schema/glossary/materials.ndjson are checked against them (a heading must be a prefix of one)."""
    with open(src / "cn8_2023_fr.csv", encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter=";")
        assert reader.fieldnames and reader.fieldnames[:2] == ["code", "description"], "unexpected CN columns"
        codes = sorted({row["code"] for row in reader if row["code"][:2] in CN_MATERIAL_CHAPTERS})
    assert codes and all(len(code) == 8 and code.isdigit() for code in codes), "unexpected CN codes"
    with open(OUT / "cn2023_material_codes.txt", "w", encoding="utf-8") as out:
        out.write("# Combined Nomenclature 2023, CN8 codes of chapters " + " ".join(CN_MATERIAL_CHAPTERS))
        out.write(" (derived by tools/refdata/derive.py from cn8_2023_fr.csv)\n")
        for code in codes:
            out.write(code + "\n")
    print(f"wrote {OUT / 'cn2023_material_codes.txt'} ({len(codes)} codes)")


if __name__ == "__main__":
    main()
