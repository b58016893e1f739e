//! Fuzz target: the scorer's text inputs never panic. An article's headline and lead (split at
//! the first newline) get a polarity within [−1, 1], neutral when no event is found; a labelled
//! CSV table is read or refused with an error.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use marketlounge_index::score::events::EventRules;
use marketlounge_index::score::train::Table;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(text) = std::str::from_utf8(bytes) {
        let (title, summary) = match text.split_once('\n') {
            Some((title, summary)) => (title, Some(summary)),
            None => (text, None),
        };
        let found = EventRules::shared().classify(title, summary);
        assert!(found.polarity.is_finite() && (-1.0..=1.0).contains(&found.polarity));
        if found.event_type.is_none() {
            assert_eq!(found.polarity, 0.0);
        }
    }
    if let Ok(table) = Table::read_csv(bytes, "y", Some("id"), &[]) {
        assert_eq!(table.x.len(), table.y.len() * table.feature_names.len());
        assert_eq!(table.ids.len(), table.y.len());
    }
});
