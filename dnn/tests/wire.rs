//! The `.dnn` package format pinned by committed fixtures. A package body is
//! the bincode 2 encoding of `Package` (docs/spec/package.md), so the
//! order of `OpKind`'s variants and of every op's fields is the wire format,
//! and a round trip alone would not notice a reordering. Two small packages
//! that hold every op kind between them (and a third with the kinds added
//! since) are committed with their hashes;
//! they must decode to the packages built now, byte for byte.
//! `VERDICT_BLESS=1` rewrites them after a deliberate format change (with a
//! new `PACKAGE_VERSION`).

#[allow(dead_code, unused_macros, unused_imports)]
mod common;

use std::path::Path;

use serde_json::{Map, Value, json};
use verdict_dnn::generation::Generation;
use verdict_dnn::ir::{Model, ModelBuilder, Port, Ports, ValueKind};
use verdict_dnn::ops::OpKind;
use verdict_dnn::ops::argmax::ArgMax;
use verdict_dnn::ops::binary::{Binary, BinaryOp};
use verdict_dnn::ops::decode::Encoding;
use verdict_dnn::ops::gather::Gather;
use verdict_dnn::ops::lrn::Lrn;
use verdict_dnn::ops::norm::{Norm, NormKind};
use verdict_dnn::ops::reshape::Reshape;
use verdict_dnn::ops::select::Where;
use verdict_dnn::ops::unary::{Unary, UnaryOp};
use verdict_dnn::package::Package;
use verdict_dnn::schema::{Image, PartSchema, Schema};

/// The op kinds `common::chain` does not hold: Gather, Reshape, Lrn, Norm.
fn rest() -> Model {
    let mut b = ModelBuilder::new("rest", &[2, 3]);
    let indices = b.weight("indices", &[2], vec![2.0, -3.0]).unwrap();
    let h = b
        .node(
            "gather",
            OpKind::Gather(Gather { axis: 1 }),
            &[b.input(), indices],
        )
        .unwrap();
    let reshape = OpKind::Reshape(Reshape {
        shape: vec![1, 2, 1, 2],
    });
    let h = b.node("reshape", reshape, &[h]).unwrap();
    let lrn = Lrn {
        alpha: 1e-4,
        beta: 0.75,
        bias: 1.0,
        size: 3,
    };
    let h = b.node("lrn", OpKind::Lrn(lrn), &[h]).unwrap();
    let norm = Norm {
        kind: NormKind::Layer,
        axes: 3..4,
        epsilon: 1e-5,
    };
    let y = b.node("norm", OpKind::Norm(norm), &[h]).unwrap();
    b.finish(y)
}

/// Booleans and integers: the ops added after the first two fixtures
/// (comparisons, logic, casts, Where, ArgMax), whose variants come last; and named
/// ports, two inputs packed into one.
fn types() -> Model {
    let mut b = ModelBuilder::new("types", &[2, 3]);
    let w = b
        .weight("w", &[3], vec![0.5, f32::NEG_INFINITY, -2.0])
        .unwrap();
    let unary = |op| OpKind::Unary(Unary { op });
    let binary = |op| OpKind::Binary(Binary { op });
    let less = b
        .node("less", binary(BinaryOp::Less), &[b.input(), w])
        .unwrap();
    let inf = b.node("isinf", unary(UnaryOp::IsInf), &[w]).unwrap();
    let either = b.node("or", binary(BinaryOp::Or), &[less, inf]).unwrap();
    let y = b
        .node("where", OpKind::Where(Where), &[either, b.input(), w])
        .unwrap();
    let y = b.node("trunc", unary(UnaryOp::Trunc), &[y]).unwrap();
    let arg = ArgMax {
        axis: 1,
        keepdims: true,
        min: false,
        last: true,
    };
    let y = b.node("argmax", OpKind::ArgMax(arg), &[y]).unwrap();
    let port = |name: &str, shape: &[usize], kind| Port {
        name: name.into(),
        shape: shape.to_vec(),
        kind,
    };
    b.ports(Ports {
        inputs: vec![
            port("a", &[3], ValueKind::Float),
            port("b", &[1, 3], ValueKind::Boolean),
        ],
        outputs: vec![port("y", &[2, 1], ValueKind::Integer)],
    });
    let mut model = b.finish(y);
    let part = |name: &str| PartSchema {
        name: name.into(),
        ..PartSchema::default()
    };
    model.schema = Some(Schema {
        inputs: vec![PartSchema {
            description: Some("values".into()),
            range: Some([-1.0, 1.0]),
            image: Some(Image {
                height: 1,
                width: 3,
                channels: "L".into(),
                layout: "NCHW".into(),
                scale: Some(255.0),
                mean: vec![0.5],
                std: vec![0.25],
            }),
            ..part("a")
        }],
        outputs: vec![PartSchema {
            labels: vec!["index".into()],
            ..part("y")
        }],
    });
    model
}

/// An input posted as 16-bit integers: the model's encoding and the
/// Decode node (format version 4); a generation's record with a tokenizer
/// (version 6).
fn encoded() -> Model {
    let mut b = ModelBuilder::new("encoded", &[5]);
    let x = b.decoded_input(Encoding::U16).unwrap();
    let w = b
        .weight("w", &[5], vec![0.5, -1.0, 2.0, 0.25, 3.0])
        .unwrap();
    let y = b
        .node("mul", OpKind::Binary(Binary { op: BinaryOp::Mul }), &[x, w])
        .unwrap();
    let arg = ArgMax {
        axis: 0,
        keepdims: true,
        min: false,
        last: false,
    };
    let token = b.node("argmax", OpKind::ArgMax(arg), &[y]).unwrap();
    b.generation(Generation {
        vocab: 7,
        eos: Some(3),
        tokens: vec![token],
        sampled: false,
        tokenizer: Some("{}".into()),
    });
    b.finish(token)
}

#[test]
fn committed_packages_decode_to_todays_bytes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let meta = dir.join("packages.json");
    let bless = std::env::var("VERDICT_BLESS").is_ok_and(|v| v == "1");
    let mut facts = Map::new();
    for (name, model) in [
        ("chain", common::chain()),
        ("rest", rest()),
        ("types", types()),
        ("encoded", encoded()),
    ] {
        let built = Package::build(model).unwrap();
        let fresh = built.to_bytes();
        let file = dir.join(format!("{name}.dnn"));
        if bless {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&file, &fresh).unwrap();
        }
        facts.insert(
            name.into(),
            json!({
                "package_hash": built.hash().to_string(),
                "image_root": built.image_root.to_string(),
                "ops": built.model.nodes.len(),
            }),
        );
        let committed = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let decoded = Package::from_bytes(&committed).expect("the fixture decodes");
        decoded.verify().expect("the fixture verifies");
        assert_eq!(
            decoded, built,
            "{name}: the fixture decodes to another package"
        );
        assert!(
            fresh == committed,
            "{name}: the package encoding changed: bump PACKAGE_VERSION, then bless"
        );
    }
    if bless {
        let text = serde_json::to_string_pretty(&Value::Object(facts.clone())).unwrap();
        std::fs::write(&meta, text + "\n").unwrap();
    }
    let want: Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    assert_eq!(
        Value::Object(facts),
        want,
        "hashes differ from packages.json"
    );
}
