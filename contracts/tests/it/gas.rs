//! The gas budget of a step: at most 60k execution gas for integer, memory and
//! control steps, 120k for float steps, and 150k for the whole transaction.

use verdict_contracts::gas::{CASES, measure};

#[test]
fn every_class_within_budget() {
    let rows = measure().expect("every row measures");
    assert_eq!(rows.len(), CASES.len());
    for row in &rows {
        let budget = if row.class.starts_with('f') && row.class != "fault" {
            120_000
        } else {
            60_000
        };
        assert!(row.gas.execution <= budget, "{}: {:?}", row.class, row.gas);
        assert!(row.gas.tx <= 150_000, "{}: {:?}", row.class, row.gas);
        assert!(
            row.gas.tx >= row.gas.intrinsic + row.gas.execution,
            "{}: {:?}",
            row.class,
            row.gas
        );
    }
}
