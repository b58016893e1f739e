//! The `marketlounge` binary: see `cli` for the commands.
#![forbid(unsafe_code)]

use std::process::ExitCode;

/// mimalloc: indexing allocates and frees many small strings and tantivy buffers across threads;
/// measured faster than the system allocator on a 1M-company build (see issue 3's note).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    match marketlounge::cli::run() {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}
