//! On-chain figures: gas of one verifier step per instruction class,
//! measured in revm (the table of docs/gas.md).

use crate::Figure;

pub(crate) fn run() -> Vec<Figure> {
    let rows = match verdict_contracts::gas::measure() {
        Ok(rows) => rows,
        Err(e) => {
            eprintln!("verdict-benches: gas table failed: {e}");
            std::process::exit(1);
        }
    };
    let mut out = Vec::new();
    for row in rows {
        let class = slug(row.class);
        out.push(Figure {
            name: format!("step_gas_execution_{class}"),
            value: row.gas.execution as f64,
            unit: "gas",
        });
        out.push(Figure {
            name: format!("step_gas_tx_{class}"),
            value: row.gas.tx as f64,
            unit: "gas",
        });
        out.push(Figure {
            name: format!("step_calldata_bytes_{class}"),
            value: row.calldata_len as f64,
            unit: "bytes",
        });
    }
    out
}

/// `halted (fixed point)` as `halted_fixed_point`.
fn slug(class: &str) -> String {
    class
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("_")
}
