//! Point-in-time features of a company as of a date T.
//!
//! Everything here reads a company's history through [`History::as_of`], which cuts it at T:
//! events dated after T are invisible, so a feature at T is the same whatever was recorded
//! later (the leakage test in `index/tests/scoring.rs` holds this). [`FEATURES`] documents each
//! feature: what it measures, why it should predict an opportunity, its unit and what it is when
//! the data is missing. `marketlounge score features` prints that table.
//!
//! Firmographics (NAF section, headcount band, region) are the company's current values: the
//! index keeps no history of them. Only the age is computed as of T.

use std::hash::Hasher;

use serde::{Deserialize, Serialize};

use super::model::Sign;
use crate::record::{Company, HeadcountBand, SignalType};
use crate::refdata::RefData;

/// Days per unit of the count windows.
const WINDOWS: [(i32, &str); 4] = [(91, "3m"), (182, "6m"), (365, "12m"), (730, "24m")];
/// NAF rév.2 sections.
pub const NAF_SECTIONS: [&str; 21] =
    ["A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L", "M", "N", "O", "P", "Q", "R", "S", "T", "U"];

/// Tunable parts of the features (settings `scoring.features`). They enter the feature-schema
/// hash: a model trained with other values is refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct FeatureSettings {
    /// Half-life of a positive signal's weight in the intensity feature, in days.
    #[schemars(range(min = 1.0))]
    pub positive_half_life_days: f64,
    /// Half-life of a red flag's weight in the intensity feature, in days.
    #[schemars(range(min = 1.0))]
    pub red_flag_half_life_days: f64,
    /// Recency is capped here (and a type never seen counts as this old), in days.
    #[schemars(range(min = 1))]
    pub recency_cap_days: i32,
}

impl Default for FeatureSettings {
    fn default() -> Self {
        FeatureSettings { positive_half_life_days: 180.0, red_flag_half_life_days: 180.0, recency_cap_days: 730 }
    }
}

/// Documentation of one feature.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeatureSpec {
    pub name: String,
    pub what: String,
    pub why: String,
    pub unit: &'static str,
    pub missing: &'static str,
}

/// Index of the first feature of each group in a feature vector.
mod slot {
    use super::*;
    pub const RECENCY: usize = 0;
    pub const TYPE_INTENSITY: usize = RECENCY + SignalType::ALL.len();
    pub const TYPE_LOG_INTENSITY: usize = TYPE_INTENSITY + SignalType::ALL.len();
    pub const POSITIVE_COUNTS: usize = TYPE_LOG_INTENSITY + SignalType::ALL.len();
    pub const RED_COUNTS: usize = POSITIVE_COUNTS + WINDOWS.len();
    pub const POSITIVE_INTENSITY: usize = RED_COUNTS + WINDOWS.len();
    pub const RED_INTENSITY: usize = POSITIVE_INTENSITY + 1;
    pub const DIVERSITY: usize = RED_INTENSITY + 1;
    pub const NET_BALANCE: usize = DIVERSITY + 1;
    pub const INSOLVENCY_OPEN: usize = NET_BALANCE + 1;
    pub const LIQUIDATED: usize = INSOLVENCY_OPEN + 1;
    pub const PRESS_3M: usize = LIQUIDATED + 1;
    pub const PRESS_12M: usize = PRESS_3M + 1;
    pub const PRESS_POLARITY: usize = PRESS_12M + 1;
    pub const PRESS_RED_FLAGS: usize = PRESS_POLARITY + 1;
    pub const LOG_HEADCOUNT: usize = PRESS_RED_FLAGS + 1;
    pub const AGE: usize = LOG_HEADCOUNT + 1;
    pub const SECTIONS: usize = AGE + 1;
    pub const REGIONS: usize = SECTIONS + NAF_SECTIONS.len();
}

/// Number of région indicator features.
fn n_regions() -> usize {
    RefData::embedded().regions.len()
}

/// The number of features.
pub fn n_features() -> usize {
    slot::REGIONS + n_regions()
}

/// The documented feature table, in vector order.
pub fn feature_specs(settings: &FeatureSettings) -> Vec<FeatureSpec> {
    let cap = settings.recency_cap_days;
    let mut specs = Vec::with_capacity(n_features());
    let mut push = |name: String, what: String, why: &str, unit: &'static str, missing: &'static str| {
        specs.push(FeatureSpec { name, what, why: why.to_owned(), unit, missing });
    };
    for signal_type in SignalType::ALL {
        push(
            format!("days_since_{}", signal_type.as_str()),
            format!("Days from the last `{}` signal to T, capped at {cap}.", signal_type.as_str()),
            if signal_type.is_red_flag() {
                "A recent red flag means a company in trouble, a poor sourcing partner now."
            } else {
                "A recent positive signal means a company with projects, hence needs, now."
            },
            "days",
            "never seen (or older than the cap): the cap",
        );
    }
    for signal_type in SignalType::ALL {
        let half_life =
            if signal_type.is_red_flag() { settings.red_flag_half_life_days } else { settings.positive_half_life_days };
        push(
            format!("intensity_{}", signal_type.as_str()),
            format!(
                "Sum of the weights of `{}` signals, each halved every {half_life} days of age.",
                signal_type.as_str()
            ),
            "Each type says something different about a company's momentum (a fundraising more than a job ad); \
             a decayed sum per type lets the model weigh them, recent ones most.",
            "decayed signals",
            "no signal: 0",
        );
    }
    for signal_type in SignalType::ALL {
        let half_life =
            if signal_type.is_red_flag() { settings.red_flag_half_life_days } else { settings.positive_half_life_days };
        push(
            format!("log_intensity_{}", signal_type.as_str()),
            format!(
                "ln(1 + the sum of the weights of `{}` signals, each halved every {half_life} days of age).",
                signal_type.as_str()
            ),
            "Signal rates grow exponentially with momentum, so the evidence in a count grows like its \
             logarithm; with the linear sum, the model can bend the curve.",
            "ln(decayed signals)",
            "no signal: 0",
        );
    }
    for (days, label) in WINDOWS {
        push(
            format!("positive_{label}"),
            format!("Weighted count of positive signals in the {days} days up to T."),
            "Volume of recent activity, over three horizons so the model can weigh fresh against steady.",
            "signals",
            "no signal: 0",
        );
    }
    for (days, label) in WINDOWS {
        push(
            format!("red_flags_{label}"),
            format!("Weighted count of red flags in the {days} days up to T."),
            "Volume of recent trouble.",
            "signals",
            "no signal: 0",
        );
    }
    push(
        "positive_intensity".into(),
        format!("Sum of positive signal weights, each halved every {} days of age.", settings.positive_half_life_days),
        "Activity with a smooth memory: one number that favours recent signals without a hard window edge.",
        "decayed signals",
        "no signal: 0",
    );
    push(
        "red_flag_intensity".into(),
        format!("Sum of red-flag weights, each halved every {} days of age.", settings.red_flag_half_life_days),
        "Trouble with a smooth memory.",
        "decayed signals",
        "no signal: 0",
    );
    push(
        "positive_types_12m".into(),
        "Number of distinct positive signal types in the 365 days up to T.".into(),
        "Hiring and investing and winning contracts is broader momentum than three hiring ads.",
        "types",
        "no signal: 0",
    );
    push(
        "net_balance_12m".into(),
        "(positive − red) / (positive + red + 1) over the 365 days up to T.".into(),
        "Whether the news is mostly good or mostly bad, whatever its volume.",
        "ratio in (−1, 1)",
        "no signal: 0",
    );
    push(
        "insolvency_open".into(),
        "1 if insolvency proceedings were signalled in the 365 days up to T, else 0.".into(),
        "A company under a procédure collective rarely starts new sourcing.",
        "indicator",
        "no signal: 0",
    );
    push(
        "liquidated".into(),
        "1 if a liquidation was signalled at or before T, else 0.".into(),
        "A liquidated company is no opportunity.",
        "indicator",
        "no signal: 0",
    );
    push(
        "press_3m".into(),
        "Number of press articles in the 91 days up to T.".into(),
        "Press attention follows events, good or bad.",
        "articles",
        "no article: 0",
    );
    push(
        "press_12m".into(),
        "Number of press articles in the 365 days up to T.".into(),
        "Longer-run press attention.",
        "articles",
        "no article: 0",
    );
    push(
        "press_polarity_12m".into(),
        "Sum of article polarities (−1 bad news … 1 good news) in the 365 days up to T.".into(),
        "What the press says, read from the text when the article carries no polarity.",
        "polarity",
        "no article: 0",
    );
    push(
        "press_red_flags_12m".into(),
        "Number of articles about a red flag in the 365 days up to T.".into(),
        "Press coverage of trouble the signal feeds may have missed.",
        "articles",
        "no article: 0",
    );
    push(
        "log_headcount".into(),
        "ln(1 + the middle of the headcount band); 10 000+ counts as 15 000.".into(),
        "Larger companies source more, and more often.",
        "ln(employees)",
        "never missing (the band is required)",
    );
    push(
        "age_years".into(),
        "Years from the creation date to T (0 if created after T).".into(),
        "Young companies grow and buy; old ones are steadier.",
        "years",
        "never missing (the date is required)",
    );
    for section in NAF_SECTIONS {
        push(
            format!("naf_section_{section}"),
            format!("1 if the company's NAF code is in section {section}, else 0."),
            "Sectors differ in how much they subcontract.",
            "indicator",
            "unknown code: all sections 0",
        );
    }
    for region in &RefData::embedded().regions {
        push(
            format!("region_{}", crate::analysis::slug(region, '_')),
            format!("1 if the company is in {region}, else 0."),
            "Regional economies move at different speeds.",
            "indicator",
            "unknown région: all régions 0",
        );
    }
    specs
}

/// The hash of the feature schema: names, order and settings. A model records it; scoring with
/// another is refused.
pub fn schema_hash(settings: &FeatureSettings) -> String {
    // FNV-1a over a canonical text: stable across builds and platforms.
    let mut hasher = Fnv64::default();
    hasher.write(b"marketlounge-features-v1\n");
    for spec in feature_specs(settings) {
        hasher.write(spec.name.as_bytes());
        hasher.write(b"\n");
    }
    hasher.write(
        format!(
            "{}|{}|{}",
            settings.positive_half_life_days, settings.red_flag_half_life_days, settings.recency_cap_days
        )
        .as_bytes(),
    );
    format!("{:016x}", hasher.finish())
}

/// FNV-1a, 64 bits.
#[derive(Debug)]
pub(crate) struct Fnv64(u64);

impl Default for Fnv64 {
    fn default() -> Self {
        Fnv64(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv64 {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
pub fn day_number(date: jiff::civil::Date) -> i32 {
    // Howard Hinnant's days_from_civil.
    let (y, m, d) = (i32::from(date.year()), i32::from(date.month()), i32::from(date.day()));
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day number (inverse of [`day_number`]).
pub fn date_of_day(day: i32) -> jiff::civil::Date {
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i32::from(m <= 2);
    jiff::civil::Date::new(y as i16, m as i8, d as i8).unwrap_or(jiff::civil::Date::ZERO)
}

/// One signal, as the features see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SignalEvent {
    pub day: i32,
    /// Index in [`SignalType::ALL`].
    pub kind: u8,
    pub weight: f32,
}

/// One article, as the features see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PressEvent {
    pub day: i32,
    /// Index in [`SignalType::ALL`] of its event type, or [`NO_EVENT`].
    pub kind: u8,
    pub polarity: f32,
}

/// `PressEvent::kind` of an article with no event.
pub const NO_EVENT: u8 = u8::MAX;

/// A company's events, each list sorted by day.
#[derive(Debug, Clone, Copy, Default)]
pub struct History<'a> {
    pub signals: &'a [SignalEvent],
    pub press: &'a [PressEvent],
}

impl<'a> History<'a> {
    /// The part of the history dated at or before `day`: the only part features may read.
    pub fn as_of(self, day: i32) -> History<'a> {
        let signals = &self.signals[..self.signals.partition_point(|e| e.day <= day)];
        let press = &self.press[..self.press.partition_point(|e| e.day <= day)];
        History { signals, press }
    }
}

/// A company's attributes, encoded once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Firmographics {
    /// Index in [`NAF_SECTIONS`], or `u8::MAX` when unknown.
    pub section: u8,
    /// Index in `RefData::regions`, or `u8::MAX` when unknown.
    pub region: u8,
    pub log_headcount: f32,
    pub created_day: i32,
}

impl Firmographics {
    pub fn of(company: &Company, refdata: &RefData) -> Firmographics {
        let section = refdata
            .naf(&company.naf)
            .and_then(|naf| NAF_SECTIONS.iter().position(|s| *s == naf.section_code))
            .map_or(u8::MAX, |i| i as u8);
        let region = region_of(company, refdata)
            .and_then(|name| refdata.regions.binary_search_by(|r| r.as_str().cmp(name)).ok())
            .map_or(u8::MAX, |i| i as u8);
        Firmographics {
            section,
            region,
            log_headcount: log_headcount(company.headcount),
            created_day: day_number(company.created),
        }
    }

    /// The NAF section letter, if known.
    pub fn section_code(&self) -> Option<&'static str> {
        NAF_SECTIONS.get(usize::from(self.section)).copied()
    }

    /// The région name, if known.
    pub fn region_name(&self) -> Option<&'static str> {
        RefData::embedded().regions.get(usize::from(self.region)).map(String::as_str)
    }
}

/// The région of a company: as written, else from its commune, département or postal code.
pub fn region_of<'r>(company: &'r Company, refdata: &'r RefData) -> Option<&'r str> {
    let address = &company.address;
    if let Some(region) = &address.region {
        return Some(region);
    }
    if let Some(commune) = address.commune_code.as_deref().and_then(|code| refdata.commune(code)) {
        return Some(&commune.region);
    }
    if let Some(dep) = address.departement.as_deref().and_then(|code| refdata.departement(code)) {
        return Some(&dep.region);
    }
    refdata.communes_for_postal_code(&address.postal_code).next().map(|c| c.region.as_str())
}

fn log_headcount(band: HeadcountBand) -> f32 {
    let (low, high) = band.bounds();
    let middle = if high == u32::MAX { 15_000.0 } else { (f64::from(low) + f64::from(high)) / 2.0 };
    (1.0 + middle).ln() as f32
}

/// Computes the features of one company as of `as_of` into `out` (length [`n_features`]).
/// `history` may hold events after `as_of`: they are cut off here.
pub fn compute(settings: &FeatureSettings, as_of: i32, firm: &Firmographics, history: History<'_>, out: &mut [f64]) {
    debug_assert_eq!(out.len(), n_features());
    out.fill(0.0);
    let history = history.as_of(as_of);
    let cap = f64::from(settings.recency_cap_days);
    let ln2 = std::f64::consts::LN_2;
    let positive_decay = ln2 / settings.positive_half_life_days.max(1e-9);
    let red_decay = ln2 / settings.red_flag_half_life_days.max(1e-9);

    let mut last_seen = [i32::MIN; SignalType::ALL.len()];
    let mut types_12m = 0u16;
    let (mut positive_12m, mut red_12m) = (0.0f64, 0.0f64);
    for event in history.signals {
        let kind = usize::from(event.kind).min(SignalType::ALL.len() - 1);
        let age = as_of - event.day;
        let weight = f64::from(event.weight);
        last_seen[kind] = last_seen[kind].max(event.day);
        let red = SignalType::ALL[kind].is_red_flag();
        let counts = if red { slot::RED_COUNTS } else { slot::POSITIVE_COUNTS };
        for (w, (days, _)) in WINDOWS.iter().enumerate() {
            if age < *days {
                out[counts + w] += weight;
            }
        }
        let decayed = weight * (-(if red { red_decay } else { positive_decay }) * f64::from(age)).exp();
        out[slot::TYPE_INTENSITY + kind] += decayed;
        out[if red { slot::RED_INTENSITY } else { slot::POSITIVE_INTENSITY }] += decayed;
        if age < 365 {
            if red {
                red_12m += weight;
            } else {
                positive_12m += weight;
                types_12m |= 1 << kind;
            }
            if SignalType::ALL[kind] == SignalType::InsolvencyProceedings {
                out[slot::INSOLVENCY_OPEN] = 1.0;
            }
        }
        if SignalType::ALL[kind] == SignalType::Liquidation {
            out[slot::LIQUIDATED] = 1.0;
        }
    }
    // Per type, the log of the decayed sum: the evidence a count carries about momentum grows
    // like its logarithm (signal rates are exponential in momentum).
    for kind in 0..SignalType::ALL.len() {
        out[slot::TYPE_LOG_INTENSITY + kind] = out[slot::TYPE_INTENSITY + kind].ln_1p();
    }
    for (kind, &seen) in last_seen.iter().enumerate() {
        out[slot::RECENCY + kind] = if seen == i32::MIN { cap } else { f64::from(as_of - seen).min(cap) };
    }
    out[slot::DIVERSITY] = f64::from(types_12m.count_ones());
    out[slot::NET_BALANCE] = (positive_12m - red_12m) / (positive_12m + red_12m + 1.0);

    for article in history.press {
        let age = as_of - article.day;
        if age < 91 {
            out[slot::PRESS_3M] += 1.0;
        }
        if age < 365 {
            out[slot::PRESS_12M] += 1.0;
            out[slot::PRESS_POLARITY] += f64::from(article.polarity);
            if SignalType::ALL.get(usize::from(article.kind)).is_some_and(|t| t.is_red_flag()) {
                out[slot::PRESS_RED_FLAGS] += 1.0;
            }
        }
    }

    out[slot::LOG_HEADCOUNT] = f64::from(firm.log_headcount);
    out[slot::AGE] = (f64::from(as_of - firm.created_day) / 365.25).max(0.0);
    if let Some(slot) = usize::from(firm.section).checked_add(slot::SECTIONS).filter(|&s| s < slot::REGIONS) {
        out[slot] = 1.0;
    }
    if let Some(slot) = usize::from(firm.region).checked_add(slot::REGIONS).filter(|&s| s < out.len()) {
        out[slot] = 1.0;
    }
}

/// The sign each feature's weight must have so that the score is monotone in the evidence: more
/// positive signals never lower it, a red flag never raises it. Firmographics and press volume
/// (good news and bad) are free.
pub fn feature_signs(settings: &FeatureSettings) -> Vec<Sign> {
    let mut signs = Vec::with_capacity(n_features());
    for signal_type in SignalType::ALL {
        // A more recent positive signal (fewer days) is good news; a more recent red flag, bad.
        signs.push(if signal_type.is_red_flag() { Sign::NonNegative } else { Sign::NonPositive });
    }
    for _ in 0..2 {
        for signal_type in SignalType::ALL {
            signs.push(if signal_type.is_red_flag() { Sign::NonPositive } else { Sign::NonNegative });
        }
    }
    signs.extend(WINDOWS.iter().map(|_| Sign::NonNegative));
    signs.extend(WINDOWS.iter().map(|_| Sign::NonPositive));
    signs.extend([
        Sign::NonNegative, // positive_intensity
        Sign::NonPositive, // red_flag_intensity
        Sign::NonNegative, // positive_types_12m
        Sign::NonNegative, // net_balance_12m
        Sign::NonPositive, // insolvency_open
        Sign::NonPositive, // liquidated
        Sign::Free,        // press_3m
        Sign::Free,        // press_12m
        Sign::NonNegative, // press_polarity_12m
        Sign::NonPositive, // press_red_flags_12m
    ]);
    signs.resize(n_features(), Sign::Free);
    debug_assert_eq!(feature_specs(settings).len(), signs.len());
    signs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_numbers_match_jiff() {
        let epoch = jiff::civil::date(1970, 1, 1);
        for (y, m, d) in [(1970, 1, 1), (2000, 2, 29), (2026, 11, 30), (1900, 3, 1), (2100, 12, 31), (1969, 12, 31)] {
            let date = jiff::civil::date(y, m, d);
            let expected = epoch.until(date).unwrap().get_days();
            assert_eq!(day_number(date), expected, "{date}");
            assert_eq!(date_of_day(expected), date);
        }
    }

    #[test]
    fn the_table_matches_the_vector() {
        let specs = feature_specs(&FeatureSettings::default());
        assert_eq!(specs.len(), n_features());
        let mut names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), specs.len(), "feature names are unique");
        assert_eq!(specs[slot::LOG_HEADCOUNT].name, "log_headcount");
        assert_eq!(specs[slot::SECTIONS + 2].name, "naf_section_C");
        assert!(specs.iter().all(|s| !s.what.is_empty() && !s.why.is_empty()));
    }

    #[test]
    fn signs_line_up_with_the_names() {
        let settings = FeatureSettings::default();
        let specs = feature_specs(&settings);
        let signs = feature_signs(&settings);
        assert_eq!(specs.len(), signs.len());
        for (spec, sign) in specs.iter().zip(&signs) {
            let name = spec.name.as_str();
            let red = SignalType::ALL.iter().any(|t| t.is_red_flag() && name.ends_with(t.as_str()));
            let expected = match name {
                n if n.starts_with("days_since_") => {
                    if red {
                        Sign::NonNegative
                    } else {
                        Sign::NonPositive
                    }
                }
                n if n.starts_with("intensity_") || n.starts_with("log_intensity_") => {
                    if red {
                        Sign::NonPositive
                    } else {
                        Sign::NonNegative
                    }
                }
                n if n.starts_with("positive_") || n == "net_balance_12m" || n == "press_polarity_12m" => {
                    Sign::NonNegative
                }
                n if n.starts_with("red_flag") || n == "insolvency_open" || n == "liquidated" => Sign::NonPositive,
                "press_red_flags_12m" => Sign::NonPositive,
                _ => Sign::Free,
            };
            assert_eq!(*sign, expected, "{name}");
        }
    }

    #[test]
    fn schema_hash_changes_with_settings() {
        let base = FeatureSettings::default();
        let other = FeatureSettings { positive_half_life_days: 30.0, ..base.clone() };
        assert_ne!(schema_hash(&base), schema_hash(&other));
        assert_eq!(schema_hash(&base), schema_hash(&FeatureSettings::default()));
    }

    fn kind(t: SignalType) -> u8 {
        SignalType::ALL.iter().position(|&x| x == t).unwrap() as u8
    }

    #[test]
    fn windows_decay_and_recency() {
        let settings = FeatureSettings::default();
        let firm = Firmographics { section: 2, region: 0, log_headcount: 3.0, created_day: 0 };
        let signals = [
            SignalEvent { day: 1000, kind: kind(SignalType::Hiring), weight: 1.0 },
            SignalEvent { day: 1100, kind: kind(SignalType::ContractWon), weight: 2.0 },
            SignalEvent { day: 1180, kind: kind(SignalType::Layoffs), weight: 1.0 },
        ];
        let mut out = vec![0.0; n_features()];
        compute(&settings, 1190, &firm, History { signals: &signals, press: &[] }, &mut out);
        assert_eq!(out[slot::RECENCY + kind(SignalType::Hiring) as usize], 190.0);
        assert_eq!(out[slot::RECENCY + kind(SignalType::Fundraising) as usize], 730.0);
        assert_eq!(out[slot::POSITIVE_COUNTS], 2.0); // 3 months: the contract only
        assert_eq!(out[slot::POSITIVE_COUNTS + 1], 2.0); // 6 months (182 days): not the hiring, 190 days old
        assert_eq!(out[slot::POSITIVE_COUNTS + 2], 3.0); // 12 months: both
        assert_eq!(out[slot::RED_COUNTS], 1.0);
        let intensity = 0.5f64.powf(190.0 / 180.0) + 2.0 * 0.5f64.powf(90.0 / 180.0);
        assert!(
            (out[slot::POSITIVE_INTENSITY] - intensity).abs() < 1e-12,
            "{} vs {intensity}",
            out[slot::POSITIVE_INTENSITY]
        );
        assert_eq!(out[slot::DIVERSITY], 2.0);
        assert!((out[slot::NET_BALANCE] - (3.0 - 1.0) / 5.0).abs() < 1e-12);
        assert_eq!(out[slot::SECTIONS + 2], 1.0);
        assert_eq!(out[slot::REGIONS], 1.0);
        assert!((out[slot::AGE] - 1190.0 / 365.25).abs() < 1e-12);
    }
}
