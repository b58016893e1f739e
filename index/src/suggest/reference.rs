//! The naive references the fast paths are checked against (by the proptests of
//! `index/tests/suggest.rs`): completion by scanning every entry, and typo-tolerant completion by
//! an edit distance computed per entry.

use super::{
    Entry, Hit, TOP_MAX, allowed_edits, entry_of, heavier, hit, key_text, normalise, sanitise_weights, top_k,
    word_starts,
};

/// The naive reference: every entry a query completes, by scanning all of them (for tests and
/// for checking the fast path).
pub fn scan(entries: &[Entry], query: &str, k: usize, keep: &dyn Fn(u32) -> bool) -> Vec<u32> {
    let (norm, _) = normalise(query);
    if norm.is_empty() || k == 0 {
        return Vec::new();
    }
    let k = k.min(TOP_MAX);
    let matching = entries.iter().enumerate().filter(|(i, _)| keep(*i as u32)).filter_map(|(i, e)| {
        let (text, _) = normalise(&e.text);
        // The first matching word start: the text's own start when it matches.
        word_starts(&text).find(|&s| key_text(&text, s).starts_with(&norm)).map(|s| hit(i as u32, s > 0))
    });
    let mut sanitised = entries.to_vec();
    sanitise_weights(&mut sanitised);
    top_k(&sanitised, matching, k).into_iter().map(entry_of).collect()
}

/// The distance from `query` to the closest prefix of `text` (both normalised), counting a
/// swap of two neighbouring characters as one edit (optimal string alignment), as the typo walk
/// measures it: the first byte as typed, `None` beyond `budget`.
pub fn prefix_distance(query: &str, text: &str, budget: u8) -> Option<u8> {
    if query.is_empty() || text.as_bytes().first() != query.as_bytes().first() {
        return None;
    }
    let q: Vec<char> = query.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // rows[i][j]: from the first j characters of the query to the first i of the text.
    let mut rows = vec![vec![0usize; q.len() + 1]; t.len() + 1];
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    let mut best = q.len();
    for i in 1..=t.len() {
        rows[i][0] = i;
        for j in 1..=q.len() {
            let substitution = rows[i - 1][j - 1] + usize::from(q[j - 1] != t[i - 1]);
            let mut d = substitution.min(rows[i - 1][j] + 1).min(rows[i][j - 1] + 1);
            if i > 1 && j > 1 && q[j - 1] == t[i - 2] && q[j - 2] == t[i - 1] {
                d = d.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = d;
        }
        best = best.min(rows[i][q.len()]);
    }
    u8::try_from(best).ok().filter(|&d| d <= budget)
}

/// The naive reference for typo-tolerant completion: [`scan`]'s exact matches, then, when they
/// are fewer than `k`, the entries closest to the query by [`prefix_distance`] over their word
/// starts (ties: heavier first), as `(entry, edits)`.
pub fn scan_fuzzy(entries: &[Entry], query: &str, k: usize, keep: &dyn Fn(u32) -> bool) -> Vec<(u32, u8)> {
    let (norm, _) = normalise(query);
    let exact = scan(entries, query, k, keep);
    let mut out: Vec<(u32, u8)> = exact.iter().map(|&e| (e, 0)).collect();
    let k = k.min(TOP_MAX);
    let budget = allowed_edits(norm.chars().count());
    if norm.is_empty() || out.len() >= k || budget == 0 {
        return out;
    }
    let mut sanitised = entries.to_vec();
    sanitise_weights(&mut sanitised);
    let mut fuzzy: Vec<(u8, Hit)> = entries
        .iter()
        .enumerate()
        .filter(|(i, _)| keep(*i as u32) && !exact.contains(&(*i as u32)))
        .filter_map(|(i, e)| {
            let (text, _) = normalise(&e.text);
            word_starts(&text)
                .filter_map(|s| prefix_distance(&norm, key_text(&text, s), budget).map(|d| (d, hit(i as u32, s > 0))))
                .min()
        })
        .collect();
    fuzzy.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| heavier(&sanitised, a.1, b.1)));
    fuzzy.truncate(k - out.len());
    out.extend(fuzzy.into_iter().map(|(d, h)| (entry_of(h), d.max(1))));
    out
}
