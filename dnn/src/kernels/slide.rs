//! One row of outputs of a sliding window: pooling, and convolutions whose
//! outputs each read one input channel (depthwise). AVX-512 where the CPU
//! has it, sixteen outputs a vector, each accumulator in a register over
//! all its taps; else the semantics' own scalar functions, which define the
//! results. The vector path gives the same bits: IEEE add, divide and fused
//! multiply-add with NaN made canonical at the end (a chain's NaN stays
//! NaN), and `maximum` built from compares.

use verdict_vm::semantics;

use crate::ops::pool::NEG_INF;

/// What a row folds over each output's taps.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Fold<'a> {
    /// `maximum` from `-inf`.
    Max,
    /// `+` from `+0`, then divided by `divisors[x]` (else `fixed`).
    Mean {
        divisors: Option<&'a [u32]>,
        fixed: u32,
    },
    /// `fma(tap value, weights[t], acc)` from `+0`, left for
    /// [`crate::kernels::finish`] to finish (its NaN need not be canonical).
    Dot { weights: &'a [u32] },
}

/// `out[x] = fold over src[x * stride + taps[t]]` for `t` in order.
pub(crate) fn row(out: &mut [u32], src: &[u32], taps: &[usize], stride: usize, fold: Fold<'_>) {
    let last = taps
        .iter()
        .max()
        .map_or(0, |&t| t + out.len().saturating_sub(1) * stride);
    assert!(out.is_empty() || taps.is_empty() || last < src.len());
    match fold {
        Fold::Mean {
            divisors: Some(d), ..
        } => assert_eq!(d.len(), out.len()),
        Fold::Dot { weights } => assert_eq!(weights.len(), taps.len()),
        _ => {}
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") && stride <= 1 << 20 {
        // SAFETY: the CPU has AVX-512F; every element read is inside `src`
        // and the tables (checked above), and the stride fits the gather's
        // indices.
        unsafe { x86::row(out, src, taps, stride, fold) };
        return;
    }
    row_scalar(out, src, taps, stride, fold);
}

/// [`row`] by the semantics' scalar functions: the definition the vector
/// path keeps to.
fn row_scalar(out: &mut [u32], src: &[u32], taps: &[usize], stride: usize, fold: Fold<'_>) {
    for (x, y) in out.iter_mut().enumerate() {
        let at = |t: usize| src[x * stride + t];
        *y = match fold {
            Fold::Max => taps
                .iter()
                .fold(NEG_INF, |acc, &t| semantics::f32_max(acc, at(t))),
            Fold::Mean { divisors, fixed } => {
                let sum = taps
                    .iter()
                    .fold(0, |acc, &t| semantics::f32_add(acc, at(t)));
                semantics::f32_div(sum, divisors.map_or(fixed, |d| d[x]))
            }
            Fold::Dot { weights } => taps
                .iter()
                .zip(weights)
                .fold(0, |acc, (&t, &w)| semantics::f32_fma(at(t), w, acc)),
        };
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use verdict_vm::semantics::CANONICAL_NAN;

    use super::{Fold, NEG_INF};
    use crate::kernels::finish::x86::{canonical, nan_lanes};

    /// IEEE 754-2019 `maximum` with canonical NaN: `b` where `b > a`,
    /// `a & b` where they are equal (`-0` and `+0` give `+0`), else `a`.
    #[target_feature(enable = "avx512f")]
    fn maximum(a: __m512, b: __m512) -> __m512 {
        let greater = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(b, a);
        let equal = _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(a, b);
        let (ai, bi) = (_mm512_castps_si512(a), _mm512_castps_si512(b));
        let nan = nan_lanes(ai) | nan_lanes(bi);
        let mut r = _mm512_mask_mov_epi32(ai, equal, _mm512_and_si512(ai, bi));
        r = _mm512_mask_mov_epi32(r, greater, bi);
        r = _mm512_mask_mov_epi32(r, nan, _mm512_set1_epi32(CANONICAL_NAN as i32));
        _mm512_castsi512_ps(r)
    }

    /// The lowest `min(16, len)` lanes.
    fn mask(len: usize) -> __mmask16 {
        if len >= 16 { 0xFFFF } else { (1 << len) - 1 }
    }

    /// [`super::row`], sixteen outputs a vector, the last one masked.
    ///
    /// # Safety
    ///
    /// As [`super::row`] checks: every `src[x * stride + tap]` and table
    /// entry exists, and `stride * 15` fits an `i32`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn row(
        out: &mut [u32],
        src: &[u32],
        taps: &[usize],
        stride: usize,
        fold: Fold<'_>,
    ) {
        let lanes = _mm512_mullo_epi32(
            _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
            _mm512_set1_epi32(stride as i32),
        );
        let evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        let zero = _mm512_setzero_ps();
        for x in (0..out.len()).step_by(16) {
            let count = (out.len() - x).min(16);
            let m = mask(count);
            let mut acc = match fold {
                Fold::Max => _mm512_set1_ps(f32::from_bits(NEG_INF)),
                Fold::Mean { .. } | Fold::Dot { .. } => zero,
            };
            for (i, &t) in taps.iter().enumerate() {
                // SAFETY: lanes under the masks read `src[(x + lane) *
                // stride + t]` for `lane < count`, inside `src` as the
                // caller promises; masked-off lanes read nothing.
                let v = unsafe {
                    let base = src.as_ptr().add(x * stride + t).cast::<f32>();
                    match stride {
                        1 => _mm512_maskz_loadu_ps(m, base),
                        2 => {
                            // The even elements of two vectors, up to the
                            // last one used.
                            let used = 2 * count - 1;
                            let lo = _mm512_maskz_loadu_ps(mask(used), base);
                            let hi = match used.checked_sub(16) {
                                Some(rest) if rest > 0 => {
                                    _mm512_maskz_loadu_ps(mask(rest), base.add(16))
                                }
                                _ => zero,
                            };
                            _mm512_permutex2var_ps(lo, evens, hi)
                        }
                        _ => _mm512_mask_i32gather_ps::<4>(zero, m, lanes, base),
                    }
                };
                acc = match fold {
                    Fold::Max => maximum(acc, v),
                    Fold::Mean { .. } => _mm512_add_ps(acc, v),
                    Fold::Dot { weights } => {
                        _mm512_fmadd_ps(v, _mm512_set1_ps(f32::from_bits(weights[i])), acc)
                    }
                };
            }
            if let Fold::Mean { divisors, fixed } = fold {
                let d = match divisors {
                    // SAFETY: `divisors[x..x + count]` exist (checked by
                    // the caller); the other lanes are not read.
                    Some(d) => unsafe { _mm512_maskz_loadu_ps(m, d[x..].as_ptr().cast()) },
                    None => _mm512_set1_ps(f32::from_bits(fixed)),
                };
                acc = _mm512_div_ps(acc, d);
            }
            let bits = canonical(acc);
            // SAFETY: lanes under `m` are `out[x..x + count]`.
            unsafe { _mm512_mask_storeu_epi32(out[x..].as_mut_ptr().cast(), m, bits) };
        }
    }
}

#[cfg(test)]
mod tests {
    use verdict_vm::semantics::canonicalize;

    use super::*;

    /// Values with ties, signed zeros, subnormals, infinities and NaNs.
    fn values(seed: usize, len: usize) -> Vec<u32> {
        const SPECIAL: [u32; 8] = [
            0,
            0x8000_0000,
            0x7F80_0000,
            0xFF80_0000,
            0x7FC0_0000,
            0xFFC0_1234,
            0x0000_0003,
            0x8000_0005,
        ];
        (0..len)
            .map(|i| {
                let h = (i + seed).wrapping_mul(2_654_435_761) >> 5;
                if h.is_multiple_of(7) {
                    SPECIAL[h / 7 % SPECIAL.len()]
                } else {
                    ((h % 41) as f32 / 8.0 - 2.5).to_bits()
                }
            })
            .collect()
    }

    /// Every fold, at strides 1, 2 and 3 (the vector path's three reads),
    /// over rows from 1 to 40 outputs (whole vectors and masked tails),
    /// against the scalar definition.
    #[test]
    fn vector_rows_match_the_scalar_definition() {
        let taps = [0, 1, 2, 9, 10, 11];
        let weights = values(99, taps.len());
        for width in 1..=40 {
            for stride in 1..=3 {
                let len = (width - 1) * stride + 12;
                let src = values(width * 3 + stride, len);
                // Windows whose maximum is a zero of either sign, or both.
                let zeros: Vec<u32> = (0..len)
                    .map(|i| [0, 0x8000_0000, 0xBF80_0000][(i * 7 + width) / 3 % 3])
                    .collect();
                let mut got = vec![1u32; width];
                row(&mut got, &zeros, &taps, stride, Fold::Max);
                let mut want = vec![2u32; width];
                row_scalar(&mut want, &zeros, &taps, stride, Fold::Max);
                assert_eq!(got, want, "zeros, width {width}, stride {stride}");
                let divisors: Vec<u32> =
                    (0..width).map(|x| ((x % 6 + 1) as f32).to_bits()).collect();
                let folds = [
                    Fold::Max,
                    Fold::Mean {
                        divisors: None,
                        fixed: 6.0f32.to_bits(),
                    },
                    Fold::Mean {
                        divisors: Some(&divisors),
                        fixed: 0,
                    },
                    Fold::Dot { weights: &weights },
                ];
                for fold in folds {
                    let (mut got, mut want) = (vec![1u32; width], vec![2u32; width]);
                    row(&mut got, &src, &taps, stride, fold);
                    row_scalar(&mut want, &src, &taps, stride, fold);
                    // A dot product's NaN is made canonical later.
                    let canonical = |v: &[u32]| -> Vec<u32> {
                        v.iter().map(|&b| canonicalize(f32::from_bits(b))).collect()
                    };
                    assert_eq!(
                        canonical(&got),
                        canonical(&want),
                        "{fold:?}, width {width}, stride {stride}"
                    );
                    if !matches!(fold, Fold::Dot { .. }) {
                        assert_eq!(got, want, "{fold:?}, width {width}, stride {stride}");
                    }
                }
            }
        }
    }
}
