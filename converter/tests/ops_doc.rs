//! `docs/ops.md` is generated from the converter registry; it must not be
//! stale. Regenerate with `cargo run -p verdict-converter -- ops > docs/ops.md`.

use verdict_converter::registry::{REGISTRY, lookup, markdown};

#[test]
fn committed_ops_doc_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/ops.md");
    let committed = std::fs::read_to_string(path).expect("docs/ops.md exists");
    assert!(
        committed == markdown(),
        "docs/ops.md is stale: run `cargo run -p verdict-converter -- ops > docs/ops.md`"
    );
}

#[test]
fn registry_names_are_unique_and_found() {
    for (i, e) in REGISTRY.iter().enumerate() {
        assert!(
            REGISTRY[..i].iter().all(|o| o.tract != e.tract),
            "{} registered twice",
            e.tract
        );
        assert_eq!(lookup(e.tract).map(|f| f.tract), Some(e.tract));
    }
    assert!(lookup("NoSuchOp").is_none());
}
