//! Kernels the ops share, private to the native engine (and the VM code
//! generators, for the strided copy): no op of their own, no attributes.
//! The ops in [`crate::ops`] hold what an op is (attributes, shape rule,
//! VM code, native kernel) and call these for the loops they have in
//! common. `matmul` is public for the benchmarks.

pub(crate) mod copy;
pub(crate) mod finish;
pub(crate) mod lanes;
pub mod matmul;
pub(crate) mod slide;

/// The instruction set a kernel runs on, chosen at run time: each kernel
/// is compiled for all three and computes the same bits on each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Isa {
    /// AVX-512F, with AVX2 and FMA.
    Avx512,
    /// AVX2 with FMA.
    Avx2,
    /// Whatever the target has; `fmadd` is the VM's own where there is no
    /// hardware fused multiply-add.
    Baseline,
}

impl Isa {
    /// The best this CPU has.
    pub(crate) fn detect() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            if has!("avx2") && has!("fma") {
                return if has!("avx512f") {
                    Isa::Avx512
                } else {
                    Isa::Avx2
                };
            }
        }
        Isa::Baseline
    }

    /// This one and every one below it: what a test can run on this CPU.
    #[cfg(test)]
    pub(crate) fn and_below(self) -> &'static [Isa] {
        match self {
            Isa::Avx512 => &[Isa::Avx512, Isa::Avx2, Isa::Baseline],
            Isa::Avx2 => &[Isa::Avx2, Isa::Baseline],
            Isa::Baseline => &[Isa::Baseline],
        }
    }
}

/// One value of every class a kernel must keep bit-exact: zeros, infinities,
/// quiet and signalling NaNs of both signs, subnormals, ones, the largest
/// finite values.
#[cfg(test)]
pub(crate) const SPECIAL_BITS: [u32; 13] = [
    0,
    0x8000_0000,
    0x7F80_0000,
    0xFF80_0000,
    0x7FC0_0000,
    0xFFC0_0001,
    0x7F80_0001,
    0x0000_0001,
    0x8000_0001,
    0x3F80_0000,
    0xBF80_0000,
    0x7F7F_FFFF,
    0xFF7F_FFFF,
];
