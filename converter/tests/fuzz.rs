//! Random and mutated ONNX bytes give errors, never panics.

use proptest::prelude::{ProptestConfig, any, prop, proptest};
use verdict_converter::{InputShape, convert_bytes};

fn digits_mlp() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../models/digits_mlp.onnx"
    ))
    .expect("models/digits_mlp.onnx")
}

fn convert(bytes: &[u8]) -> bool {
    let shape = InputShape {
        name: None,
        dims: vec![1, 64],
    };
    convert_bytes(bytes, None, "fuzz", &vec![shape].into(), &mut |_, _| {}).is_ok()
}

#[test]
fn the_unmutated_model_converts() {
    assert!(convert(&digits_mlp()));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_are_rejected(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = convert(&bytes);
    }

    #[test]
    fn mutated_models_do_not_panic(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut bytes = digits_mlp();
        for (at, value) in edits {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        let _ = convert(&bytes);
    }
}
