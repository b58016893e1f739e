//! Company ids: nine digits with a Luhn check digit, like a real SIREN, packed as the number
//! they spell (a `u32`) in the segment files and the scoring store.

use super::is_valid_siren;

/// The SIREN-like id whose first eight digits spell `body % 10⁸` and whose ninth is the Luhn
/// check digit: a valid, unique id for each of 10⁸ numbers (test data, generated corpora).
pub fn siren_with_check_digit(body: u32) -> String {
    let body = format!("{:08}", body % 100_000_000);
    (0..10)
        .map(|check| format!("{body}{check}"))
        .find(|candidate| is_valid_siren(candidate))
        .expect("one check digit makes the Luhn sum a multiple of 10")
}

/// A company id as the number its 9 digits spell; `None` if it is not 9 ASCII digits.
pub fn parse_id(id: &str) -> Option<u32> {
    if id.len() != 9 || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    id.parse().ok()
}

/// The 9-digit id a packed number stands for (leading zeros kept).
pub fn format_id(id: u32) -> String {
    format!("{id:09}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_valid_unique_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for body in (0..20_000u32).chain([99_999_999, 100_000_000, 123_456_789]) {
            let id = siren_with_check_digit(body);
            assert!(is_valid_siren(&id), "{body}: {id}");
            assert_eq!(id[..8], format!("{:08}", body % 100_000_000));
            assert_eq!(format_id(parse_id(&id).unwrap()), id);
            if body < 20_000 {
                assert!(seen.insert(id));
            }
        }
        // Exactly one check digit is valid.
        let body = "73282932";
        let valid: Vec<u32> = (0..10).filter(|c| is_valid_siren(&format!("{body}{c}"))).collect();
        assert_eq!(valid.len(), 1);
        assert_eq!(siren_with_check_digit(73_282_932), format!("{body}{}", valid[0]));
    }

    #[test]
    fn parse_refuses_anything_but_nine_digits() {
        for bad in ["", "12345678", "1234567890", "12345678a", "+12345678", " 12345678", "１２３４５６７８９"]
        {
            assert_eq!(parse_id(bad), None, "{bad:?}");
        }
        assert_eq!(parse_id("000000042"), Some(42));
        assert_eq!(format_id(42), "000000042");
    }
}
