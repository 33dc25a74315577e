//! OpenCL C generated from the recipes themselves: a [`Scalar`] that writes
//! each VM operation as one call of the matching `common.cl` helper, so the
//! GPU evaluates exactly the sequence the VM code generator emits and the
//! native path evaluates (one definition of every recipe, in `crate::math`
//! and the ops' `apply`).

use std::fmt::Write as _;

use verdict_vm::Op;

use crate::math;
use crate::ops::argmax::ArgMax;
use crate::ops::binary::BinaryOp;
use crate::ops::select::Where;
use crate::ops::unary::UnaryOp;
use crate::scalar::Scalar;

/// Unary ops without attributes, generated from [`UnaryOp::apply`]; an op's
/// code in kernels is its index here.
const GENERATED_UNARY: [UnaryOp; 19] = UnaryOp::WITHOUT_ATTRIBUTES;

/// Kernel code of `LeakyRelu` (written by hand in `elementwise.cl`: its
/// slope is a run-time parameter).
const UNARY_LEAKY_RELU: u32 = GENERATED_UNARY.len() as u32;
/// Kernel code of `Clip` (likewise, bounds as parameters).
const UNARY_CLIP: u32 = UNARY_LEAKY_RELU + 1;

/// Binary ops, generated from [`BinaryOp::apply`]; the code is the index.
const BINARY: [BinaryOp; 15] = [
    BinaryOp::Add,
    BinaryOp::Sub,
    BinaryOp::Mul,
    BinaryOp::Div,
    BinaryOp::Max,
    BinaryOp::Min,
    BinaryOp::Pow,
    BinaryOp::Equal,
    BinaryOp::Less,
    BinaryOp::LessOrEqual,
    BinaryOp::Greater,
    BinaryOp::GreaterOrEqual,
    BinaryOp::And,
    BinaryOp::Or,
    BinaryOp::Xor,
];

/// The kernel code of a unary op and its two parameters (bit patterns).
pub(crate) fn unary_code(op: UnaryOp) -> (u32, u32, u32) {
    match op {
        UnaryOp::LeakyRelu { alpha } => (UNARY_LEAKY_RELU, alpha.to_bits(), 0),
        UnaryOp::Clip { lo, hi } => (UNARY_CLIP, lo.to_bits(), hi.to_bits()),
        UnaryOp::Relu
        | UnaryOp::Neg
        | UnaryOp::Abs
        | UnaryOp::Sqrt
        | UnaryOp::Reciprocal
        | UnaryOp::Exp
        | UnaryOp::Log
        | UnaryOp::Sigmoid
        | UnaryOp::Tanh
        | UnaryOp::Erf
        | UnaryOp::GeluExact
        | UnaryOp::GeluTanh
        | UnaryOp::IsNaN
        | UnaryOp::IsInf
        | UnaryOp::IsPosInf
        | UnaryOp::IsNegInf
        | UnaryOp::Not
        | UnaryOp::Bool
        | UnaryOp::Trunc => {
            let code = GENERATED_UNARY
                .iter()
                .position(|&g| g == op)
                .expect("every attribute-free unary op is generated");
            (code as u32, 0, 0)
        }
    }
}

/// ArgMax's four `take` rules, generated from [`ArgMax::take`]; the code
/// is the index.
const ARG: [ArgMax; 4] = [
    arg(false, false),
    arg(false, true),
    arg(true, false),
    arg(true, true),
];

const fn arg(min: bool, last: bool) -> ArgMax {
    ArgMax {
        axis: 0,
        keepdims: false,
        min,
        last,
    }
}

/// The kernel code of an ArgMax's `take` rule.
pub(crate) fn arg_code(op: &ArgMax) -> u32 {
    ARG.iter()
        .position(|a| (a.min, a.last) == (op.min, op.last))
        .expect("every take rule is generated") as u32
}

/// The kernel code of a binary op.
pub(crate) fn binary_code(op: BinaryOp) -> u32 {
    BINARY
        .iter()
        .position(|&b| b == op)
        .expect("every binary op is generated") as u32
}

/// Writes one straight-line OpenCL C function, one statement per operation.
#[derive(Default)]
struct ClWriter {
    /// The C expression of each value: a literal, an argument or a temporary.
    exprs: Vec<String>,
    /// Statements so far.
    body: String,
}

impl ClWriter {
    fn value(&mut self, expr: String) -> usize {
        self.exprs.push(expr);
        self.exprs.len() - 1
    }

    fn call(&mut self, f: &str, args: &[usize]) -> usize {
        let name = format!("t{}", self.exprs.len());
        let list: Vec<&str> = args.iter().map(|&a| self.exprs[a].as_str()).collect();
        writeln!(self.body, "    uint {name} = {f}({});", list.join(", "))
            .expect("writing to a String");
        self.value(name)
    }
}

impl Scalar for ClWriter {
    type V = usize;

    fn constant(&mut self, bits: u32) -> usize {
        self.value(format!("0x{bits:08X}u"))
    }

    fn float(&mut self, op: Op, a: usize, b: usize) -> usize {
        let (f, two) = match op {
            Op::Fadd => ("f_add", true),
            Op::Fsub => ("f_sub", true),
            Op::Fmul => ("f_mul", true),
            Op::Fdiv => ("f_div", true),
            Op::Fmin => ("f_min", true),
            Op::Fmax => ("f_max", true),
            Op::Feq => ("f_eq", true),
            Op::Flt => ("f_lt", true),
            Op::Fle => ("f_le", true),
            Op::Fsqrt => ("f_sqrt", false),
            Op::Ftoi => ("f_ftoi", false),
            Op::Itof => ("f_itof", false),
            other => panic!("{other:?} is not a float instruction"),
        };
        if two {
            self.call(f, &[a, b])
        } else {
            self.call(f, &[a])
        }
    }

    fn fma(&mut self, a: usize, b: usize, c: usize) -> usize {
        self.call("f_fma", &[a, b, c])
    }

    fn int(&mut self, op: Op, a: usize, b: usize) -> usize {
        let infix = match op {
            Op::Add => "+",
            Op::Sub => "-",
            Op::Mul => "*",
            Op::And => "&",
            Op::Or => "|",
            Op::Xor => "^",
            _ => "",
        };
        if !infix.is_empty() {
            let name = format!("t{}", self.exprs.len());
            let (x, y) = (&self.exprs[a], &self.exprs[b]);
            writeln!(self.body, "    uint {name} = {x} {infix} {y};").expect("writing to a String");
            return self.value(name);
        }
        let f = match op {
            Op::Div => "i_div",
            Op::Divu => "i_divu",
            Op::Rem => "i_rem",
            Op::Remu => "i_remu",
            Op::Sll => "i_sll",
            Op::Srl => "i_srl",
            Op::Sra => "i_sra",
            Op::Slt => "i_slt",
            Op::Sltu => "i_sltu",
            other => panic!("{other:?} is not an integer ALU instruction"),
        };
        self.call(f, &[a, b])
    }
}

/// `uint name(uint a0, ...)` computing `recipe` over its arguments.
fn function(
    out: &mut String,
    name: &str,
    doc: &str,
    arity: usize,
    recipe: impl FnOnce(&mut ClWriter, &[usize]) -> usize,
) {
    let mut w = ClWriter::default();
    let args: Vec<usize> = (0..arity).map(|i| w.value(format!("a{i}"))).collect();
    let result = recipe(&mut w, &args);
    let params: Vec<String> = (0..arity).map(|i| format!("uint a{i}")).collect();
    writeln!(out, "// {doc}").expect("writing to a String");
    writeln!(out, "uint {name}({}) {{", params.join(", ")).expect("writing to a String");
    out.push_str(&w.body);
    writeln!(out, "    return {};\n}}\n", w.exprs[result]).expect("writing to a String");
}

/// The generated part of the program: `recipe_exp`, `recipe_log`,
/// `unary_generated(op, x)`, `binary_apply(op, a, b)`, `where_apply(c, x, y)`,
/// `arg_take(op, best, v)` and the unary codes
/// that `elementwise.cl` handles itself.
pub(super) fn source() -> String {
    let mut out = String::from(
        "// Generated from crate::math and the ops' apply (dnn/src/gpu/recipes.rs).\n\n",
    );
    writeln!(out, "#define UNARY_LEAKY_RELU {UNARY_LEAKY_RELU}u").expect("writing to a String");
    writeln!(out, "#define UNARY_CLIP {UNARY_CLIP}u").expect("writing to a String");
    let pow = binary_code(BinaryOp::Pow);
    writeln!(out, "#define BINARY_POW {pow}u\n").expect("writing to a String");
    function(&mut out, "recipe_exp", "exp", 1, |w, a| math::exp(w, a[0]));
    function(&mut out, "recipe_log", "log", 1, |w, a| math::log(w, a[0]));
    for (code, op) in GENERATED_UNARY.iter().enumerate() {
        function(&mut out, &format!("unary_{code}"), op.name(), 1, |w, a| {
            op.apply(w, a[0])
        });
    }
    for (code, op) in BINARY.iter().enumerate() {
        function(&mut out, &format!("binary_{code}"), op.name(), 2, |w, a| {
            op.apply(w, a[0], a[1])
        });
    }
    function(&mut out, "where_apply", "Where", 3, |w, a| {
        Where::apply(w, a[0], a[1], a[2])
    });
    for (code, op) in ARG.iter().enumerate() {
        function(
            &mut out,
            &format!("arg_take_{code}"),
            op.name(),
            2,
            |w, a| op.take(w, a[0], a[1]),
        );
    }
    out.push_str("uint arg_take(uint op, uint best, uint v) {\n    switch (op) {\n");
    for code in 0..ARG.len() {
        writeln!(out, "    case {code}u: return arg_take_{code}(best, v);")
            .expect("writing to a String");
    }
    out.push_str("    default: return 0u;\n    }\n}\n\n");
    out.push_str("uint unary_generated(uint op, uint x) {\n    switch (op) {\n");
    for code in 0..GENERATED_UNARY.len() {
        writeln!(out, "    case {code}u: return unary_{code}(x);").expect("writing to a String");
    }
    out.push_str("    default: return CANONICAL_NAN;\n    }\n}\n\n");
    out.push_str("uint binary_apply(uint op, uint a, uint b) {\n    switch (op) {\n");
    for code in 0..BINARY.len() {
        writeln!(out, "    case {code}u: return binary_{code}(a, b);")
            .expect("writing to a String");
    }
    out.push_str("    default: return CANONICAL_NAN;\n    }\n}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unary_op_has_a_code() {
        let ops = [
            UnaryOp::LeakyRelu { alpha: 0.5 },
            UnaryOp::Clip { lo: -1.0, hi: 1.0 },
        ];
        for op in GENERATED_UNARY.iter().chain(&ops) {
            let (code, ..) = unary_code(*op);
            assert!(code <= UNARY_CLIP, "{}", op.name());
        }
        assert_eq!(binary_code(BinaryOp::Pow), 6);
    }

    #[test]
    fn exp_is_written_one_statement_per_instruction() {
        let src = source();
        let start = src.find("uint recipe_exp").unwrap();
        let body = &src[start..start + src[start..].find("\n}\n").unwrap()];
        // 20 instructions (docs/spec/kernels-math.md), one statement each.
        assert_eq!(body.matches("    uint t").count(), 20);
        assert!(body.contains("f_fma(t"));
    }
}
