//! The float instructions against the software reference and the hardware.

mod common;

use proptest::prelude::*;
use verdict_vm::semantics::{self as s, CANONICAL_NAN};
use verdict_vm::soft;

/// Edge values, signalling NaNs with several payloads among them: LLVM
/// treats NaN payloads as unspecified, so a payload that survives an
/// operation shows up only with such inputs, in some builds.
const SPECIALS: [u32; 29] = [
    0x0000_0000,
    0x8000_0000,
    0x0000_0001,
    0x8000_0001,
    0x007F_FFFF,
    0x807F_FFFF,
    0x0080_0000,
    0x8080_0000,
    0x3F80_0000,
    0xBF80_0000,
    0x3F80_0001,
    0x3FC0_0000,
    0x3F7F_FFFF,
    0x7F7F_FFFF,
    0xFF7F_FFFF,
    0x7F80_0000,
    0xFF80_0000,
    0x7FC0_0000,
    0xFFC0_0000,
    0x7F80_0001,
    0xFF80_0001,
    0x7F80_0386,
    0x7FA0_0000,
    0x7FBF_FFFF,
    0xFFA5_A5A5,
    0x7FC0_0386,
    0x4B00_0001,
    0x3380_0000,
    0x4F00_0000,
];

type Binary = (&'static str, fn(u32, u32) -> u32, fn(u32, u32) -> u32);

const BINARY: [Binary; 9] = [
    ("fadd", s::f32_add, soft::add),
    ("fsub", s::f32_sub, soft::sub),
    ("fmul", s::f32_mul, soft::mul),
    ("fdiv", s::f32_div, soft::div),
    ("fmin", s::f32_min, soft::min),
    ("fmax", s::f32_max, soft::max),
    ("feq", s::f32_eq, soft::eq),
    ("flt", s::f32_lt, soft::lt),
    ("fle", s::f32_le, soft::le),
];

type Unary = (&'static str, fn(u32) -> u32, fn(u32) -> u32);

const UNARY: [Unary; 3] = [
    ("fsqrt", s::f32_sqrt, soft::sqrt),
    ("ftoi", s::f32_to_i32, soft::to_i32),
    ("itof", s::i32_to_f32, soft::from_i32),
];

fn check_binary(a: u32, b: u32) -> Result<(), TestCaseError> {
    for (name, fast, reference) in BINARY {
        let (got, want) = (fast(a, b), reference(a, b));
        prop_assert_eq!(got, want, "{} {:#010x} {:#010x}", name, a, b);
        prop_assert!(
            !s::is_nan(got) || got == CANONICAL_NAN,
            "{} gave a non-canonical NaN",
            name
        );
    }
    Ok(())
}

fn check_fma(a: u32, b: u32, c: u32) -> Result<(), TestCaseError> {
    let got = s::f32_fma(a, b, c);
    prop_assert_eq!(
        got,
        soft::fma(a, b, c),
        "fmadd {:#010x} {:#010x} {:#010x}",
        a,
        b,
        c
    );
    let hw = f32::from_bits(a).mul_add(f32::from_bits(b), f32::from_bits(c));
    prop_assert_eq!(got, s::canonicalize(hw));
    Ok(())
}

#[test]
fn every_pair_and_triple_of_special_values() {
    for &a in &SPECIALS {
        for (name, fast, reference) in UNARY {
            assert_eq!(fast(a), reference(a), "{name} {a:#010x}");
        }
        for &b in &SPECIALS {
            check_binary(a, b).unwrap();
            for &c in &SPECIALS {
                check_fma(a, b, c).unwrap();
            }
        }
    }
}

#[test]
fn spelled_out_edge_cases() {
    let nan = CANONICAL_NAN;
    assert_eq!(s::f32_sqrt(0x8000_0000), 0x8000_0000, "sqrt(-0) = -0");
    assert_eq!(s::f32_sqrt(0xBF80_0000), nan);
    assert_eq!(s::f32_min(0x0000_0000, 0x8000_0000), 0x8000_0000);
    assert_eq!(s::f32_max(0x8000_0000, 0x0000_0000), 0x0000_0000);
    assert_eq!(s::f32_min(0x3F80_0000, 0x7FC0_0001), nan);
    assert_eq!(s::f32_to_i32(0x7FC0_0000), 0);
    assert_eq!(s::f32_to_i32(0x4F00_0000), 0x7FFF_FFFF, "2^31 saturates");
    assert_eq!(s::f32_to_i32(0xCF00_0000), 0x8000_0000, "-2^31 is exact");
    assert_eq!(s::f32_to_i32(0xFF80_0000), 0x8000_0000);
    assert_eq!(s::f32_to_i32(0xBF00_0000), 0, "-0.5 truncates to 0");
    assert_eq!(
        s::i32_to_f32(16_777_217),
        0x4B80_0000,
        "2^24 + 1 rounds to even"
    );
    assert_eq!(s::f32_add(0x7F80_0000, 0xFF80_0000), nan, "inf - inf");
    assert_eq!(
        s::f32_fma(0x0000_0000, 0x7F80_0000, 0x7FC0_0000),
        nan,
        "0 * inf + NaN"
    );
    assert_eq!(
        s::f32_add(0x8000_0000, 0x8000_0000),
        0x8000_0000,
        "-0 + -0 = -0"
    );
    assert_eq!(
        s::f32_fma(0x3F80_0000, 0x8000_0000, 0x0000_0000),
        0,
        "1 * -0 + 0 = +0"
    );
    assert_eq!(
        s::f32_mul(0x0080_0000, 0x3F00_0000),
        0x0040_0000,
        "subnormal product kept"
    );
}

/// Every operation on signalling NaNs (both signs, payloads spread over
/// the whole 22-bit range) gives the canonical NaN, as the reference does.
#[test]
fn signalling_nans_give_the_canonical_nan() {
    let ordinary = [
        0x0000_0000,
        0x3F80_0000,
        0xC0A0_0000,
        0x7F80_0000,
        0x0000_0001,
    ];
    for payload in (1..0x40_0000u32).step_by(4093).chain([1, 0x386, 0x3F_FFFF]) {
        for sign in [0, 0x8000_0000] {
            let nan = sign | 0x7F80_0000 | payload;
            for (name, fast, reference) in UNARY {
                assert_eq!(fast(nan), reference(nan), "{name} {nan:#010x}");
            }
            for x in ordinary.into_iter().chain([nan]) {
                check_binary(nan, x).unwrap();
                check_binary(x, nan).unwrap();
                check_fma(nan, x, x).unwrap();
                check_fma(x, nan, x).unwrap();
                check_fma(x, x, nan).unwrap();
            }
        }
    }
}

#[test]
fn soft_sqrt_matches_hardware_across_the_range() {
    // Every 4099th pattern (covering every exponent and many significands),
    // plus the neighbourhood of every power of two.
    let mut x = 0u32;
    while let Some(next) = x.checked_add(4099) {
        assert_eq!(soft::sqrt(x), s::f32_sqrt(x), "sqrt {x:#010x}");
        x = next;
    }
    for e in 0..256u32 {
        for d in 0..64u32 {
            let x = (e << 23).wrapping_add(d).wrapping_sub(32);
            assert_eq!(soft::sqrt(x), s::f32_sqrt(x), "sqrt {x:#010x}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    #[test]
    fn binary_ops_match_the_reference(a in common::f32_bits(), b in common::f32_bits()) {
        check_binary(a, b)?;
    }

    #[test]
    fn fma_matches_the_reference(a in common::f32_bits(), b in common::f32_bits(), c in common::f32_bits()) {
        check_fma(a, b, c)?;
    }

    #[test]
    fn unary_ops_match_the_reference(a in common::f32_bits()) {
        for (name, fast, reference) in UNARY {
            prop_assert_eq!(fast(a), reference(a), "{} {:#010x}", name, a);
        }
    }

    /// The hardware, canonicalised, is what the spec says: plain IEEE.
    #[test]
    fn arithmetic_is_ieee_on_this_cpu(a in common::f32_bits(), b in common::f32_bits()) {
        let (x, y) = (f32::from_bits(a), f32::from_bits(b));
        prop_assert_eq!(soft::add(a, b), s::canonicalize(x + y));
        prop_assert_eq!(soft::mul(a, b), s::canonicalize(x * y));
        prop_assert_eq!(soft::div(a, b), s::canonicalize(x / y));
        prop_assert_eq!(soft::sqrt(a), s::canonicalize(x.sqrt()));
    }
}
