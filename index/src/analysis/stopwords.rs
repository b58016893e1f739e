//! Stopword lists (accent-folded, sorted for binary search).
//!
//! FRENCH and ENGLISH are the Snowball / Lucene lists used by tantivy, folded. The marker lists
//! are words that betray a query's language, used only by `detect_language`.

/// Snowball French stopwords, folded.
pub(crate) const FRENCH: &[&str] = &[
    "a", "ai", "aie", "aient", "aies", "ait", "au", "aura", "aurai", "auraient", "aurais", "aurait", "auras", "aurez",
    "auriez", "aurions", "aurons", "auront", "aux", "avaient", "avais", "avait", "avec", "avez", "aviez", "avions",
    "avons", "ayant", "ayez", "ayons", "c", "ce", "ceci", "cela", "ces", "cet", "cette", "d", "dans", "de", "des",
    "du", "elle", "en", "es", "et", "etaient", "etais", "etait", "etant", "etee", "etees", "etes", "etiez", "etions",
    "eu", "eue", "eues", "eumes", "eurent", "eus", "eusse", "eussent", "eusses", "eussiez", "eussions", "eut", "eutes",
    "eux", "fumes", "furent", "fus", "fusse", "fussent", "fusses", "fussiez", "fussions", "fut", "futes", "ici", "il",
    "ils", "j", "je", "l", "la", "le", "les", "leur", "leurs", "lui", "m", "ma", "mais", "me", "meme", "mes", "moi",
    "mon", "n", "ne", "nos", "notre", "nous", "on", "ont", "ou", "par", "pas", "pour", "qu", "que", "quel", "quelle",
    "quelles", "quels", "qui", "s", "sa", "sans", "se", "sera", "serai", "seraient", "serais", "serait", "seras",
    "serez", "seriez", "serions", "serons", "seront", "ses", "soi", "soient", "sois", "soit", "sont", "soyez",
    "soyons", "suis", "sur", "t", "ta", "te", "tes", "toi", "ton", "tu", "un", "une", "vos", "votre", "vous", "y",
];
/// Lucene English stopwords.
pub(crate) const ENGLISH: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "no", "not", "of",
    "on", "or", "such", "that", "the", "their", "then", "there", "these", "they", "this", "to", "was", "will", "with",
];
/// Words typical of English queries.
pub(crate) const ENGLISH_MARKERS: &[&str] = &[
    "and",
    "around",
    "company",
    "cutting",
    "for",
    "from",
    "in",
    "machining",
    "manufacturing",
    "near",
    "of",
    "on",
    "part",
    "parts",
    "services",
    "stainless",
    "steel",
    "supplier",
    "suppliers",
    "the",
    "to",
    "welding",
    "with",
];
/// Words typical of French queries.
pub(crate) const FRENCH_MARKERS: &[&str] = &[
    "acier",
    "autour",
    "avec",
    "decoupe",
    "entreprise",
    "fournisseur",
    "piece",
    "pieces",
    "pour",
    "pres",
    "proche",
    "region",
    "soudure",
    "sous",
    "traitance",
    "usinage",
];

#[cfg(test)]
mod tests {
    #[test]
    fn lists_are_sorted_and_folded() {
        for list in [super::FRENCH, super::ENGLISH, super::ENGLISH_MARKERS, super::FRENCH_MARKERS] {
            assert!(list.windows(2).all(|w| w[0] < w[1]));
            assert!(list.iter().all(|w| w.is_ascii()));
        }
    }
}
