//! Where a package's run spends its time: `dnnc run --profile`, on the
//! native engine or the VM.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Serialize;
use verdict_dnn::ir::Model;

/// Per-op times of a model, the median over several runs.
#[derive(Clone, Debug, Serialize)]
pub struct Profile {
    /// The engine timed: `native` or `vm`.
    pub engine: &'static str,
    /// Runs measured.
    pub runs: usize,
    /// Sum of the ops' medians, in milliseconds.
    pub total_ms: f64,
    /// Every node, in execution order.
    pub nodes: Vec<NodeTime>,
    /// Totals by op name, slowest first.
    pub by_op: Vec<OpTime>,
}

/// One node's median time.
#[derive(Clone, Debug, Serialize)]
pub struct NodeTime {
    /// The node's name.
    pub name: String,
    /// Its op.
    pub op: &'static str,
    /// Its output's shape.
    pub shape: Vec<usize>,
    /// Its VM steps.
    pub steps: u64,
    /// Median milliseconds.
    pub ms: f64,
}

/// The time of all nodes of one op.
#[derive(Clone, Debug, Serialize)]
pub struct OpTime {
    /// The op's name.
    pub op: &'static str,
    /// Nodes with it.
    pub count: usize,
    /// Their VM steps.
    pub steps: u64,
    /// Sum of their medians, in milliseconds.
    pub ms: f64,
}

/// Nodes listed in the text form, slowest first.
const SLOWEST: usize = 15;

impl Profile {
    /// The profile of `runs` on `engine`, each a time per node of `model`,
    /// whose op boundaries (in VM steps) are `boundaries`.
    pub fn of(
        engine: &'static str,
        model: &Model,
        boundaries: &[u64],
        runs: &[Vec<Duration>],
    ) -> Profile {
        let nodes: Vec<NodeTime> = model
            .nodes
            .iter()
            .enumerate()
            .map(|(n, node)| {
                let mut times: Vec<Duration> = runs.iter().map(|r| r[n]).collect();
                times.sort_unstable();
                NodeTime {
                    name: node.name.clone(),
                    op: node.op.name(),
                    shape: model.tensors[node.output].shape.clone(),
                    steps: boundaries[n + 1] - boundaries[n],
                    ms: times
                        .get(times.len() / 2)
                        .map_or(0.0, |t| t.as_secs_f64() * 1e3),
                }
            })
            .collect();
        let mut ops: BTreeMap<&'static str, (usize, u64, f64)> = BTreeMap::new();
        for node in &nodes {
            let entry = ops.entry(node.op).or_default();
            entry.0 += 1;
            entry.1 += node.steps;
            entry.2 += node.ms;
        }
        let mut by_op: Vec<OpTime> = ops
            .into_iter()
            .map(|(op, (count, steps, ms))| OpTime {
                op,
                count,
                steps,
                ms,
            })
            .collect();
        by_op.sort_by(|a, b| b.ms.total_cmp(&a.ms));
        Profile {
            engine,
            runs: runs.len(),
            total_ms: nodes.iter().map(|n| n.ms).sum(),
            nodes,
            by_op,
        }
    }
}

/// Millions of VM steps a second.
fn mega_steps_per_s(steps: u64, ms: f64) -> f64 {
    steps as f64 / (1e3 * ms.max(f64::MIN_POSITIVE))
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let share = |ms: f64| 100.0 * ms / self.total_ms.max(f64::MIN_POSITIVE);
        // The VM's speed, on the VM; VM steps alone on the native engine.
        let speed = |steps: u64, ms: f64| match self.engine {
            "vm" => format!("{steps:>14} {:>10.1}", mega_steps_per_s(steps, ms)),
            _ => format!("{steps:>14}"),
        };
        let steps: u64 = self.nodes.iter().map(|n| n.steps).sum();
        writeln!(
            f,
            "{} profile: {:.3} ms, median of {} runs per op; {steps} VM steps",
            self.engine, self.total_ms, self.runs,
        )?;
        let header = match self.engine {
            "vm" => format!("{:>14} {:>10}", "VM steps", "M steps/s"),
            _ => format!("{:>14}", "VM steps"),
        };
        writeln!(
            f,
            "{:<24} {:>5} {:>10} {:>6} {header}",
            "op", "nodes", "ms", "%"
        )?;
        for op in &self.by_op {
            writeln!(
                f,
                "{:<24} {:>5} {:>10.3} {:>5.1}% {}",
                op.op,
                op.count,
                op.ms,
                share(op.ms),
                speed(op.steps, op.ms)
            )?;
        }
        let mut slowest: Vec<&NodeTime> = self.nodes.iter().collect();
        slowest.sort_by(|a, b| b.ms.total_cmp(&a.ms));
        writeln!(f, "slowest nodes:")?;
        for node in slowest.into_iter().take(SLOWEST) {
            writeln!(
                f,
                "{:>10.3} ms {:>5.1}% {}  {} {} -> {:?}",
                node.ms,
                share(node.ms),
                speed(node.steps, node.ms),
                node.op,
                node.name,
                node.shape
            )?;
        }
        Ok(())
    }
}
