//! Many keccak256 hashes at once: of 64-byte messages, for the Merkle tree's
//! parents (docs/spec/vm.md §6: `keccak256(left ‖ right)`), and of the
//! equal chunks of a long byte string, for a package's body digest.
//!
//! A full root hashes about one parent per 32 bytes of memory, so hashing is
//! what bounds it. A 64-byte message fits Keccak's 136-byte rate, so each
//! hash is one Keccak-f[1600] permutation; the SIMD backends run one
//! permutation per vector lane (8 with AVX-512F, 4 with AVX2) and the CPU's
//! best one is chosen at run time. Chunks are absorbed the same way, one
//! chunk per lane, a 136-byte block of each per permutation. A lone message
//! and CPUs without either extension use alloy's `keccak256`.

use std::sync::OnceLock;

use alloy_primitives::{B256, keccak256};

/// The ways to hash a batch; every one gives the same bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// alloy's `keccak256`, one message at a time.
    Scalar,
    /// Four messages per permutation in 256-bit AVX2 registers.
    Avx2,
    /// Eight messages per permutation in 512-bit AVX-512F registers.
    Avx512,
}

impl Backend {
    /// Every backend, slowest first.
    pub const ALL: [Backend; 3] = [Backend::Scalar, Backend::Avx2, Backend::Avx512];

    /// The fastest backend this CPU runs, detected once.
    pub fn best() -> Backend {
        static BEST: OnceLock<Backend> = OnceLock::new();
        *BEST.get_or_init(|| {
            Backend::ALL
                .into_iter()
                .rev()
                .find(|b| b.is_available())
                .unwrap_or(Backend::Scalar)
        })
    }

    /// Whether this CPU has the instructions the backend needs.
    pub fn is_available(self) -> bool {
        match self {
            Backend::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Backend::Avx2 => is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            Backend::Avx512 => is_x86_feature_detected!("avx512f"),
            #[cfg(not(target_arch = "x86_64"))]
            Backend::Avx2 | Backend::Avx512 => false,
        }
    }

    /// The backend's name, as the benchmarks print it.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Scalar => "scalar",
            Backend::Avx2 => "avx2",
            Backend::Avx512 => "avx512",
        }
    }
}

/// `out[i] = keccak256(children[2i] ‖ children[2i + 1])`: the parents of one
/// tree level.
///
/// # Panics
/// If `children` does not hold exactly two nodes per parent.
pub fn hash_pairs(children: &[B256], out: &mut [B256]) {
    hash_pairs_with(Backend::best(), children, out);
}

/// [`hash_pairs`] on a chosen backend, for tests and benchmarks.
///
/// # Panics
/// As [`hash_pairs`], and if this CPU lacks the backend.
pub fn hash_pairs_with(backend: Backend, children: &[B256], out: &mut [B256]) {
    assert_eq!(children.len(), 2 * out.len(), "two children per parent");
    hash_messages(backend, out, |i, msg| {
        msg[..32].copy_from_slice(children[2 * i].as_slice());
        msg[32..].copy_from_slice(children[2 * i + 1].as_slice());
    });
}

/// `out[i] = keccak256(bytes[64i..64i + 64])`: the parents of 32-byte leaves
/// laid out in order, such as a page's.
///
/// # Panics
/// If `bytes` does not hold exactly 64 bytes per parent.
pub fn hash_leaf_pairs(bytes: &[u8], out: &mut [B256]) {
    assert_eq!(bytes.len(), 64 * out.len(), "64 bytes per parent");
    hash_messages(Backend::best(), out, |i, msg| {
        msg.copy_from_slice(&bytes[64 * i..64 * i + 64]);
    });
}

/// `keccak256` of each `chunk`-byte run of `bytes` in order, the last one
/// shorter if `chunk` does not divide its length: a long string's chunks
/// hash several at once, one per vector lane, at several times one
/// keccak's speed on one core.
///
/// # Panics
/// If `chunk` is zero.
pub fn hash_chunks(bytes: &[u8], chunk: usize) -> Vec<B256> {
    hash_chunks_with(Backend::best(), bytes, chunk)
}

/// [`hash_chunks`] on a chosen backend, for tests and benchmarks.
///
/// # Panics
/// As [`hash_chunks`], and if this CPU lacks the backend.
pub fn hash_chunks_with(backend: Backend, bytes: &[u8], chunk: usize) -> Vec<B256> {
    assert!(chunk > 0, "chunks of no bytes");
    assert!(backend.is_available(), "this CPU lacks {backend:?}");
    let mut out = Vec::with_capacity(bytes.len().div_ceil(chunk));
    let lanes = match backend {
        Backend::Scalar => 1,
        Backend::Avx2 => 4,
        Backend::Avx512 => 8,
    };
    let mut rest = bytes;
    while lanes > 1 && rest.len() >= lanes * chunk {
        let (group, tail) = rest.split_at(lanes * chunk);
        #[cfg(target_arch = "x86_64")]
        match backend {
            // SAFETY: the CPU has AVX-512F (checked above); `group` holds
            // eight chunks.
            Backend::Avx512 => out.extend(unsafe { avx512::absorb8(group, chunk) }),
            // SAFETY: the CPU has AVX2 (checked above); `group` holds four
            // chunks.
            Backend::Avx2 => out.extend(unsafe { avx2::absorb4(group, chunk) }),
            Backend::Scalar => unreachable!("one lane"),
        }
        rest = tail;
    }
    out.extend(rest.chunks(chunk).map(keccak256));
    out
}

/// Keccak's rate for a 256-bit digest: 136 bytes, 17 lanes, per permutation.
#[cfg(target_arch = "x86_64")]
const RATE: usize = 136;

/// The last, padded block of each of `N` messages of `len` bytes that start
/// `stride` bytes apart in `bytes`: the bytes after the whole blocks, the
/// domain byte 0x01, and pad10*1's final bit at the rate's end.
#[cfg(target_arch = "x86_64")]
fn last_blocks<const N: usize>(bytes: &[u8], stride: usize, len: usize) -> [[u8; RATE]; N] {
    let whole = len - len % RATE;
    std::array::from_fn(|k| {
        let mut block = [0u8; RATE];
        block[..len - whole].copy_from_slice(&bytes[k * stride + whole..k * stride + len]);
        block[len - whole] ^= 0x01;
        block[RATE - 1] ^= 0x80;
        block
    })
}

/// Hashes message `i`, written by `fill(i, ..)`, into `out[i]`.
fn hash_messages(backend: Backend, out: &mut [B256], fill: impl Fn(usize, &mut [u8; 64])) {
    assert!(backend.is_available(), "this CPU lacks {backend:?}");
    #[cfg(target_arch = "x86_64")]
    match backend {
        // SAFETY: the CPU has AVX-512F (checked above).
        Backend::Avx512 => return batched(out, &fill, |m, o| unsafe { avx512::hash8(m, o) }),
        // SAFETY: the CPU has AVX2 (checked above).
        Backend::Avx2 => return batched(out, &fill, |m, o| unsafe { avx2::hash4(m, o) }),
        Backend::Scalar => {}
    }
    scalar(out, fill);
}

/// Hashes `out.len()` messages in batches of `N` with `hash`. A tail of
/// two or more messages still takes one batch, its spare lanes' hashes
/// discarded: a page's last levels (4, 2 and 1 parents) cost less so than
/// one by one. A single message goes alone.
#[cfg(target_arch = "x86_64")]
fn batched<const N: usize>(
    out: &mut [B256],
    fill: &impl Fn(usize, &mut [u8; 64]),
    hash: impl Fn(&[[u8; 64]; N], &mut [B256; N]),
) {
    let (batches, tail) = out.as_chunks_mut::<N>();
    let done = batches.len() * N;
    let mut msgs = [[0u8; 64]; N];
    for (b, batch) in batches.iter_mut().enumerate() {
        for (k, msg) in msgs.iter_mut().enumerate() {
            fill(b * N + k, msg);
        }
        hash(&msgs, batch);
    }
    if tail.len() < 2 {
        return scalar(tail, |i, msg| fill(done + i, msg));
    }
    for (k, msg) in msgs[..tail.len()].iter_mut().enumerate() {
        fill(done + k, msg);
    }
    let mut hashes = [B256::ZERO; N];
    hash(&msgs, &mut hashes);
    tail.copy_from_slice(&hashes[..tail.len()]);
}

fn scalar(out: &mut [B256], fill: impl Fn(usize, &mut [u8; 64])) {
    let mut msg = [0u8; 64];
    for (i, h) in out.iter_mut().enumerate() {
        fill(i, &mut msg);
        *h = keccak256(msg);
    }
}

/// Keccak-f[1600]'s round constants (FIPS 202, ι).
#[cfg(target_arch = "x86_64")]
const ROUND_CONSTANTS: [u64; 24] = [
    0x0000_0000_0000_0001,
    0x0000_0000_0000_8082,
    0x8000_0000_0000_808A,
    0x8000_0000_8000_8000,
    0x0000_0000_0000_808B,
    0x0000_0000_8000_0001,
    0x8000_0000_8000_8081,
    0x8000_0000_0000_8009,
    0x0000_0000_0000_008A,
    0x0000_0000_0000_0088,
    0x0000_0000_8000_8009,
    0x0000_0000_8000_000A,
    0x0000_0000_8000_808B,
    0x8000_0000_0000_008B,
    0x8000_0000_0000_8089,
    0x8000_0000_0000_8003,
    0x8000_0000_0000_8002,
    0x8000_0000_0000_0080,
    0x0000_0000_0000_800A,
    0x8000_0000_8000_000A,
    0x8000_0000_8000_8081,
    0x8000_0000_0000_8080,
    0x0000_0000_8000_0001,
    0x8000_0000_8000_8008,
];

/// Keccak-f[1600] on the 25 lanes `$a` (lane `x + 5y`), each a vector of
/// independent states, written once for every width: the backend gives the
/// lane operations `$xor`, `$xor3`, `$xor5`, `$chi` (`a ^ (!b & c)`),
/// `$splat` and a rotate-left macro `$rol` taking a literal count.
#[cfg(target_arch = "x86_64")]
macro_rules! keccak_f1600 {
    ($a:ident, $xor:ident, $xor3:ident, $xor5:ident, $chi:ident, $splat:ident, $rol:ident) => {
        for rc in $crate::keccak::ROUND_CONSTANTS {
            // θ
            let mut c = [$a[0]; 5];
            for (x, c) in c.iter_mut().enumerate() {
                *c = $xor5($a[x], $a[x + 5], $a[x + 10], $a[x + 15], $a[x + 20]);
            }
            for x in 0..5 {
                let (left, right) = (c[(x + 4) % 5], $rol!(c[(x + 1) % 5], 1));
                for y in 0..5 {
                    $a[x + 5 * y] = $xor3($a[x + 5 * y], left, right);
                }
            }
            // ρ and π: lane (x, y) moves to (y, 2x + 3y), rotated by its offset.
            #[rustfmt::skip]
            let b = [
                $a[0], $rol!($a[6], 44), $rol!($a[12], 43), $rol!($a[18], 21), $rol!($a[24], 14),
                $rol!($a[3], 28), $rol!($a[9], 20), $rol!($a[10], 3), $rol!($a[16], 45), $rol!($a[22], 61),
                $rol!($a[1], 1), $rol!($a[7], 6), $rol!($a[13], 25), $rol!($a[19], 8), $rol!($a[20], 18),
                $rol!($a[4], 27), $rol!($a[5], 36), $rol!($a[11], 10), $rol!($a[17], 15), $rol!($a[23], 56),
                $rol!($a[2], 62), $rol!($a[8], 55), $rol!($a[14], 39), $rol!($a[15], 41), $rol!($a[21], 2),
            ];
            // χ
            for y in 0..5 {
                for x in 0..5 {
                    $a[x + 5 * y] = $chi(
                        b[x + 5 * y],
                        b[(x + 1) % 5 + 5 * y],
                        b[(x + 2) % 5 + 5 * y],
                    );
                }
            }
            // ι
            $a[0] = $xor($a[0], $splat(rc));
        }
    };
}

/// The body of a backend's `absorbN`: the `N` chunks of `$group`, one per
/// vector lane, absorbed block by block through the backend's
/// `absorb_block`, the last padded block too; then the first 4 lanes
/// squeezed out as each chunk's hash. `$zero` is a zero vector and `$store`
/// the unaligned vector store.
#[cfg(target_arch = "x86_64")]
macro_rules! absorb_chunks {
    ($n:literal, $group:ident, $chunk:ident, $zero:expr, $store:ident) => {{
        assert_eq!($group.len(), $n * $chunk, "{} chunks", $n);
        let mut a = [$zero; 25];
        for b in 0..$chunk / super::RATE {
            // SAFETY: block b of every chunk lies inside `$group`.
            unsafe { absorb_block(&mut a, $group.as_ptr(), $chunk, b) };
        }
        let last = super::last_blocks::<$n>($group, $chunk, $chunk);
        // SAFETY: `last` is `$n` contiguous 136-byte blocks.
        unsafe { absorb_block(&mut a, last.as_ptr().cast(), super::RATE, 0) };
        let mut words = [[0u64; $n]; 4];
        for (w, lane) in words.iter_mut().zip(a) {
            // SAFETY: `w` is one vector's writable bytes; the store needs
            // no alignment.
            unsafe { $store(w.as_mut_ptr().cast(), lane) };
        }
        std::array::from_fn(|k| {
            B256::from(std::array::from_fn(|i| {
                words[i / 8][k].to_le_bytes()[i % 8]
            }))
        })
    }};
}

/// Lane 8 of a padded 64-byte message: Keccak's domain byte 0x01 right
/// after the message.
#[cfg(target_arch = "x86_64")]
const PAD_FIRST: u64 = 0x01;
/// Lane 16: pad10*1's final bit, the last of the 136-byte rate.
#[cfg(target_arch = "x86_64")]
const PAD_LAST: u64 = 0x80 << 56;

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use alloy_primitives::B256;

    use super::{PAD_FIRST, PAD_LAST};

    #[target_feature(enable = "avx512f")]
    #[inline]
    fn xor(a: __m512i, b: __m512i) -> __m512i {
        _mm512_xor_si512(a, b)
    }

    /// One instruction (truth table 0x96).
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn xor3(a: __m512i, b: __m512i, c: __m512i) -> __m512i {
        _mm512_ternarylogic_epi64::<0x96>(a, b, c)
    }

    #[target_feature(enable = "avx512f")]
    #[inline]
    fn xor5(a: __m512i, b: __m512i, c: __m512i, d: __m512i, e: __m512i) -> __m512i {
        xor3(xor3(a, b, c), d, e)
    }

    /// `a ^ (!b & c)` in one instruction (truth table 0xD2).
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn chi(a: __m512i, b: __m512i, c: __m512i) -> __m512i {
        _mm512_ternarylogic_epi64::<0xD2>(a, b, c)
    }

    #[target_feature(enable = "avx512f")]
    #[inline]
    fn splat(x: u64) -> __m512i {
        _mm512_set1_epi64(x as i64)
    }

    macro_rules! rol {
        ($v:expr, $n:literal) => {
            _mm512_rol_epi64::<$n>($v)
        };
    }

    /// Hashes eight 64-byte messages, message `k` in lane `k`.
    #[target_feature(enable = "avx512f")]
    pub(super) fn hash8(msgs: &[[u8; 64]; 8], out: &mut [B256; 8]) {
        let offsets = _mm512_setr_epi64(0, 64, 128, 192, 256, 320, 384, 448);
        let mut a = [_mm512_setzero_si512(); 25];
        for (w, lane) in a[..8].iter_mut().enumerate() {
            // SAFETY: lane k reads the 8 bytes at 64k + 8w, inside `msgs`'
            // 512 contiguous bytes.
            *lane = unsafe {
                _mm512_i64gather_epi64::<1>(offsets, msgs.as_ptr().cast::<u8>().add(8 * w).cast())
            };
        }
        a[8] = splat(PAD_FIRST);
        a[16] = splat(PAD_LAST);
        keccak_f1600!(a, xor, xor3, xor5, chi, splat, rol);
        let mut words = [[0u64; 8]; 4];
        for (w, lane) in words.iter_mut().zip(a) {
            // SAFETY: `w` is 64 writable bytes; the store needs no alignment.
            unsafe { _mm512_storeu_si512(w.as_mut_ptr().cast(), lane) };
        }
        for (k, h) in out.iter_mut().enumerate() {
            for (w, word) in words.iter().enumerate() {
                h[8 * w..8 * w + 8].copy_from_slice(&word[k].to_le_bytes());
            }
        }
    }

    /// XORs block `b` of each of eight messages `stride` bytes apart, from
    /// `base`, into the state's first 17 lanes, and permutes.
    ///
    /// # Safety
    /// The CPU has AVX-512F; the 136 bytes at `base + k·stride + 136·b` are
    /// readable for each `k` below 8.
    #[target_feature(enable = "avx512f")]
    unsafe fn absorb_block(a: &mut [__m512i; 25], base: *const u8, stride: usize, b: usize) {
        let s = stride as i64;
        let offsets = _mm512_setr_epi64(0, s, 2 * s, 3 * s, 4 * s, 5 * s, 6 * s, 7 * s);
        for (w, lane) in a[..17].iter_mut().enumerate() {
            // SAFETY: lane k reads 8 of the 136 readable bytes at
            // base + k·stride + 136·b (the caller's promise).
            let words = unsafe {
                _mm512_i64gather_epi64::<1>(offsets, base.add(super::RATE * b + 8 * w).cast())
            };
            *lane = xor(*lane, words);
        }
        keccak_f1600!(a, xor, xor3, xor5, chi, splat, rol);
    }

    /// keccak256 of each of the eight `chunk`-byte runs of `group`.
    ///
    /// # Safety
    /// The CPU has AVX-512F.
    ///
    /// # Panics
    /// If `group` is not eight chunks.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn absorb8(group: &[u8], chunk: usize) -> [B256; 8] {
        absorb_chunks!(8, group, chunk, _mm512_setzero_si512(), _mm512_storeu_si512)
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use alloy_primitives::B256;

    use super::{PAD_FIRST, PAD_LAST};

    #[target_feature(enable = "avx2")]
    #[inline]
    fn xor(a: __m256i, b: __m256i) -> __m256i {
        _mm256_xor_si256(a, b)
    }

    /// θ applies `b ^ c` to a column's five lanes: written `a ^ (b ^ c)`,
    /// it is computed once per column.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn xor3(a: __m256i, b: __m256i, c: __m256i) -> __m256i {
        xor(a, xor(b, c))
    }

    #[target_feature(enable = "avx2")]
    #[inline]
    fn xor5(a: __m256i, b: __m256i, c: __m256i, d: __m256i, e: __m256i) -> __m256i {
        xor(xor(xor(a, b), xor(c, d)), e)
    }

    /// `a ^ (!b & c)`: AVX2's and-not complements its first operand.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn chi(a: __m256i, b: __m256i, c: __m256i) -> __m256i {
        xor(a, _mm256_andnot_si256(b, c))
    }

    #[target_feature(enable = "avx2")]
    #[inline]
    fn splat(x: u64) -> __m256i {
        _mm256_set1_epi64x(x as i64)
    }

    /// AVX2 has no rotate: two shifts and an OR.
    macro_rules! rol {
        ($v:expr, $n:literal) => {{
            let v = $v;
            _mm256_or_si256(
                _mm256_slli_epi64::<$n>(v),
                _mm256_srli_epi64::<{ 64 - $n }>(v),
            )
        }};
    }

    /// Hashes four 64-byte messages, message `k` in lane `k`.
    #[target_feature(enable = "avx2")]
    pub(super) fn hash4(msgs: &[[u8; 64]; 4], out: &mut [B256; 4]) {
        let offsets = _mm256_setr_epi64x(0, 64, 128, 192);
        let mut a = [_mm256_setzero_si256(); 25];
        for (w, lane) in a[..8].iter_mut().enumerate() {
            // SAFETY: lane k reads the 8 bytes at 64k + 8w, inside `msgs`'
            // 256 contiguous bytes.
            *lane = unsafe {
                _mm256_i64gather_epi64::<1>(msgs.as_ptr().cast::<u8>().add(8 * w).cast(), offsets)
            };
        }
        a[8] = splat(PAD_FIRST);
        a[16] = splat(PAD_LAST);
        keccak_f1600!(a, xor, xor3, xor5, chi, splat, rol);
        let mut words = [[0u64; 4]; 4];
        for (w, lane) in words.iter_mut().zip(a) {
            // SAFETY: `w` is 32 writable bytes; the store needs no alignment.
            unsafe { _mm256_storeu_si256(w.as_mut_ptr().cast(), lane) };
        }
        for (k, h) in out.iter_mut().enumerate() {
            for (w, word) in words.iter().enumerate() {
                h[8 * w..8 * w + 8].copy_from_slice(&word[k].to_le_bytes());
            }
        }
    }

    /// XORs block `b` of each of four messages `stride` bytes apart, from
    /// `base`, into the state's first 17 lanes, and permutes.
    ///
    /// # Safety
    /// The CPU has AVX2; the 136 bytes at `base + k·stride + 136·b` are
    /// readable for each `k` below 4.
    #[target_feature(enable = "avx2")]
    unsafe fn absorb_block(a: &mut [__m256i; 25], base: *const u8, stride: usize, b: usize) {
        let s = stride as i64;
        let offsets = _mm256_setr_epi64x(0, s, 2 * s, 3 * s);
        for (w, lane) in a[..17].iter_mut().enumerate() {
            // SAFETY: lane k reads 8 of the 136 readable bytes at
            // base + k·stride + 136·b (the caller's promise).
            let words = unsafe {
                _mm256_i64gather_epi64::<1>(base.add(super::RATE * b + 8 * w).cast(), offsets)
            };
            *lane = xor(*lane, words);
        }
        keccak_f1600!(a, xor, xor3, xor5, chi, splat, rol);
    }

    /// keccak256 of each of the four `chunk`-byte runs of `group`.
    ///
    /// # Safety
    /// The CPU has AVX2.
    ///
    /// # Panics
    /// If `group` is not four chunks.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn absorb4(group: &[u8], chunk: usize) -> [B256; 4] {
        absorb_chunks!(4, group, chunk, _mm256_setzero_si256(), _mm256_storeu_si256)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn expected(children: &[B256]) -> Vec<B256> {
        children
            .chunks_exact(2)
            .map(|p| keccak256([p[0].as_slice(), p[1].as_slice()].concat()))
            .collect()
    }

    fn available() -> impl Iterator<Item = Backend> {
        Backend::ALL.into_iter().filter(|b| b.is_available())
    }

    /// Distinct, irregular children from a 64-bit LCG.
    fn children(count: usize, seed: u64) -> Vec<B256> {
        let mut s = seed;
        (0..count)
            .map(|_| {
                B256::from(std::array::from_fn(|_| {
                    s = s
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    (s >> 56) as u8
                }))
            })
            .collect()
    }

    #[test]
    fn every_batch_length_and_tail_matches_keccak256() {
        for backend in available() {
            for n in 0..=17 {
                let c = children(2 * n, n as u64);
                let mut out = vec![B256::ZERO; n];
                hash_pairs_with(backend, &c, &mut out);
                assert_eq!(out, expected(&c), "{backend:?}, {n} parents");
            }
        }
    }

    #[test]
    fn leaf_bytes_hash_as_their_pairs() {
        let c = children(2 * 13, 7);
        let bytes: Vec<u8> = c.iter().flat_map(|h| h.0).collect();
        let mut out = vec![B256::ZERO; 13];
        hash_leaf_pairs(&bytes, &mut out);
        assert_eq!(out, expected(&c));
    }

    #[test]
    fn chunks_hash_as_keccak256_of_each_on_every_backend() {
        let bytes: Vec<u8> = children(700, 3).iter().flat_map(|h| h.0).collect();
        // Lengths around the rate's multiples, a tail of whole groups and
        // none, a last chunk shorter than the rest.
        for chunk in [1, 64, 135, 136, 137, 272, 1000, 2800] {
            for len in [0, chunk * 4, chunk * 8 + 3, chunk * 9, bytes.len()] {
                let bytes = &bytes[..len.min(bytes.len())];
                let expected: Vec<B256> = bytes.chunks(chunk).map(keccak256).collect();
                for backend in available() {
                    let got = hash_chunks_with(backend, bytes, chunk);
                    assert_eq!(
                        got,
                        expected,
                        "{backend:?}, {} bytes, chunks of {chunk}",
                        bytes.len()
                    );
                }
            }
        }
    }

    #[test]
    fn best_is_available_and_the_fastest_there_is() {
        let best = Backend::best();
        assert!(best.is_available());
        assert_eq!(Some(best), available().last());
    }

    proptest! {
        #[test]
        fn every_backend_equals_keccak256(
            pairs in proptest::collection::vec((any::<[u8; 32]>(), any::<[u8; 32]>()), 0..40)
        ) {
            let c: Vec<B256> = pairs
                .iter()
                .flat_map(|(l, r)| [B256::from(*l), B256::from(*r)])
                .collect();
            for backend in available() {
                let mut out = vec![B256::ZERO; pairs.len()];
                hash_pairs_with(backend, &c, &mut out);
                prop_assert_eq!(&out, &expected(&c), "{:?}", backend);
            }
        }
    }
}
