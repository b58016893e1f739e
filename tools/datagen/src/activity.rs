//! The latent activity process behind signals, articles and outcomes. See README.md (in this
//! folder) for the model written out; the constants below are its parameters.

use jiff::ToSpan;
use jiff::civil::Date;
use marketlounge_index::record::{Article, Outcome, Signal, SignalType};
use rand::Rng;
use rand::seq::IndexedRandom;

use crate::company::GeneratedCompany;
use crate::world::{World, weighted_index};

/// Number of simulated months of history.
pub const N_MONTHS: i32 = 36;
/// Month-to-month persistence of a company's momentum (AR(1) coefficient).
const MOMENTUM_PERSISTENCE: f64 = 0.98;
/// Outcome windows start at these months of the simulation, each lasting `HORIZON_MONTHS`.
const OUTCOME_MONTHS: [i32; 5] = [18, 21, 24, 27, 30];
const HORIZON_MONTHS: i32 = 6;
/// Logistic model of the outcome given the latent state at the as-of date.
const OUTCOME_INTERCEPT: f64 = -3.0;
const OUTCOME_MOMENTUM: f64 = 1.2;
const OUTCOME_SIZE: f64 = 0.3;
const OUTCOME_INSOLVENCY: f64 = -1.5;
const OUTCOME_LIQUIDATED: f64 = -4.0;

/// Monthly base rate and momentum sensitivity of each positive signal type.
const POSITIVE: [(SignalType, f64, f64); 6] = [
    (SignalType::Hiring, 0.18, 0.9),
    (SignalType::Investment, 0.06, 0.8),
    (SignalType::ContractWon, 0.09, 0.7),
    (SignalType::Expansion, 0.024, 1.0),
    (SignalType::NewSite, 0.012, 1.0),
    (SignalType::Fundraising, 0.009, 1.2),
];
/// Monthly base rate, fragility and momentum sensitivity of each red flag.
const RED_FLAGS: [(SignalType, f64, f64, f64); 3] = [
    (SignalType::InsolvencyProceedings, 0.0015, 0.8, -0.6),
    (SignalType::Layoffs, 0.003, 0.6, -0.5),
    (SignalType::SiteClosure, 0.0015, 0.6, -0.5),
];
/// Chance that insolvency proceedings end in liquidation within the following year.
const LIQUIDATION_AFTER_INSOLVENCY: f64 = 0.25;

/// Demand for a trade: a shift of its companies' mean momentum.
fn metier_demand(id: &str) -> f64 {
    match id {
        "fabrication-additive" => 0.35,
        "electronique" | "automatisme" | "composites" => 0.2,
        "fonderie" | "forge" => -0.2,
        _ => 0.0,
    }
}

/// Everything generated for one company.
#[derive(Debug, Default)]
pub struct Activity {
    pub signals: Vec<Signal>,
    pub articles: Vec<Article>,
    pub outcomes: Vec<Outcome>,
}

pub fn month_start(start: Date, month: i32) -> Date {
    start.checked_add(month.months()).unwrap_or(start)
}

fn standard_normal(rng: &mut impl Rng) -> f64 {
    // Box–Muller; one value is enough here.
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn poisson(rng: &mut impl Rng, lambda: f64) -> u32 {
    // Knuth's method: rates here are far below 10.
    let limit = (-lambda).exp();
    let mut product: f64 = rng.random();
    let mut count = 0;
    while product > limit {
        product *= rng.random::<f64>();
        count += 1;
    }
    count
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

pub fn simulate(world: &World, rng: &mut impl Rng, generated: &GeneratedCompany, start: Date) -> Activity {
    let company = &generated.company;
    let metier = &world.metiers[generated.metier_idx];
    let size = ((f64::from(generated.headcount) + 1.0).ln() - 3.0) / 1.5;
    let mean_momentum = 0.3 * size + metier_demand(&metier.id);
    let fragility = standard_normal(rng);
    let mut momentum = mean_momentum + standard_normal(rng);
    let mut activity = Activity::default();
    let mut insolvent_since: Option<i32> = None;
    let mut liquidated_at: Option<i32> = None;
    let mut momentum_by_month = Vec::with_capacity(N_MONTHS as usize);

    for month in 0..N_MONTHS {
        momentum = mean_momentum
            + MOMENTUM_PERSISTENCE * (momentum - mean_momentum)
            + (1.0 - MOMENTUM_PERSISTENCE * MOMENTUM_PERSISTENCE).sqrt() * standard_normal(rng);
        momentum_by_month.push(momentum);
        if liquidated_at.is_some() {
            continue;
        }
        let first_day = month_start(start, month);
        let n_days = i32::from(first_day.days_in_month());
        let mut rates: Vec<(SignalType, f64)> = Vec::with_capacity(POSITIVE.len() + RED_FLAGS.len());
        for (signal_type, base, sensitivity) in POSITIVE {
            let size_factor = if signal_type == SignalType::Hiring {
                (1.0 + f64::from(generated.headcount) / 50.0).sqrt()
            } else {
                1.0
            };
            rates.push((signal_type, base * size_factor * (sensitivity * momentum).exp()));
        }
        for (signal_type, base, fragility_weight, momentum_weight) in RED_FLAGS {
            if signal_type == SignalType::InsolvencyProceedings && insolvent_since.is_some() {
                continue;
            }
            rates.push((signal_type, base * (fragility_weight * fragility + momentum_weight * momentum).exp()));
        }
        let total: f64 = rates.iter().map(|(_, rate)| rate).sum();
        let weights: Vec<f64> = rates.iter().map(|(_, rate)| *rate).collect();
        for _ in 0..poisson(rng, total) {
            let signal_type = rates[weighted_index(rng, &weights)].0;
            let day = first_day.checked_add(rng.random_range(0..n_days).days()).unwrap_or(first_day);
            push_signal(world, rng, &mut activity, generated, signal_type, day);
            if signal_type == SignalType::InsolvencyProceedings {
                insolvent_since = Some(month);
            }
        }
        if let Some(since) = insolvent_since
            && month > since
            && month - since <= 12
            && rng.random_bool(LIQUIDATION_AFTER_INSOLVENCY / 12.0)
        {
            let day = first_day.checked_add(rng.random_range(0..n_days).days()).unwrap_or(first_day);
            push_signal(world, rng, &mut activity, generated, SignalType::Liquidation, day);
            liquidated_at = Some(month);
        }
    }

    for as_of_month in OUTCOME_MONTHS {
        let as_of = month_start(start, as_of_month);
        let insolvent = insolvent_since.is_some_and(|m| m < as_of_month);
        let liquidated = liquidated_at.is_some_and(|m| m < as_of_month);
        let logit = OUTCOME_INTERCEPT
            + OUTCOME_MOMENTUM * momentum_by_month[as_of_month as usize - 1]
            + OUTCOME_SIZE * size
            + if insolvent { OUTCOME_INSOLVENCY } else { 0.0 }
            + if liquidated { OUTCOME_LIQUIDATED } else { 0.0 };
        let probability = sigmoid(logit);
        activity.outcomes.push(Outcome {
            company_id: company.id.clone(),
            as_of,
            horizon_days: u32::try_from(
                as_of
                    .until(month_start(start, as_of_month + HORIZON_MONTHS))
                    .map(|span| span.get_days())
                    .unwrap_or(182),
            )
            .unwrap_or(182)
            .max(1),
            converted: rng.random_bool(probability),
            latent_probability: Some((probability * 1e6).round() / 1e6),
        });
    }
    activity
}

const PRESS: [&str; 16] = [
    "Le Progrès",
    "Ouest-France",
    "L'Usine Nouvelle",
    "Les Echos",
    "La Voix du Nord",
    "Le Dauphiné Libéré",
    "Sud Ouest",
    "L'Est Républicain",
    "La Dépêche du Midi",
    "Le Télégramme",
    "La Montagne",
    "Le Républicain Lorrain",
    "Nice-Matin",
    "Centre Presse",
    "Le Bien Public",
    "actu.fr",
];

fn push_signal(
    world: &World,
    rng: &mut impl Rng,
    activity: &mut Activity,
    generated: &GeneratedCompany,
    signal_type: SignalType,
    date: Date,
) {
    let company = &generated.company;
    let city = &generated.city;
    let division = company.naf.get(..2).unwrap_or("25");
    let job = world
        .job_titles
        .get(division)
        .and_then(|titles| titles.choose(rng))
        .map(|t| t.to_lowercase())
        .unwrap_or_else(|| "opérateur de production".to_owned());
    let machine = company.machines.choose(rng).cloned().unwrap_or_else(|| "un nouvel équipement".to_owned());
    let n_jobs = rng.random_range(2..=25);
    let amount = format!("{:.1} M€", rng.random_range(0.2..8.0_f64)).replace('.', ",");
    let name = &company.name;
    let (source, text, headline) = match signal_type {
        SignalType::Hiring => (
            "job_board",
            format!("Offre d'emploi : {job} (CDI) à {city}"),
            format!("{name} recrute {n_jobs} personnes à {city}, dont des postes de {job}"),
        ),
        SignalType::Investment => (
            "press",
            format!("Investissement de {amount} : {machine}"),
            format!("{name} investit {amount} dans son outil de production à {city}"),
        ),
        SignalType::ContractWon => (
            "public_procurement",
            format!("Attribution d'un marché de sous-traitance ({amount})"),
            format!("{name} décroche un contrat de {amount} et renforce ses cadences"),
        ),
        SignalType::Expansion => (
            "press",
            format!("Extension de l'atelier de {city}"),
            format!("{name} agrandit son site de {city} de {} m²", rng.random_range(3..40) * 100),
        ),
        SignalType::NewSite => (
            "registry",
            "Ouverture d'un établissement secondaire".to_owned(),
            format!("{name} ouvre un deuxième site de production"),
        ),
        SignalType::Fundraising => (
            "press",
            format!("Levée de fonds de {amount}"),
            format!("{name} lève {amount} pour accélérer son développement"),
        ),
        SignalType::InsolvencyProceedings => (
            "bodacc",
            "Jugement d'ouverture d'une procédure de redressement judiciaire".to_owned(),
            format!("{name} placée en redressement judiciaire par le tribunal de commerce"),
        ),
        SignalType::Liquidation => (
            "bodacc",
            "Jugement de liquidation judiciaire".to_owned(),
            format!("Liquidation judiciaire pour {name} à {city}"),
        ),
        SignalType::Layoffs => (
            "press",
            format!("Plan de sauvegarde de l'emploi : {n_jobs} postes"),
            format!("{name} annonce la suppression de {n_jobs} postes"),
        ),
        SignalType::SiteClosure => {
            ("press", format!("Fermeture du site de {city}"), format!("{name} va fermer son usine de {city}"))
        }
    };
    let n_signal = activity.signals.len();
    activity.signals.push(Signal {
        id: format!("s-{}-{n_signal}", company.id),
        company_id: company.id.clone(),
        signal_type,
        date,
        source: source.to_owned(),
        weight: Some(1.0),
        text: Some(text),
    });
    let press_probability = if signal_type.is_red_flag() { 0.6 } else { 0.3 };
    if rng.random_bool(press_probability) {
        let published = date.checked_add(rng.random_range(0..10).days()).unwrap_or(date);
        let n_article = activity.articles.len();
        activity.articles.push(Article {
            id: format!("a-{}-{n_article}", company.id),
            company_id: company.id.clone(),
            date: published,
            title: headline,
            body: None,
            summary: Some(format!(
                "{} Implantée à {city}, l'entreprise compte environ {} salariés.",
                company.description.split(". ").next().unwrap_or("").trim_end_matches('.').to_owned() + ".",
                generated.headcount.max(1)
            )),
            source: PRESS.choose(rng).unwrap_or(&"actu.fr").to_string(),
            url: None,
            event_type: None,
            sentiment: None,
        });
    }
}
