//! The JSON Schemas in `schema/` are exactly what the Rust types generate, and the shipped data
//! files are valid records.

use marketlounge::cli::schema::all_schemas;
use marketlounge::settings::Settings;

#[test]
fn schema_files_match_the_rust_types() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema");
    for (name, generated) in all_schemas() {
        let on_disk = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        assert!(
            on_disk == generated,
            "schema/{name} differs from the Rust types: run `marketlounge schema --write schema` and review the diff"
        );
    }
}

#[test]
fn default_settings_file_is_valid() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema/settings.default.json")).unwrap();
    Settings::from_json(&text).unwrap();
}
