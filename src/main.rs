//! The `marketlounge` binary: see `cli` for the commands.

use std::process::ExitCode;

fn main() -> ExitCode {
    match marketlounge::cli::run() {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}
