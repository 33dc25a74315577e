//! verdict's off-chain side: the agents that submit and challenge claims.
//! They talk to any chain over JSON-RPC; the embedded devnet they run against
//! in `verdict demo`, `verdict devnet` and the tests is its own crate,
//! `verdict-devnet`.
//!
//! - [`model`]: a `.dnn` package as the protocol sees it (registry record,
//!   level-1 points, Merkle paths);
//! - [`trace`]: the trace provider (true states from the native engine at op
//!   boundaries and the VM inside one op);
//! - [`game`]: the moves of a dispute as pure functions;
//! - [`strategy`]: a player's choices (honest, or a drill's or a test's);
//! - [`chain`]: one account on a chain over JSON-RPC (alloy);
//! - [`deployment`]: deploying the contracts and the deployment file;
//! - [`store`]: an agent's record in its data directory;
//! - [`records`]: the manager's claims, games and requests as people and
//!   the gateway's status page see them;
//! - [`agent`]: the submitter, watchdog and node loop;
//! - [`gateway`]: the HTTP API of `verdict serve` over a node;
//! - [`metrics`]: its Prometheus metrics and health check over HTTP;
//! - [`demo`]: the end-to-end demonstration on the embedded devnet.

pub mod agent;
pub mod chain;
pub mod demo;
pub mod deployment;
pub mod game;
pub mod gateway;
pub mod metrics;
pub mod model;
pub mod records;
pub mod store;
pub mod strategy;
pub mod trace;
