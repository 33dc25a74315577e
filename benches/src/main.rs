//! verdict's benchmark runner.
//!
//! `cargo run --release -p verdict-benches -- [--json] [--quick]` runs every
//! benchmark and prints a table, or with `--json` one JSON object holding
//! every figure. Each figure is the median of several timed runs.

mod dnn;
mod gas;
mod models;
mod vm;

use std::time::{Duration, Instant};

use serde_json::{Map, Value};

/// Options from the command line.
struct Options {
    json: bool,
    quick: bool,
}

/// A named figure with its unit.
struct Figure {
    name: String,
    value: f64,
    unit: &'static str,
}

fn main() {
    let mut opts = Options {
        json: false,
        quick: false,
    };
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--json" => opts.json = true,
            "--quick" => opts.quick = true,
            "-h" | "--help" => {
                println!(
                    "usage: verdict-benches [--json] [--quick]\n\n  --json   print one JSON object with every figure\n  --quick  fewer repetitions and smaller sizes (a smoke run)"
                );
                return;
            }
            other => {
                eprintln!("verdict-benches: unknown argument `{other}` (try --help)");
                std::process::exit(2);
            }
        }
    }
    let mut figures = vm::run(&opts);
    figures.extend(dnn::run(&opts));
    figures.extend(models::run(&opts));
    figures.extend(gas::run());
    if opts.json {
        let mut map = Map::new();
        for f in &figures {
            map.insert(f.name.clone(), Value::from(f.value));
        }
        println!("{}", Value::Object(map));
    } else {
        for f in &figures {
            println!("{:<36} {:>14.3} {}", f.name, f.value, f.unit);
        }
    }
}

/// The median wall time of `runs` calls of `f`, each after `setup`.
fn median_time<S, T>(
    runs: usize,
    mut setup: impl FnMut() -> S,
    mut f: impl FnMut(S) -> T,
) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let input = setup();
            let start = Instant::now();
            let out = std::hint::black_box(f(input));
            let elapsed = start.elapsed();
            drop(out);
            elapsed
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}
