//! Small French text helpers: articles, lists, contractions.

/// Lowercases the first letter of a label unless it starts an acronym ("Soudage TIG" →
/// "soudage TIG", "PVD" stays "PVD").
pub fn lowercase_label(label: &str) -> String {
    let mut chars = label.chars();
    match (chars.next(), chars.next()) {
        (Some(_), Some(second)) if second.is_uppercase() => label.to_owned(),
        (Some(first), _) => first.to_lowercase().chain(label.chars().skip(1)).collect(),
        _ => String::new(),
    }
}

pub fn capitalize_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// "a", "a et b", "a, b et c".
pub fn join_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [only] => only.clone(),
        [init @ .., last] => format!("{} et {last}", init.join(", ")),
    }
}

fn starts_with_vowel_sound(word: &str) -> bool {
    let folded = marketlounge_index::analysis::fold(word);
    folded.starts_with(['a', 'e', 'i', 'o', 'u', 'y', 'h'])
}

const FEMININE_HEADS: &[&str] = &[
    "fonte",
    "fibre",
    "résine",
    "céramique",
    "tôle",
    "mousse",
    "presse",
    "machine",
    "ligne",
    "cabine",
    "cellule",
    "fraiseuse",
    "rectifieuse",
    "plieuse",
    "cisaille",
    "scie",
    "poinçonneuse",
    "station",
    "imprimante",
    "installation",
    "soudeuse",
    "sableuse",
    "grenailleuse",
    "chaîne",
    "unité",
    "table",
    "découpeuse",
    "tour à",
    "enceinte",
    "étuve",
    "armoire",
    "cuve",
    "injecteuse",
    "extrudeuse",
    "thermoformeuse",
    "rouleuse",
    "cintreuse",
    "affûteuse",
    "perceuse",
    "aléseuse",
    "tronçonneuse",
    "polisseuse",
    "encolleuse",
    "caméra",
    "sonde",
    "plateforme",
    "suite",
    "solution",
    "chambre",
    "baie",
    "brasure",
    "colle",
    "matière",
    "salle",
    "rectifieuse",
    "meuleuse",
    "ébavureuse",
    "visseuse",
    "riveteuse",
    "sertisseuse",
    "dénudeuse",
    "étiqueteuse",
    "fraiseuse-aléseuse",
    "tourelle",
    "pince",
    "boucle",
];

/// Plural head nouns take "des" ("bols vibrants", "fours de trempe").
fn is_plural(noun_phrase: &str) -> bool {
    let head = noun_phrase.split([' ', '-']).next().unwrap_or("");
    head.len() > 3 && ((head.ends_with('s') && !head.ends_with("ss")) || head.ends_with("aux") || head.ends_with("eux"))
}

fn is_feminine(noun_phrase: &str) -> bool {
    let lower = noun_phrase.to_lowercase();
    let head = lower.split([' ', '-']).next().unwrap_or("");
    FEMININE_HEADS.iter().any(|f| head == *f || (f.contains(' ') && lower.starts_with(f)))
}

/// "inox 316L" → "l'inox 316L", "fonte GS" → "la fonte GS", "titane" → "le titane".
pub fn with_definite_article(noun_phrase: &str) -> String {
    let lower = lowercase_label(noun_phrase);
    if is_plural(&lower) {
        format!("les {lower}")
    } else if starts_with_vowel_sound(&lower) {
        format!("l'{lower}")
    } else if is_feminine(&lower) {
        format!("la {lower}")
    } else {
        format!("le {lower}")
    }
}

/// "presse plieuse Trumpf" → "une presse plieuse Trumpf".
pub fn with_indefinite_article(noun_phrase: &str) -> String {
    let lower = lowercase_label(noun_phrase);
    if is_plural(&lower) {
        format!("des {lower}")
    } else if is_feminine(&lower) {
        format!("une {lower}")
    } else {
        format!("un {lower}")
    }
}

/// Applies the contractions French requires after slots are filled: "de le" → "du",
/// "à les" → "aux", "de un" → "d'un", "que il" → "qu'il", "le inox" → "l'inox"…
pub fn fix_french_contractions(text: &str) -> String {
    let words: Vec<&str> = text.split(' ').collect();
    let mut out: Vec<String> = Vec::with_capacity(words.len());
    let mut idx = 0;
    while idx < words.len() {
        let word = words[idx];
        let next = words.get(idx + 1).copied().unwrap_or("");
        let lower = word.to_lowercase();
        let capital = word.chars().next().is_some_and(char::is_uppercase);
        let cased = |s: &str| if capital { crate::text::capitalize_first(s) } else { s.to_owned() };
        match (lower.as_str(), next) {
            ("de", "le") => {
                out.push(cased("du"));
                idx += 2;
                continue;
            }
            ("de", "les") => {
                out.push(cased("des"));
                idx += 2;
                continue;
            }
            ("à", "le") => {
                out.push(cased("au"));
                idx += 2;
                continue;
            }
            ("à", "les") => {
                out.push(cased("aux"));
                idx += 2;
                continue;
            }
            ("de" | "que" | "le" | "la" | "ne" | "je" | "se", next)
                if !next.is_empty() && starts_with_vowel_sound(next) && !next.starts_with("hu") =>
            {
                let elided = match lower.as_str() {
                    "que" => "qu'",
                    "de" => "d'",
                    "ne" => "n'",
                    "je" => "j'",
                    "se" => "s'",
                    _ => "l'",
                };
                out.push(format!("{}{next}", cased(elided)));
                idx += 2;
                continue;
            }
            _ => {}
        }
        out.push(word.to_owned());
        idx += 1;
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn articles_and_contractions() {
        assert_eq!(with_definite_article("Inox 316L"), "l'inox 316L");
        assert_eq!(with_definite_article("fonte GS"), "la fonte GS");
        assert_eq!(with_indefinite_article("presse plieuse Trumpf"), "une presse plieuse Trumpf");
        assert_eq!(with_indefinite_article("centre d'usinage"), "un centre d'usinage");
        assert_eq!(with_indefinite_article("bols vibrants Rösler"), "des bols vibrants Rösler");
        assert_eq!(with_indefinite_article("salle blanche ISO 8"), "une salle blanche ISO 8");
        assert_eq!(fix_french_contractions("travail de le titane et de l'inox"), "travail du titane et de l'inox");
        assert_eq!(fix_french_contractions("équipé de un tour et de une presse"), "équipé d'un tour et d'une presse");
        assert_eq!(fix_french_contractions("De les pièces à les clients"), "Des pièces aux clients");
        assert_eq!(join_list(&["a".into(), "b".into(), "c".into()]), "a, b et c");
        assert_eq!(lowercase_label("Soudage TIG"), "soudage TIG");
        assert_eq!(lowercase_label("PVD"), "PVD");
    }
}
