//! The kernels' parameter blocks, each declared once: its slots in order,
//! then any variable-length arrays. An op fills a block by name (a struct
//! literal, so no slot is missing or out of place), and [`defines`] writes
//! each slot's index into the program source as `P_<KERNEL>_<SLOT>`
//! (`P_GEMM_M`), by which the kernels read it: `p[P_GEMM_M]`.

use super::launch::int;

/// An input as kernels read it (`OPERAND` in `kernels/common.cl`): which
/// buffer (0 the arena, 1 the weights), then the word offset in it.
pub(crate) type Operand = [i32; 2];

/// A value that takes a fixed number of words of a block.
pub(crate) trait Slot {
    /// How many words.
    const WORDS: usize;

    /// Appends them to `p`.
    fn put(self, p: &mut Vec<i32>);
}

/// A word offset, or a code.
impl Slot for i32 {
    const WORDS: usize = 1;

    fn put(self, p: &mut Vec<i32>) {
        p.push(self);
    }
}

/// A size.
impl Slot for usize {
    const WORDS: usize = 1;

    fn put(self, p: &mut Vec<i32>) {
        p.push(int(self));
    }
}

/// A bit pattern or a code.
impl Slot for u32 {
    const WORDS: usize = 1;

    fn put(self, p: &mut Vec<i32>) {
        p.push(self as i32);
    }
}

/// A binary32, as its bits.
impl Slot for f32 {
    const WORDS: usize = 1;

    fn put(self, p: &mut Vec<i32>) {
        p.push(self.to_bits() as i32);
    }
}

/// A flag, 0 or 1.
impl Slot for bool {
    const WORDS: usize = 1;

    fn put(self, p: &mut Vec<i32>) {
        p.push(i32::from(self));
    }
}

impl Slot for Operand {
    const WORDS: usize = 2;

    fn put(self, p: &mut Vec<i32>) {
        p.extend(self);
    }
}

/// A parameter block.
pub(crate) trait Block {
    /// The kernels that read it.
    const KERNELS: &'static [&'static str];

    /// Its words, as uploaded.
    fn words(self) -> Vec<i32>;
}

/// A block's layout, for the generated `#define`s.
struct Layout {
    /// The kernels that read it; the first names the slots.
    kernels: &'static [&'static str],
    /// Each fixed slot's name and width, in order.
    slots: &'static [(&'static str, usize)],
    /// The first variable-length array, which starts after the slots.
    tail: Option<&'static str>,
}

/// Declares the blocks: for each, a struct whose fields are the slots in
/// order, its [`Block`] impl, and its entry in `LAYOUTS`. After `..` come
/// the variable-length arrays, in order, whose lengths the fixed slots
/// give; only the first one's start is a constant.
macro_rules! blocks {
    (@first) => { None };
    (@first $first:ident $($rest:ident)*) => { Some(stringify!($first)) };
    ($(
        $(#[$doc:meta])*
        $block:ident for [$($kernel:literal),+] {
            $($(#[$slot_doc:meta])* $slot:ident: $ty:ty,)+
            $(.. $($(#[$tail_doc:meta])* $tail:ident: Vec<$elem:ty>,)+)?
        }
    )+) => {
        $(
            $(#[$doc])*
            pub(crate) struct $block {
                $($(#[$slot_doc])* pub(crate) $slot: $ty,)+
                $($($(#[$tail_doc])* pub(crate) $tail: Vec<$elem>,)+)?
            }

            impl Block for $block {
                const KERNELS: &'static [&'static str] = &[$($kernel),+];

                fn words(self) -> Vec<i32> {
                    let mut p = Vec::new();
                    $(self.$slot.put(&mut p);)+
                    $($(self.$tail.into_iter().for_each(|x| x.put(&mut p));)+)?
                    p
                }
            }
        )+

        /// Every block's layout.
        const LAYOUTS: &[Layout] = &[$(Layout {
            kernels: <$block as Block>::KERNELS,
            slots: &[$((stringify!($slot), <$ty as Slot>::WORDS)),+],
            tail: blocks!(@first $($($tail)+)?),
        }),+];
    };
}

blocks! {
    /// An elementwise unary op.
    UnaryParams for ["unary"] {
        x: Operand,
        /// The output's word offset in the arena.
        y: i32,
        count: usize,
        /// `recipes::unary_code`.
        op: u32,
        /// LeakyRelu's alpha, Clip's low bound (bits).
        a0: u32,
        /// Clip's high bound (bits).
        a1: u32,
    }

    /// An elementwise binary op with broadcasting.
    BinaryParams for ["binary"] {
        a: Operand,
        b: Operand,
        y: i32,
        count: usize,
        /// `recipes::binary_code`.
        op: u32,
        rank: usize,
        ..
        /// The output's dims.
        dims: Vec<usize>,
        /// The inputs' broadcast strides.
        a_strides: Vec<usize>,
        b_strides: Vec<usize>,
    }

    /// `Where` with broadcasting.
    WhereParams for ["choose"] {
        c: Operand,
        x: Operand,
        y: Operand,
        /// The output's word offset in the arena.
        out: i32,
        count: usize,
        rank: usize,
        ..
        /// The output's dims.
        dims: Vec<usize>,
        /// The inputs' broadcast strides.
        c_strides: Vec<usize>,
        x_strides: Vec<usize>,
        y_strides: Vec<usize>,
    }

    /// A strided copy of `count` words from an operand into the arena.
    CopyParams for ["copy_strided"] {
        src: Operand,
        dst: i32,
        count: usize,
        rank: usize,
        ..
        dims: Vec<usize>,
        src_strides: Vec<i32>,
        dst_strides: Vec<i32>,
    }

    /// `count` words of the arena set to `value`.
    FillParams for ["fill"] {
        dst: i32,
        count: usize,
        value: u32,
    }

    /// `A B` (row-major `[M, K]` by `[K, N]` in element strides), then
    /// alpha and `C`.
    GemmParams for ["gemm", "gemm_thin"] {
        a: Operand,
        b: Operand,
        c: Operand,
        y: i32,
        m: usize,
        n: usize,
        k: usize,
        a_stride_i: usize,
        a_stride_k: usize,
        b_stride_k: usize,
        b_stride_j: usize,
        c_stride_i: usize,
        c_stride_j: usize,
        has_c: bool,
        /// Whether alpha is not 1 (the product is scaled).
        has_alpha: bool,
        alpha: f32,
        /// Whether beta is 1 (`C` is added, not fused).
        unit_beta: bool,
        beta: f32,
    }

    /// Conv over the (padded) input.
    ConvParams for ["conv"] {
        /// The padded input.
        x: Operand,
        w: Operand,
        b: Operand,
        has_b: bool,
        y: i32,
        count: usize,
        c: usize,
        hp: usize,
        wp: usize,
        oc: usize,
        /// Groups.
        g: usize,
        kh: usize,
        kw: usize,
        oh: usize,
        ow: usize,
        sh: usize,
        sw: usize,
        dh: usize,
        dw: usize,
        relu: bool,
    }

    /// Max or average pooling over the (padded) input.
    PoolParams for ["pool"] {
        /// The padded input.
        x: Operand,
        /// The average's divisor table `[OH, OW]`.
        divisors: Operand,
        has_divisors: bool,
        y: i32,
        count: usize,
        hp: usize,
        wp: usize,
        oh: usize,
        ow: usize,
        kh: usize,
        kw: usize,
        sh: usize,
        sw: usize,
        dh: usize,
        dw: usize,
        is_max: bool,
        /// The average's divisor without a table.
        divisor: f32,
    }

    /// A reduction over some axes.
    ReduceParams for ["reduce"] {
        x: Operand,
        y: i32,
        count: usize,
        /// `launch::reduce_code`.
        kind: i32,
        /// The mean's divisor: `reduced` as binary32.
        divisor: f32,
        /// Elements reduced into each output.
        reduced: usize,
        kept_rank: usize,
        reduced_rank: usize,
        ..
        kept_dims: Vec<usize>,
        kept_strides: Vec<i32>,
        reduced_dims: Vec<usize>,
        reduced_strides: Vec<i32>,
    }

    /// ArgMax or ArgMin along one axis, one output per work item.
    ArgMaxParams for ["argmax"] {
        x: Operand,
        y: i32,
        count: usize,
        /// Values along the axis.
        n: usize,
        /// Elements between two values along the axis.
        inner: usize,
        /// `recipes::arg_code`.
        take: u32,
    }

    /// Sample: one work item, every row in order.
    SampleParams for ["sample"] {
        x: Operand,
        params: Operand,
        y: i32,
        /// The weights' scratch buffer.
        w: i32,
        rows: usize,
        /// Logits a row.
        v: usize,
        /// `Sample::step`.
        step: u32,
    }

    /// Softmax or LogSoftmax, one row per work item.
    SoftmaxParams for ["softmax"] {
        x: Operand,
        y: i32,
        rows: usize,
        /// The axis length.
        len: usize,
        /// The stride of the axis.
        inner: usize,
        log: bool,
    }

    /// LayerNormalization or RmsNorm, one row per work item.
    NormParams for ["norm"] {
        x: Operand,
        scale: Operand,
        bias: Operand,
        y: i32,
        rows: usize,
        /// The normalised block's length.
        len: usize,
        /// The stride of the block.
        inner: usize,
        /// LayerNorm, else RmsNorm.
        layer: bool,
        has_scale: bool,
        has_bias: bool,
        /// `len` as binary32.
        n: f32,
        eps: f32,
    }

    /// Decode: the input's packed integers widened.
    DecodeParams for ["decode"] {
        x: Operand,
        y: i32,
        count: usize,
        /// Bytes a value (1 or 2).
        width: usize,
    }

    /// Gather along one axis.
    GatherParams for ["gather"] {
        data: Operand,
        indices: Operand,
        y: i32,
        count: usize,
        index_count: usize,
        /// The axis length.
        n: usize,
        /// The stride of the axis.
        inner: usize,
    }

    /// LRN across channels.
    LrnParams for ["lrn"] {
        x: Operand,
        y: i32,
        count: usize,
        channels: usize,
        /// The stride of the channel axis.
        inner: usize,
        size: usize,
        /// alpha / size.
        k: f32,
        bias: f32,
        beta: f32,
    }
}

/// Every kernel the program defines.
pub(super) fn kernel_names() -> impl Iterator<Item = &'static str> {
    LAYOUTS.iter().flat_map(|l| l.kernels.iter().copied())
}

/// Each slot's index as `#define P_<KERNEL>_<SLOT> index`, after the
/// block's first kernel.
pub(super) fn defines() -> String {
    let mut out = String::from("// Generated from dnn/src/gpu/params.rs.\n");
    for layout in LAYOUTS {
        let prefix = format!("P_{}", layout.kernels[0].to_uppercase());
        let mut at = 0;
        for &(slot, words) in layout.slots {
            out.push_str(&format!("#define {prefix}_{} {at}\n", slot.to_uppercase()));
            at += words;
        }
        if let Some(tail) = layout.tail {
            out.push_str(&format!("#define {prefix}_{} {at}\n", tail.to_uppercase()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::program;
    use super::*;

    /// Lines of `src` that index the parameter block `p` with a number
    /// (`p[7]`, `p + 5`, `OPERAND(2)`) rather than a slot's name.
    fn numeric_indices(src: &str) -> Vec<&str> {
        let ident = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        let numeric = |index: &str| index.trim_start().starts_with(|c: char| c.is_ascii_digit());
        src.lines()
            .filter(|line| {
                line.char_indices().any(|(i, _)| {
                    let (before, here) = line.split_at(i);
                    if ident(before.chars().next_back()) {
                        return false;
                    }
                    if let Some(index) = here.strip_prefix("OPERAND(") {
                        return numeric(index);
                    }
                    let Some(after) = here.strip_prefix('p') else {
                        return false;
                    };
                    let after = after.trim_start();
                    !ident(after.chars().next())
                        && after.strip_prefix(['[', '+']).is_some_and(numeric)
                })
            })
            .collect()
    }

    #[test]
    fn the_check_finds_numeric_indices() {
        let src = "a = p[7];\nb = p + 5;\nc = OPERAND(2);\nd = dims + 2 * rank;\n\
                   e = p[P_GEMM_M];\nf = OPERAND(P_GEMM_A);\ng(act, wts, p, 1);\nup[3];";
        assert_eq!(
            numeric_indices(src),
            ["a = p[7];", "b = p + 5;", "c = OPERAND(2);"]
        );
    }

    #[test]
    fn kernels_read_slots_by_name() {
        let src = program::source();
        assert_eq!(numeric_indices(&src), Vec::<&str>::new());
    }

    #[test]
    fn every_slot_a_kernel_reads_is_defined() {
        let (src, defines) = (program::source(), defines());
        let code = src
            .lines()
            .map(|line| line.split("//").next().unwrap_or(""));
        let words =
            code.flat_map(|line| line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')));
        for name in words.filter(|w| w.starts_with("P_")) {
            assert!(
                defines.contains(&format!("#define {name} ")),
                "{name} is not a slot"
            );
        }
    }

    #[test]
    fn each_kernel_reads_one_block() {
        let mut names: Vec<_> = kernel_names().collect();
        let all = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all);
    }

    #[test]
    fn slots_are_as_wide_as_they_say() {
        fn width<T: Slot>(v: T) -> (usize, usize) {
            let mut p = Vec::new();
            v.put(&mut p);
            (p.len(), T::WORDS)
        }
        for (put, words) in [
            width(1i32),
            width(1usize),
            width(1u32),
            width(1.0f32),
            width(true),
            width([0, 1]),
        ] {
            assert_eq!(put, words);
        }
    }

    #[test]
    fn defines_follow_the_declaration() {
        let defines = defines();
        for line in [
            "#define P_GEMM_A 0\n",
            "#define P_GEMM_Y 6\n",
            "#define P_GEMM_M 7\n",
            "#define P_GEMM_BETA 20\n",
            "#define P_COPY_STRIDED_DIMS 5\n",
            "#define P_REDUCE_KEPT_DIMS 9\n",
        ] {
            assert!(defines.contains(line), "{line}");
        }
    }
}
