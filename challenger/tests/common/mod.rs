//! Support shared by the agents' test binaries; each uses a part of it.
#![allow(dead_code)]

pub(crate) mod proxy;
