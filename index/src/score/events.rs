//! Event type and polarity of a press article, read from its French text by rules.
//!
//! The rules are cue phrases ("redressement judiciaire", "lève des fonds", "plan social"), each
//! with the event type it announces and a strength. They are keyed with the same analyser as
//! the index ([`Analyzer::phrase_key`]: stems of the non-stopword words), so "recrute",
//! "recrutement" and "recrutements" are one cue, and looked up in one FST ([`PhraseDict`],
//! leftmost-longest) over the stems of the headline and the lead. Numbers are dropped before
//! matching, so "supprime 40 postes" meets the cue "supprime postes".
//!
//! - **Type**: the type with the most evidence; the headline counts twice the lead. A red flag
//!   wins a tie (bad news is the one a buyer must not miss).
//! - **Negation**: a cue right after "pas", "aucun(e)", "sans", "jamais", "ni" or "non" (within
//!   three words) does not count ("n'envisage pas de fermer son usine").
//! - **Polarity**: (positive − negative) / (positive + negative) over the counted cues, in
//!   [−1, 1]; 0 when nothing matched (neutral press).
//!
//! A type found here is what the scorer's press features use when the article carries none.

use std::sync::LazyLock;

use crate::analysis::{Analyzer, Language};
use crate::dict::PhraseDict;
use crate::record::SignalType;

/// Cue phrases in French, with the type they announce and their strength (1: clear, 0.5: a
/// hint that needs company).
const CUES: &[(&str, SignalType, f32)] = &[
    // Hiring.
    ("recrute", SignalType::Hiring, 1.0),
    ("recrutement", SignalType::Hiring, 1.0),
    ("embauche", SignalType::Hiring, 1.0),
    ("offre d'emploi", SignalType::Hiring, 1.0),
    ("postes à pourvoir", SignalType::Hiring, 1.0),
    ("création d'emplois", SignalType::Hiring, 1.0),
    ("crée emplois", SignalType::Hiring, 1.0),
    ("renforce ses équipes", SignalType::Hiring, 1.0),
    ("cherche des salariés", SignalType::Hiring, 1.0),
    ("job dating", SignalType::Hiring, 1.0),
    // Investment.
    ("investit", SignalType::Investment, 1.0),
    ("investissement", SignalType::Investment, 1.0),
    ("nouvelle machine", SignalType::Investment, 1.0),
    ("nouvel équipement", SignalType::Investment, 1.0),
    ("s'équipe", SignalType::Investment, 1.0),
    ("modernise", SignalType::Investment, 1.0),
    ("modernisation", SignalType::Investment, 1.0),
    ("outil de production", SignalType::Investment, 0.5),
    ("robotise", SignalType::Investment, 1.0),
    ("acquiert", SignalType::Investment, 0.5),
    // New site.
    ("nouvelle usine", SignalType::NewSite, 1.5),
    ("nouveau site", SignalType::NewSite, 1.5),
    ("deuxième site", SignalType::NewSite, 1.5),
    ("second site", SignalType::NewSite, 1.5),
    ("ouvre un site", SignalType::NewSite, 1.5),
    ("ouvre une usine", SignalType::NewSite, 1.5),
    ("établissement secondaire", SignalType::NewSite, 1.5),
    ("inaugure", SignalType::NewSite, 1.0),
    ("inauguration", SignalType::NewSite, 1.0),
    ("s'implante", SignalType::NewSite, 1.0),
    ("implantation", SignalType::NewSite, 1.0),
    ("pose la première pierre", SignalType::NewSite, 1.5),
    // Fundraising.
    ("lève", SignalType::Fundraising, 1.0),
    ("levée de fonds", SignalType::Fundraising, 1.5),
    ("tour de table", SignalType::Fundraising, 1.5),
    ("augmentation de capital", SignalType::Fundraising, 1.5),
    ("entre au capital", SignalType::Fundraising, 1.5),
    ("entrée au capital", SignalType::Fundraising, 1.5),
    ("fonds d'investissement", SignalType::Fundraising, 1.0),
    // Contract won.
    ("décroche", SignalType::ContractWon, 1.0),
    ("remporte", SignalType::ContractWon, 1.0),
    ("contrat", SignalType::ContractWon, 1.0),
    ("commande", SignalType::ContractWon, 0.5),
    ("appel d'offres", SignalType::ContractWon, 1.0),
    ("attribution d'un marché", SignalType::ContractWon, 1.5),
    ("marché public", SignalType::ContractWon, 1.0),
    ("signe un accord", SignalType::ContractWon, 1.0),
    ("référencée par", SignalType::ContractWon, 1.0),
    ("partenariat", SignalType::ContractWon, 0.5),
    // Expansion.
    ("agrandit", SignalType::Expansion, 1.0),
    ("s'agrandit", SignalType::Expansion, 1.0),
    ("agrandissement", SignalType::Expansion, 1.0),
    ("extension", SignalType::Expansion, 1.0),
    ("double sa surface", SignalType::Expansion, 1.5),
    ("double sa capacité", SignalType::Expansion, 1.5),
    ("augmente sa capacité", SignalType::Expansion, 1.5),
    ("croissance", SignalType::Expansion, 0.5),
    ("se développe", SignalType::Expansion, 0.5),
    ("chiffre d'affaires en hausse", SignalType::Expansion, 1.0),
    ("à l'export", SignalType::Expansion, 0.5),
    // Insolvency proceedings (procédure collective).
    ("redressement judiciaire", SignalType::InsolvencyProceedings, 2.0),
    ("procédure de sauvegarde", SignalType::InsolvencyProceedings, 2.0),
    ("placée sous sauvegarde", SignalType::InsolvencyProceedings, 2.0),
    ("cessation de paiements", SignalType::InsolvencyProceedings, 2.0),
    ("procédure collective", SignalType::InsolvencyProceedings, 2.0),
    ("administrateur judiciaire", SignalType::InsolvencyProceedings, 1.5),
    ("mandataire judiciaire", SignalType::InsolvencyProceedings, 1.5),
    ("tribunal de commerce", SignalType::InsolvencyProceedings, 1.0),
    ("difficultés financières", SignalType::InsolvencyProceedings, 1.0),
    ("en difficulté", SignalType::InsolvencyProceedings, 1.0),
    ("repreneur", SignalType::InsolvencyProceedings, 1.0),
    // Liquidation.
    ("liquidation", SignalType::Liquidation, 2.5),
    ("liquidation judiciaire", SignalType::Liquidation, 3.0),
    ("mise en liquidation", SignalType::Liquidation, 3.0),
    ("dépôt de bilan", SignalType::Liquidation, 2.5),
    ("dépose le bilan", SignalType::Liquidation, 2.5),
    // Layoffs.
    ("plan social", SignalType::Layoffs, 2.0),
    ("plan de sauvegarde de l'emploi", SignalType::Layoffs, 2.0),
    ("pse", SignalType::Layoffs, 1.5),
    ("licenciement", SignalType::Layoffs, 2.0),
    ("licencie", SignalType::Layoffs, 2.0),
    ("suppression de postes", SignalType::Layoffs, 2.0),
    ("suppression d'emplois", SignalType::Layoffs, 2.0),
    ("supprime postes", SignalType::Layoffs, 2.0),
    ("supprime emplois", SignalType::Layoffs, 2.0),
    ("postes supprimés", SignalType::Layoffs, 2.0),
    ("emplois menacés", SignalType::Layoffs, 2.0),
    ("chômage partiel", SignalType::Layoffs, 1.0),
    ("rupture conventionnelle collective", SignalType::Layoffs, 1.5),
    // Site closure.
    ("fermeture", SignalType::SiteClosure, 2.0),
    ("ferme son usine", SignalType::SiteClosure, 2.0),
    ("ferme son site", SignalType::SiteClosure, 2.0),
    ("fermer son usine", SignalType::SiteClosure, 2.0),
    ("fermer son site", SignalType::SiteClosure, 2.0),
    ("va fermer", SignalType::SiteClosure, 2.0),
    ("cessation d'activité", SignalType::SiteClosure, 2.0),
    ("arrêt de la production", SignalType::SiteClosure, 1.5),
    ("délocalise", SignalType::SiteClosure, 1.5),
    ("délocalisation", SignalType::SiteClosure, 1.5),
    ("met la clé sous la porte", SignalType::SiteClosure, 2.0),
];

/// Words after which a cue is negated (folded forms).
const NEGATIONS: &[&str] = &["pas", "aucun", "aucune", "sans", "jamais", "ni", "non"];
/// How many words before a cue a negation reaches.
const NEGATION_REACH: usize = 3;

/// What the rules found in an article.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Classification {
    /// The event type with the most evidence, if any cue matched.
    pub event_type: Option<SignalType>,
    /// From −1 (bad news) to 1 (good news); 0 when neutral.
    pub polarity: f32,
}

/// The compiled rules: one FST of cue keys.
#[derive(Debug)]
pub struct EventRules {
    analyzer: Analyzer,
    dict: PhraseDict,
    /// Per payload: (type, strength).
    cues: Vec<(SignalType, f32)>,
}

static RULES: LazyLock<EventRules> = LazyLock::new(EventRules::new);

impl EventRules {
    /// The rules compiled once per process.
    pub fn shared() -> &'static EventRules {
        &RULES
    }

    fn new() -> EventRules {
        let analyzer = Analyzer::new(Language::French);
        let mut cues = Vec::with_capacity(CUES.len());
        let mut entries = Vec::with_capacity(CUES.len());
        for &(text, signal_type, strength) in CUES {
            let key = Self::key_words(&analyzer, text).join(" ");
            entries.push((key, cues.len() as u32));
            cues.push((signal_type, strength));
        }
        EventRules { analyzer, dict: PhraseDict::build(entries), cues }
    }

    /// Stems of the non-stopword, non-numeric words.
    fn key_words(analyzer: &Analyzer, text: &str) -> Vec<String> {
        analyzer
            .analyze(text)
            .into_iter()
            .filter(|t| !t.folded.bytes().all(|b| b.is_ascii_digit()))
            .filter_map(|t| t.stem)
            .collect()
    }

    /// Adds the evidence of `text` (weighted by `weight`) to `scores`, indexed like
    /// [`SignalType::ALL`].
    fn collect(&self, text: &str, weight: f32, scores: &mut [f32; SignalType::ALL.len()]) {
        let tokens = self.analyzer.analyze(text);
        // Stems of the words that take part in matching, with their token index.
        let mut words = Vec::with_capacity(tokens.len());
        let mut at = Vec::with_capacity(tokens.len());
        for (idx, token) in tokens.iter().enumerate() {
            if token.folded.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            if let Some(stem) = &token.stem {
                words.push(stem.as_str());
                at.push(idx);
            }
        }
        for found in self.dict.find_all(&words) {
            let first = at[found.start];
            let negated = tokens[first.saturating_sub(NEGATION_REACH)..first]
                .iter()
                .any(|t| NEGATIONS.contains(&t.folded.as_str()));
            if negated {
                continue;
            }
            for &payload in found.payloads {
                let (signal_type, strength) = self.cues[payload as usize];
                let slot = SignalType::ALL.iter().position(|&t| t == signal_type).unwrap_or(0);
                scores[slot] += weight * strength;
            }
        }
    }

    /// Classifies an article from its headline and, when present, its lead.
    pub fn classify(&self, title: &str, summary: Option<&str>) -> Classification {
        let mut scores = [0.0f32; SignalType::ALL.len()];
        self.collect(title, 2.0, &mut scores);
        if let Some(summary) = summary {
            self.collect(summary, 1.0, &mut scores);
        }
        let mut best: Option<(SignalType, f32)> = None;
        let (mut positive, mut negative) = (0.0f32, 0.0f32);
        for (&signal_type, &score) in SignalType::ALL.iter().zip(&scores) {
            if score <= 0.0 {
                continue;
            }
            if signal_type.is_red_flag() {
                negative += score;
            } else {
                positive += score;
            }
            let better = match best {
                None => true,
                Some((best_type, best_score)) => {
                    score > best_score || (score == best_score && signal_type.is_red_flag() && !best_type.is_red_flag())
                }
            };
            if better {
                best = Some((signal_type, score));
            }
        }
        let total = positive + negative;
        let polarity = if total > 0.0 { (positive - negative) / total } else { 0.0 };
        Classification { event_type: best.map(|(t, _)| t), polarity }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(title: &str) -> (Option<SignalType>, f32) {
        let c = EventRules::shared().classify(title, None);
        (c.event_type, c.polarity)
    }

    #[test]
    fn real_looking_headlines() {
        use SignalType::*;
        let cases: &[(&str, Option<SignalType>)] = &[
            ("Mécanique Dupont recrute 30 soudeurs et usineurs à Oyonnax", Some(Hiring)),
            ("Vallée de l'Arve : les décolleteurs peinent à recruter, 200 postes à pourvoir", Some(Hiring)),
            (
                "Fonderie Lorraine placée en redressement judiciaire par le tribunal de commerce",
                Some(InsolvencyProceedings),
            ),
            ("Liquidation judiciaire prononcée pour les Forges de Bazas", Some(Liquidation)),
            ("Plan social chez Tôlerie Martin : 45 postes supprimés", Some(Layoffs)),
            ("Plan de sauvegarde de l'emploi : 120 salariés concernés chez Usinor Sud", Some(Layoffs)),
            ("La société Alpes Usinage supprime 12 postes", Some(Layoffs)),
            ("Fermeture de l'usine de Vierzon : les salariés sous le choc", Some(SiteClosure)),
            ("Meca 3D inaugure sa nouvelle usine à Figeac", Some(NewSite)),
            ("Laser Concept lève 5 millions d'euros pour accélérer son développement", Some(Fundraising)),
            ("Une levée de fonds de 2,5 M€ pour la start-up Additiv", Some(Fundraising)),
            ("Précision Aéro décroche un contrat de 3 M€ avec Airbus", Some(ContractWon)),
            ("Composites du Rhône remporte l'appel d'offres de la SNCF", Some(ContractWon)),
            ("Chaudronnerie Bretonne agrandit son site de 2 000 m²", Some(Expansion)),
            ("Le groupe Techni investit 4 M€ dans une nouvelle machine 5 axes", Some(Investment)),
            ("Le conseil municipal a voté le budget de la piscine", None),
        ];
        for (title, expected) in cases {
            assert_eq!(classify(title).0, *expected, "{title}");
        }
    }

    #[test]
    fn polarity_follows_the_news() {
        assert!(classify("Mécanique Dupont recrute 30 soudeurs").1 > 0.9);
        assert!(classify("Liquidation judiciaire pour les Forges de Bazas").1 < -0.9);
        assert_eq!(classify("Le conseil municipal a voté le budget").1, 0.0);
        // Mixed news leans to the stronger side.
        let (kind, polarity) = classify("Malgré un contrat avec Airbus, Aéro Sud placée en redressement judiciaire");
        assert_eq!(kind, Some(SignalType::InsolvencyProceedings));
        assert!(polarity < 0.0 && polarity > -1.0, "{polarity}");
    }

    #[test]
    fn negated_cues_do_not_count() {
        assert_eq!(classify("Le directeur n'envisage pas de fermer son usine").0, None);
        assert_eq!(classify("Aucun licenciement prévu chez Techni").0, None);
        assert_eq!(classify("Techni va fermer son usine de Tulle").0, Some(SignalType::SiteClosure));
    }

    #[test]
    fn the_lead_counts_when_the_headline_is_vague() {
        let c = EventRules::shared()
            .classify("Coup dur pour la vallée", Some("L'entreprise a été placée en liquidation judiciaire."));
        assert_eq!(c.event_type, Some(SignalType::Liquidation));
        // The headline outweighs the lead.
        let c = EventRules::shared()
            .classify("Techni recrute 20 techniciens", Some("Le site avait connu des difficultés financières."));
        assert_eq!(c.event_type, Some(SignalType::Hiring));
    }

    #[test]
    fn generated_headlines_get_their_type() {
        // The demo generator's headline for each type (tools/datagen/src/activity.rs).
        let cases = [
            ("Dupont recrute 12 personnes à Lyon, dont des postes de soudeur", SignalType::Hiring),
            ("Dupont investit 2,4 M€ dans son outil de production à Lyon", SignalType::Investment),
            ("Dupont décroche un contrat de 1,2 M€ et renforce ses cadences", SignalType::ContractWon),
            ("Dupont agrandit son site de Lyon de 1200 m²", SignalType::Expansion),
            ("Dupont ouvre un deuxième site de production", SignalType::NewSite),
            ("Dupont lève 3,1 M€ pour accélérer son développement", SignalType::Fundraising),
            ("Dupont placée en redressement judiciaire par le tribunal de commerce", SignalType::InsolvencyProceedings),
            ("Liquidation judiciaire pour Dupont à Lyon", SignalType::Liquidation),
            ("Dupont annonce la suppression de 14 postes", SignalType::Layoffs),
            ("Dupont va fermer son usine de Lyon", SignalType::SiteClosure),
        ];
        for (title, expected) in cases {
            assert_eq!(classify(title).0, Some(expected), "{title}");
        }
    }
}
