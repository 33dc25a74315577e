//! verdict's benchmark runner.
//!
//! `cargo run --release -p verdict-benches -- [--json] [--quick] [--only GROUP]`
//! runs every benchmark (or one group of them) and prints a table, or with
//! `--json` one JSON object holding every figure. Each figure is the median
//! of several timed runs.

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
    /// The one group to run (`vm`, `dnn`, `models`, `gas`), or all of them.
    only: Option<String>,
}

/// The benchmark groups, in the order they run.
const GROUPS: [&str; 4] = ["vm", "dnn", "models", "gas"];

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
        only: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--json" => opts.json = true,
            "--quick" => opts.quick = true,
            "--only" => match args.next() {
                Some(group) if GROUPS.contains(&group.as_str()) => opts.only = Some(group),
                _ => {
                    eprintln!("verdict-benches: --only takes one of {}", GROUPS.join(", "));
                    std::process::exit(2);
                }
            },
            "-h" | "--help" => {
                println!(
                    "usage: verdict-benches [--json] [--quick] [--only GROUP]\n\n  --json        print one JSON object with every figure\n  --quick       fewer repetitions and smaller sizes (a smoke run)\n  --only GROUP  run one group: {}",
                    GROUPS.join(", ")
                );
                return;
            }
            other => {
                eprintln!("verdict-benches: unknown argument `{other}` (try --help)");
                std::process::exit(2);
            }
        }
    }
    let selected = |group: &str| opts.only.as_deref().is_none_or(|only| only == group);
    let mut figures = Vec::new();
    if selected("vm") {
        figures.extend(vm::run(&opts));
    }
    if selected("dnn") {
        figures.extend(dnn::run(&opts));
    }
    if selected("models") {
        figures.extend(models::run(&opts));
    }
    if selected("gas") {
        figures.extend(gas::run());
    }
    if opts.json {
        let mut map = Map::new();
        for f in &figures {
            map.insert(f.name.clone(), Value::from(f.value));
        }
        println!("{}", Value::Object(map));
    } else {
        for f in &figures {
            println!("{:<44} {:>14.3} {}", f.name, f.value, f.unit);
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
