//! Reading a Prometheus text exposition in tests, and the check that `tools/monitoring/` (the
//! alerting rules, the Grafana dashboard) names only metrics a server serves.

use std::collections::BTreeSet;
use std::path::Path;

/// Every sample's value in a text exposition, by series (`name{labels}` as written).
pub fn samples(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("a sample line: {line:?}"));
            (series.to_owned(), value.parse().unwrap_or_else(|_| panic!("a number: {line:?}")))
        })
        .collect()
}

/// The value of the first series named `name` whose labels include every one of `labels`
/// (`route="/health"`).
pub fn value(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    samples(text)
        .into_iter()
        .find(|(series, _)| {
            let (series_name, series_labels) = series.split_once('{').unwrap_or((series, ""));
            series_name == name && labels.iter().all(|label| series_labels.contains(label))
        })
        .map(|(_, value)| value)
}

/// Every name an expression may use: the sample names and the families' names (a histogram's
/// `_bucket`, `_sum` and `_count`, and its own name).
pub fn served_names(text: &str) -> BTreeSet<String> {
    let mut names: BTreeSet<String> =
        samples(text).into_iter().map(|(series, _)| series.split('{').next().unwrap().to_owned()).collect();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            names.insert(rest.split(' ').next().unwrap().to_owned());
        }
    }
    names
}

/// Every `marketlounge_…` name a text mentions.
pub fn names_in(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("marketlounge_") {
        let name: String =
            rest[at..].chars().take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_').collect();
        rest = &rest[at + name.len()..];
        names.insert(name);
    }
    names
}

/// The alerting rules' and the dashboard's text.
pub fn monitoring_files() -> (String, String) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/monitoring");
    let rules = std::fs::read_to_string(dir.join("alerts.yml")).unwrap();
    let dashboard = std::fs::read_to_string(dir.join("grafana-dashboard.json")).unwrap();
    (rules, dashboard)
}

/// Fails naming every metric the rules or the dashboard use that `exposition` (a server's
/// `/metrics`) does not serve. Labelled families are only served once they have a series: the
/// caller's server must have answered requests and applied a scoring model.
pub fn assert_monitoring_uses_served_names(exposition: &str) {
    let (rules, dashboard) = monitoring_files();
    let served = served_names(exposition);
    let mut used = names_in(&rules);
    assert!(used.len() >= 5, "{used:?}");
    used.extend(names_in(&dashboard));
    for name in ["marketlounge_http_request_duration_seconds_bucket", "marketlounge_scoring_score_drift_shifted"] {
        assert!(used.contains(name), "{name} is not used: the name scan found {used:?}");
    }
    let missing: Vec<&String> = used.iter().filter(|name| !served.contains(*name)).collect();
    assert!(missing.is_empty(), "used in tools/monitoring but not served by /metrics: {missing:?}");
}
