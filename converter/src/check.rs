//! Running tract's own inference and comparing it with verdict's engines.

use serde::Serialize;
use tract_onnx::prelude::{IntoRunnable, TVec, Tensor, TypedModel};

use crate::error::ConvertError;

/// How far two outputs are apart.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Diff {
    /// Largest `|a - b|`.
    pub max_abs: f32,
    /// Largest `|a - b| / max(|b|, tiny)`.
    pub max_rel: f32,
    /// Number of positions where exactly one of the two is NaN.
    pub nan_mismatches: usize,
}

impl Diff {
    /// The difference of `got` from `want` (same length).
    ///
    /// A report, not part of any engine's semantics: `is_nan` here asks only
    /// whether a stored output is a NaN, which no payload changes.
    pub fn of(got: &[f32], want: &[f32]) -> Diff {
        let mut d = Diff::default();
        for (&a, &b) in got.iter().zip(want) {
            if a.is_nan() || b.is_nan() {
                d.nan_mismatches += usize::from(a.is_nan() != b.is_nan());
                continue;
            }
            if a == b {
                continue;
            }
            let abs = (a - b).abs();
            d.max_abs = d.max_abs.max(abs);
            d.max_rel = d.max_rel.max(abs / b.abs().max(f32::MIN_POSITIVE));
        }
        d
    }

    /// `true` if every element satisfies `|a - b| <= atol + rtol * |b|`
    /// (NaN where the other is NaN).
    pub fn within(got: &[f32], want: &[f32], rtol: f32, atol: f32) -> bool {
        got.len() == want.len()
            && got.iter().zip(want).all(|(&a, &b)| {
                (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= atol + rtol * b.abs()
            })
    }
}

/// Runs tract's optimized plan of `model` on one input.
///
/// # Errors
///
/// [`ConvertError::Tract`] when tract fails to optimize or run.
pub fn run_tract(
    model: &TypedModel,
    shape: &[usize],
    input: &[f32],
) -> Result<Vec<f32>, ConvertError> {
    let plan = model
        .clone()
        .into_optimized()
        .map_err(|e| ConvertError::tract("optimizing for a tract run", e))?
        .into_runnable()
        .map_err(|e| ConvertError::tract("planning a tract run", e))?;
    run_plan(&plan, &[(shape, input)])
}

/// A tract plan ready to run.
pub type TractPlan = std::sync::Arc<tract_onnx::prelude::TypedRunnableModel>;

/// Runs a tract plan on its inputs, each a shape and its values in the
/// graph's order (the values of an integer input are the integers the f32
/// values hold).
///
/// # Errors
///
/// [`ConvertError::Tract`] when tract fails.
pub fn run_plan(plan: &TractPlan, inputs: &[(&[usize], &[f32])]) -> Result<Vec<f32>, ConvertError> {
    let mut values = TVec::new();
    for (i, &(shape, input)) in inputs.iter().enumerate() {
        let x = Tensor::from_shape(shape, input)
            .map_err(|e| ConvertError::tract("building the input", e))?;
        let dt = plan
            .model()
            .input_fact(i)
            .map_err(|e| ConvertError::tract("reading the input fact", e))?
            .datum_type;
        let x = x
            .cast_to_dt(dt)
            .map_err(|e| ConvertError::tract("building the input", e))?
            .into_owned();
        values.push(x.into());
    }
    let out = plan
        .run(values)
        .map_err(|e| ConvertError::tract("running", e))?;
    let y = out[0]
        .cast_to::<f32>()
        .map_err(|e| ConvertError::tract("reading the output", e))?;
    y.try_as_plain_ram()
        .and_then(|v| v.as_slice::<f32>().map(<[f32]>::to_vec))
        .map_err(|e| ConvertError::tract("reading the output", e))
}
