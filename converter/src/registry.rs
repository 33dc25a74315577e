//! The converter registry: every tract op name the converter handles, the
//! ONNX ops that reach it, and what it becomes. One list, so `grep` finds
//! where an op is converted, and `docs/ops.md` is generated from it.

use tract_onnx::prelude::TypedNode;

use crate::lower::{self, Lowered, Lowering};

/// Converts one tract node into verdict nodes, returning the output tensor.
pub(crate) type Convert = fn(&mut Lowering<'_>, &TypedNode) -> Lowered;

/// One supported tract op.
#[derive(Clone, Copy)]
pub struct OpEntry {
    /// tract's op name in the decluttered graph (`Op::name`).
    pub tract: &'static str,
    /// ONNX ops that tract turns into it.
    pub onnx: &'static [&'static str],
    /// The verdict op(s) it becomes, and any condition.
    pub verdict: &'static str,
    pub(crate) convert: Convert,
}

impl std::fmt::Debug for OpEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpEntry")
            .field("tract", &self.tract)
            .field("onnx", &self.onnx)
            .field("verdict", &self.verdict)
            .finish()
    }
}

macro_rules! registry {
    ($( $tract:literal [$($onnx:literal),*] => $verdict:literal, $convert:path; )*) => {
        /// Every supported tract op, in documentation order.
        pub static REGISTRY: &[OpEntry] = &[
            $( OpEntry { tract: $tract, onnx: &[$($onnx),*], verdict: $verdict, convert: $convert }, )*
        ];
    };
}

registry! {
    "EinSum" ["MatMul", "Gemm", "Einsum"] => "Gemm (with Reshape/Transpose around it when the axes need it; batch axes folded into one batched Gemm); Conv 1x1 for a pointwise convolution on NCHW", lower::einsum_op;
    "Conv" ["Conv"] => "Conv (1-D and 2-D, NCHW, groups, strides, pads, dilations); a per-channel Mul and Add by constants after it (BatchNormalization) folded into its kernel and bias, and a Relu after those fused into it", lower::conv_op;
    "MaxPool" ["MaxPool", "GlobalMaxPool"] => "Pool Max (1-D and 2-D; 3-D as a pool over H, W, then one over D)", lower::max_pool_op;
    "SumPool" ["AveragePool", "GlobalAveragePool"] => "Pool Avg (normalized; divisor table when pads are not counted or ceil_mode windows pass them; 3-D as a pool over H, W, then one over D)", lower::sum_pool_op;
    "Add" ["Add", "Sum", "BatchNormalization"] => "Binary Add", lower::binary_op;
    "Sub" ["Sub"] => "Binary Sub", lower::binary_op;
    "SubF" ["Sub"] => "Binary Sub (operands swapped)", lower::binary_op;
    "Mul" ["Mul", "BatchNormalization"] => "Binary Mul", lower::binary_op;
    "Div" ["Div"] => "Binary Div (then Unary Cast(int) on integers)", lower::binary_op;
    "Max" ["Max", "Relu", "Clip"] => "Unary Relu when the other operand is constant +0, else Binary Max", lower::binary_op;
    "Min" ["Min", "Clip"] => "Binary Min", lower::binary_op;
    "Pow" ["Pow"] => "Binary Mul x·x·…·x for a constant exponent 2, 3 or 4, else Binary Pow", lower::binary_op;
    "Exp" ["Exp"] => "Unary Exp", lower::unary_op;
    "Ln" ["Log"] => "Unary Log", lower::unary_op;
    "Sqrt" ["Sqrt"] => "Unary Sqrt", lower::unary_op;
    "Rsqrt" [] => "Unary Sqrt, Unary Reciprocal", lower::unary_op;
    "Recip" ["Reciprocal"] => "Unary Reciprocal", lower::unary_op;
    "Square" [] => "Binary Mul (x * x)", lower::unary_op;
    "PowConst" ["Pow"] => "Binary Mul x·x·…·x for an exponent 2, 3 or 4, else Binary Pow with the constant exponent", lower::unary_op;
    "Neg" ["Neg"] => "Unary Neg", lower::unary_op;
    "Abs" ["Abs"] => "Unary Abs", lower::unary_op;
    "Sigmoid" ["Sigmoid"] => "Unary Sigmoid", lower::unary_op;
    "Tanh" ["Tanh"] => "Unary Tanh", lower::unary_op;
    "Erf" ["Erf"] => "Unary Erf", lower::unary_op;
    "LeakyRelu" ["LeakyRelu"] => "Unary LeakyRelu", lower::unary_op;
    "GeluExact" ["Gelu"] => "Unary Gelu", lower::unary_op;
    "GeluApproximate" ["Gelu"] => "Unary Gelu(tanh) (not tract's fast variant)", lower::unary_op;
    "Silu" [] => "Unary Sigmoid, Binary Mul", lower::unary_op;
    "Reduce<Sum>" ["ReduceSum", "ReduceMean", "ReduceL1", "ReduceSumSquare"] => "Reduce Sum", lower::reduce_op;
    "Reduce<Max>" ["ReduceMax"] => "Reduce Max", lower::reduce_op;
    "Reduce<Min>" ["ReduceMin"] => "Reduce Min", lower::reduce_op;
    "Reduce<MeanOfSquares>" ["ReduceMean"] => "Binary Mul (x * x), Reduce Mean", lower::reduce_op;
    "Reduce<ArgMax(false)>" ["ArgMax"] => "ArgMax (first index)", lower::reduce_op;
    "Reduce<ArgMax(true)>" ["ArgMax"] => "ArgMax (last index)", lower::reduce_op;
    "Reduce<ArgMin(false)>" ["ArgMin"] => "ArgMin (first index)", lower::reduce_op;
    "Reduce<ArgMin(true)>" ["ArgMin"] => "ArgMin (last index)", lower::reduce_op;
    "LayerNorm" ["LayerNormalization"] => "Norm Layer over the axes from `axis` (scale and bias broadcast to them)", lower::layer_norm_op;
    "RmsNorm" ["RMSNormalization"] => "Norm Rms over the axis (scale and bias: Binary Mul, Add)", lower::rms_norm_op;
    "Lrn" ["LRN"] => "LRN", lower::lrn_op;
    "Gather" ["Gather"] => "Gather (constant indices, or integer indices from the model input)", lower::gather_op;
    "GatherNd" ["GatherND"] => "Gather over the data reshaped to one axis of index tuples (constant indices)", lower::gather_nd_op;
    "Softmax" ["Softmax"] => "Softmax (contiguous axes folded into one)", lower::softmax_op;
    "LogSoftmax" ["LogSoftmax"] => "Softmax log (contiguous axes folded into one)", lower::softmax_op;
    "AddAxis" ["Unsqueeze", "Reshape"] => "Reshape", lower::axis_op;
    "RmAxis" ["Squeeze", "Reshape"] => "Reshape", lower::axis_op;
    "Reshape" ["Reshape", "Flatten"] => "Reshape", lower::axis_op;
    "MoveAxis" ["Transpose"] => "Transpose", lower::axis_op;
    "Slice" ["Slice", "Split"] => "Slice", lower::slice_op;
    "Downsample" ["Slice"] => "Slice with a step", lower::downsample_op;
    "Concat" ["Concat"] => "Concat", lower::concat_op;
    "Pad" ["Pad"] => "Pad (constant mode)", lower::pad_op;
    "MultiBroadcastTo" ["Expand"] => "Concat of copies along each broadcast axis", lower::broadcast_op;
    "IsNan" ["IsNaN"] => "Unary IsNaN", lower::unary_op;
    "IsInf" ["IsInf"] => "Unary IsInf (either, positive or negative infinity)", lower::unary_op;
    "Not" ["Not"] => "Unary Not", lower::unary_op;
    "Eq" ["Equal"] => "Binary Equal", lower::binary_op;
    "NE" [] => "Binary Equal, Unary Not", lower::binary_op;
    "LT" ["Less"] => "Binary Less", lower::binary_op;
    "LTE" ["LessOrEqual"] => "Binary LessOrEqual", lower::binary_op;
    "GT" ["Greater"] => "Binary Greater", lower::binary_op;
    "GTE" ["GreaterOrEqual"] => "Binary GreaterOrEqual", lower::binary_op;
    "And" ["And"] => "Binary And", lower::binary_op;
    "Or" ["Or"] => "Binary Or", lower::binary_op;
    "Xor" ["Xor"] => "Binary Xor", lower::binary_op;
    "Iff" ["Where"] => "Where", lower::where_op;
    "Cast" ["Cast"] => "nothing between f32, integers and booleans of equal value; Unary Cast(int) (toward zero) from f32 to an integer, Unary Cast(bool) to a boolean", lower::cast_op;
}

/// The entry for a tract op name.
pub fn lookup(tract_op: &str) -> Option<&'static OpEntry> {
    REGISTRY.iter().find(|e| e.tract == tract_op)
}

/// The op coverage table in Markdown, as committed in `docs/ops.md`.
pub fn markdown() -> String {
    let mut out = String::from(
        "# ONNX op coverage of `dnnc`\n\n\
         Generated from `converter/src/registry.rs` by `dnnc ops`; a test fails when\n\
         this file is stale. tract-onnx first rewrites the ONNX graph into its own\n\
         typed ops (`into_typed`, `declutter`); the converter maps those. Constant\n\
         sub-graphs (shape arithmetic, `ConstantOfShape`, `BatchNormalization`\n\
         statistics, `Dropout`, `Identity`) are folded by tract and become weights.\n\
         The ONNX backend node tests that pass are listed in\n\
         `converter/tests/node_tests.txt`.\n\n\
         | tract op | ONNX ops | verdict |\n| --- | --- | --- |\n",
    );
    for e in REGISTRY {
        let onnx = if e.onnx.is_empty() {
            "(tract rewrites)".to_string()
        } else {
            e.onnx.join(", ")
        };
        out.push_str(&format!("| `{}` | {} | {} |\n", e.tract, onnx, e.verdict));
    }
    out
}
