//! The last steps of a convolution or GEMM output row, and the whole of
//! Relu: an optional bias add, an optional Relu, canonical NaN.
//!
//! The rules are `verdict_vm::semantics`' `f32_add` and `f32_max(y, +0)`:
//! the scalar path calls them, and the AVX-512 path computes the same bits
//! (an IEEE add; `y` where `y > 0` or `y` is a NaN, else `+0`, which is
//! `maximum(y, +0)`, `-0` included; every NaN leaves as the canonical one,
//! decided on its bits).

use verdict_vm::semantics::{self, CANONICAL_NAN, canonicalize};

/// `ys[i] = canonical(relu?(ys[i] + bias?))`, in place.
pub(crate) fn finish(ys: &mut [u32], bias: Option<u32>, relu: bool) {
    let p = ys.as_mut_ptr();
    let bias = bias.as_ref().map(std::slice::from_ref);
    // SAFETY: one row of `ys.len()` words, read and written in place.
    unsafe { finish_rows(p, 0, p, 0, (1, ys.len()), bias, relu) };
}

/// `ys[i] = canonical(relu?(xs[i] + bias?))`.
pub(crate) fn finish_into(ys: &mut [u32], xs: &[u32], bias: Option<u32>, relu: bool) {
    assert_eq!(ys.len(), xs.len());
    let bias = bias.as_ref().map(std::slice::from_ref);
    // SAFETY: one row of `ys.len()` words in each, distinct slices.
    unsafe {
        finish_rows(
            xs.as_ptr(),
            0,
            ys.as_mut_ptr(),
            0,
            (1, ys.len()),
            bias,
            relu,
        )
    };
}

/// `dst[r * dst_ld + l] = canonical(relu?(src[r * src_ld + l] + bias[r]?))`
/// for `r < rows`, `l < cols`: a GEMM tile into the output, in one pass.
///
/// # Safety
///
/// Every element named is inside its allocation, `bias` (if any) holds
/// `rows` values, and no other thread touches the `dst` elements meanwhile.
/// `src` and `dst` may be the same elements, not otherwise overlapping.
pub(crate) unsafe fn finish_rows(
    src: *const u32,
    src_ld: usize,
    dst: *mut u32,
    dst_ld: usize,
    (rows, cols): (usize, usize),
    bias: Option<&[u32]>,
    relu: bool,
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F, checked just above; the rest is the
        // caller's promise.
        unsafe { x86::finish_avx512(src, src_ld, dst, dst_ld, (rows, cols), bias, relu) };
        return;
    }
    for r in 0..rows {
        let b = bias.map(|b| b[r]);
        for l in 0..cols {
            // SAFETY: as the caller promises.
            unsafe { *dst.add(r * dst_ld + l) = scalar(*src.add(r * src_ld + l), b, relu) };
        }
    }
}

/// One element, by the semantics' own functions.
#[inline(always)]
fn scalar(y: u32, bias: Option<u32>, relu: bool) -> u32 {
    let mut v = y;
    if let Some(b) = bias {
        v = semantics::f32_add(v, b);
    }
    if relu {
        v = semantics::f32_max(v, 0);
    }
    canonicalize(f32::from_bits(v))
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod x86 {
    use std::arch::x86_64::*;

    use super::CANONICAL_NAN;

    /// The lanes of `bits` that hold a NaN, decided on the bits (the rule of
    /// `verdict_vm::semantics::is_nan`), not by a float compare.
    #[target_feature(enable = "avx512f")]
    pub(crate) fn nan_lanes(bits: __m512i) -> __mmask16 {
        let magnitude = _mm512_and_si512(bits, _mm512_set1_epi32(0x7FFF_FFFF));
        _mm512_cmpgt_epi32_mask(magnitude, _mm512_set1_epi32(0x7F80_0000))
    }

    /// Sixteen float results as the VM writes them: each NaN the canonical
    /// one. As in `verdict_vm::semantics::canonicalize`, the bits pass
    /// through an empty `asm` block first, so that no optimizer can treat
    /// the select as a choice between two NaNs and drop it.
    #[target_feature(enable = "avx512f")]
    pub(crate) fn canonical(v: __m512) -> __m512i {
        let mut bits = _mm512_castps_si512(v);
        // SAFETY: the template is empty (a comment naming the operand); it
        // touches one register, no memory, no stack and no flags.
        unsafe {
            std::arch::asm!(
                "/* {0} */",
                inout(zmm_reg) bits,
                options(pure, nomem, nostack, preserves_flags)
            );
        }
        _mm512_mask_mov_epi32(
            bits,
            nan_lanes(bits),
            _mm512_set1_epi32(CANONICAL_NAN as i32),
        )
    }

    /// [`super::finish_rows`], sixteen lanes at a time, the last vector of
    /// a row masked.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn finish_avx512(
        src: *const u32,
        src_ld: usize,
        dst: *mut u32,
        dst_ld: usize,
        (rows, cols): (usize, usize),
        bias: Option<&[u32]>,
        relu: bool,
    ) {
        let zero = _mm512_setzero_ps();
        for r in 0..rows {
            let b = _mm512_set1_ps(f32::from_bits(bias.map_or(0, |b| b[r])));
            let mut l = 0;
            while l < cols {
                let mask: __mmask16 = if cols - l >= 16 {
                    0xFFFF
                } else {
                    (1 << (cols - l)) - 1
                };
                // SAFETY: lanes `l..l + 16` under the mask are inside the
                // row, as the caller promises; masked-off lanes are not read.
                let mut v = unsafe { _mm512_maskz_loadu_ps(mask, src.add(r * src_ld + l).cast()) };
                if bias.is_some() {
                    v = _mm512_add_ps(v, b);
                }
                if relu {
                    // `maximum(v, +0)`: `v` where it is greater or a NaN
                    // (unordered), else `+0`.
                    let kept = _mm512_cmp_ps_mask::<_CMP_NLE_UQ>(v, zero);
                    v = _mm512_maskz_mov_ps(kept, v);
                }
                let bits = canonical(v);
                // SAFETY: as the load; masked-off lanes are not written.
                unsafe { _mm512_mask_storeu_epi32(dst.add(r * dst_ld + l).cast(), mask, bits) };
                l += 16;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every class of value, through every combination and a masked tail,
    /// against the scalar rules (the vector path runs on CPUs with
    /// AVX-512).
    #[test]
    fn vector_path_matches_the_semantics() {
        let special = crate::kernels::SPECIAL_BITS;
        let ys: Vec<u32> = (0..37u32)
            .map(|i| special[i as usize % special.len()] ^ (i / 13))
            .collect();
        for bias in [None, Some(0x8000_0000), Some(0xBF80_0000)]
            .into_iter()
            .chain(special.iter().map(|&b| Some(b)))
        {
            for relu in [false, true] {
                let mut got = ys.clone();
                finish(&mut got, bias, relu);
                let want: Vec<u32> = ys.iter().map(|&y| scalar(y, bias, relu)).collect();
                assert_eq!(got, want, "bias {bias:?}, relu {relu}");
            }
        }
    }

    /// A tile of rows with their own biases into a wider output, leaving
    /// the elements around it alone.
    #[test]
    fn rows_land_in_place() {
        let src: Vec<u32> = (0..4 * 8).map(|i| (i as f32 - 9.5).to_bits()).collect();
        let mut dst = [7u32; 3 * 10];
        let bias = [1.0f32.to_bits(), (-2.0f32).to_bits(), 0x7FC0_0001];
        // SAFETY: 3 rows of 5 inside `src` (ld 8) and `dst` (ld 10, from 2).
        unsafe {
            finish_rows(
                src.as_ptr(),
                8,
                dst[2..].as_mut_ptr(),
                10,
                (3, 5),
                Some(&bias),
                true,
            )
        };
        for r in 0..3 {
            for l in 0..10 {
                let want = if (2..7).contains(&l) {
                    scalar(src[r * 8 + l - 2], Some(bias[r]), true)
                } else {
                    7
                };
                assert_eq!(dst[r * 10 + l], want, "row {r}, column {l}");
            }
        }
    }
}
