//! Prints the gas of one verifier step per instruction class, as the Markdown
//! table in docs/gas.md.
//!
//! `cargo run -p verdict-contracts --example gas`

use std::process::ExitCode;

fn main() -> ExitCode {
    match verdict_contracts::gas::measure() {
        Ok(rows) => {
            print!("{}", verdict_contracts::gas::markdown(&rows));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
