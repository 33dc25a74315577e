//! The `.dnn` package: round trip, and clear errors on damage.

use proptest::prelude::*;
use verdict_dnn::engine::Compiled;
use verdict_dnn::ir::ModelBuilder;
use verdict_dnn::ops::OpKind;
use verdict_dnn::ops::gemm::Gemm;
use verdict_dnn::ops::unary::{Unary, UnaryOp};
use verdict_dnn::package::{PACKAGE_VERSION, Package, PackageError};

fn package() -> Package {
    let mut b = ModelBuilder::new("tiny", &[1, 4]);
    let w = b
        .weight(
            "w",
            &[4, 3],
            (0..12).map(|i| i as f32 * 0.25 - 1.0).collect(),
        )
        .unwrap();
    let h = b
        .node("fc", OpKind::Gemm(Gemm::default()), &[b.input(), w])
        .unwrap();
    let y = b
        .node("relu", OpKind::Unary(Unary { op: UnaryOp::Relu }), &[h])
        .unwrap();
    Package::build(b.finish(y)).unwrap()
}

#[test]
fn round_trips_and_verifies() {
    let p = package();
    let bytes = p.to_bytes();
    let back = Package::from_bytes(&bytes).unwrap();
    assert_eq!(back, p);
    back.verify().unwrap();
    assert_eq!(
        Compiled::new(back.model.clone()).unwrap().image_root(),
        p.image_root
    );
    let dir = std::env::temp_dir().join(format!("verdict-pkg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tiny.dnn");
    p.save(&path).unwrap();
    assert_eq!(Package::load(&path).unwrap(), p);
    let missing = Package::load(&dir.join("missing.dnn")).unwrap_err();
    assert!(missing.to_string().contains("missing.dnn"), "{missing}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_tampered_program_is_caught_by_verify() {
    let mut p = package();
    p.program.boundaries[1] += 1;
    assert!(matches!(p.verify(), Err(PackageError::Mismatch(_))));
    let mut p = package();
    p.image_root = Default::default();
    assert!(matches!(
        p.verify(),
        Err(PackageError::Mismatch("image root"))
    ));
}

#[test]
fn header_errors_are_named() {
    let bytes = package().to_bytes();
    assert!(matches!(
        Package::from_bytes(b"nope"),
        Err(PackageError::Magic)
    ));
    assert!(matches!(
        Package::from_bytes(&bytes[..20]),
        Err(PackageError::Truncated(20))
    ));
    let mut v = bytes.clone();
    v[8] = PACKAGE_VERSION as u8 + 1;
    assert!(matches!(
        Package::from_bytes(&v),
        Err(PackageError::Version(n)) if n == PACKAGE_VERSION + 1
    ));
    assert!(matches!(
        Package::from_bytes(&bytes[..bytes.len() - 1]),
        Err(PackageError::Hash)
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any damage is an error, never a panic or a different package.
    #[test]
    fn damaged_bytes_are_rejected(at in any::<prop::sample::Index>(), flip in 1u8..=255, cut in any::<prop::sample::Index>()) {
        let bytes = package().to_bytes();
        let mut v = bytes.clone();
        let i = at.index(v.len());
        v[i] ^= flip;
        prop_assert!(Package::from_bytes(&v).is_err());
        prop_assert!(Package::from_bytes(&bytes[..cut.index(bytes.len())]).is_err());
    }

    #[test]
    fn random_bytes_are_rejected(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let mut v = b"VRDDNN\0\0\x01\0\0\0".to_vec();
        v.extend_from_slice(&bytes);
        prop_assert!(Package::from_bytes(&v).is_err());
        prop_assert!(Package::from_bytes(&bytes).is_err());
    }
}
