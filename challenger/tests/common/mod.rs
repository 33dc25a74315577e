//! Support shared by the agents' test binaries; each uses a part of it.
#![allow(dead_code)]

pub(crate) mod node;
pub(crate) mod proxy;

use std::sync::Arc;

use verdict_challenger::model::ModelInfo;
use verdict_dnn::package::Package;

/// `real` with one weight changed, claiming `real`'s package hash: what
/// anyone can register, since the registry cannot check a package hash.
pub(crate) fn spoofed(real: &ModelInfo) -> Arc<ModelInfo> {
    let mut model = real.compiled.model.clone();
    let weights = model
        .tensors
        .iter_mut()
        .find_map(|t| t.data.as_mut())
        .expect("the model has weights");
    weights[0] += 1.0;
    let mut info = ModelInfo::new(Package::build(model).unwrap());
    info.package_hash = real.package_hash;
    Arc::new(info)
}
