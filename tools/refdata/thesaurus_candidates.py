#!/usr/bin/env python3
"""Propose synonym candidates from the general-language French thesaurus, for human review.

Usage: python3 tools/refdata/thesaurus_candidates.py [THESAURUS.dat] > candidates.tsv

The thesaurus (Debian mythes-fr, general language) is never used by the engine directly: most of
its synonyms are wrong in an industrial context ("fraiser" is not "broyer", "tour" is not
"promenade"). This script only *seeds* candidates: for each single-word French term of the
glossary it lists the thesaurus synonyms that appear nowhere in the glossary or in
schema/glossary/synonyms.txt, as `term<TAB>candidate<TAB>part of speech`. A person confirms the
good ones by writing them into synonyms.txt (or a concept's synonyms); nothing else reaches the
engine.
"""
import json
import pathlib
import re
import sys
import unicodedata

ROOT = pathlib.Path(__file__).resolve().parents[2]


def fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in text if not unicodedata.combining(c))


def load_thesaurus(path: pathlib.Path) -> dict:
    entries = {}
    with open(path, encoding="utf-8") as f:
        f.readline()  # encoding line
        for line in f:
            head, _, n_senses = line.rstrip("\n").partition("|")
            senses = []
            for _ in range(int(n_senses or 0)):
                parts = f.readline().rstrip("\n").split("|")
                senses.append((parts[0].strip("()"), parts[1:]))
            entries[fold(head)] = senses
    return entries


def main() -> None:
    default = ROOT.parent / "shared" / "data" / "ref" / "mythes_fr_thesaurus.dat"
    thesaurus = load_thesaurus(pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else default)
    known = set()
    terms = set()
    with open(ROOT / "schema" / "glossary" / "concepts.ndjson", encoding="utf-8") as f:
        for line in f:
            concept = json.loads(line)
            for name in [concept["label"], *concept.get("synonyms", [])]:
                known.add(fold(name))
                words = re.findall(r"\w+", name)
                if len(words) == 1:
                    terms.add(fold(words[0]))
            for name in [concept.get("label_en") or "", *concept.get("synonyms_en", [])]:
                known.add(fold(name))
    with open(ROOT / "schema" / "glossary" / "synonyms.txt", encoding="utf-8") as f:
        for line in f:
            body = line.split("#")[0].split("|")[0]
            for term in re.split(r",|=>", body):
                if term.strip():
                    known.add(fold(term.strip()))
    for term in sorted(terms):
        for part_of_speech, synonyms in thesaurus.get(term, []):
            for synonym in synonyms:
                if fold(synonym) not in known:
                    print(f"{term}\t{synonym}\t{part_of_speech}")


if __name__ == "__main__":
    main()
