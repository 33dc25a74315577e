//! What an agent shows its operator: Prometheus metrics at `/metrics` and a
//! health check at `/healthz`, served over HTTP on the address of
//! `--metrics`. The agent updates the numbers as it ticks; the server only
//! reads them.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::chain::ChainError;
use crate::store::Verdict;

/// A claim's verdict, as a label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerdictLabel {
    verdict: &'static str,
}

/// Why a send failed, as a label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CauseLabel {
    cause: &'static str,
}

/// An open game, as a label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GameLabel {
    game: u64,
}

/// The agent's numbers.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    claims_seen: Counter,
    claims_judged: Family<VerdictLabel, Counter>,
    games_open: Gauge,
    traces_held: Gauge,
    clock_left: Family<GameLabel, Gauge>,
    balance: Gauge<f64, AtomicU64>,
    bonds_locked: Gauge<f64, AtomicU64>,
    sends_failed: Family<CauseLabel, Counter>,
    rpc_errors: Counter,
    last_block: Gauge,
    requests_open: Gauge,
    requests_fulfilled: Counter,
    fees_earned: Counter<f64, AtomicU64>,
    /// Unix seconds of the last tick that succeeded, and of the first tick
    /// that saw the latest block: what `/healthz` judges.
    last_progress: AtomicU64,
    last_new_block: AtomicU64,
    /// The games with a clock gauge.
    clocked: Mutex<BTreeSet<u64>>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        let claims_seen = Counter::default();
        let claims_judged = Family::default();
        let games_open = Gauge::default();
        let traces_held = Gauge::default();
        let clock_left = Family::default();
        let balance = Gauge::default();
        let bonds_locked = Gauge::default();
        let sends_failed = Family::default();
        let rpc_errors = Counter::default();
        let last_block = Gauge::default();
        let requests_open = Gauge::default();
        let requests_fulfilled = Counter::default();
        let fees_earned = Counter::default();
        let mut registry = Registry::with_prefix("verdict");
        registry.register(
            "claims_seen",
            "Claims submitted on the chain that the agent recorded",
            claims_seen.clone(),
        );
        registry.register(
            "claims_judged",
            "Claims recorded, by the agent's verdict (unknown: not one of its models)",
            claims_judged.clone(),
        );
        registry.register(
            "games_open",
            "Games the agent plays that are still open",
            games_open.clone(),
        );
        registry.register(
            "traces_held",
            "True runs of claims held in memory (one per claim with an open game)",
            traces_held.clone(),
        );
        registry.register(
            "clock_seconds_left",
            "Seconds left on the clock of the party on the move, by open game",
            clock_left.clone(),
        );
        registry.register(
            "balance_ether",
            "The account's balance, in ether",
            balance.clone(),
        );
        registry.register(
            "bonds_locked_ether",
            "Challenge bonds in the agent's open games, in ether",
            bonds_locked.clone(),
        );
        registry.register(
            "sends_failed",
            "Transactions refused or failed, by cause",
            sends_failed.clone(),
        );
        registry.register(
            "rpc_errors",
            "Ticks that failed on the node",
            rpc_errors.clone(),
        );
        registry.register(
            "last_block",
            "The latest block the agent saw",
            last_block.clone(),
        );
        registry.register(
            "requests_open",
            "Open requests for the models a node serves",
            requests_open.clone(),
        );
        registry.register(
            "requests_fulfilled",
            "Requests the node fulfilled with its claims",
            requests_fulfilled.clone(),
        );
        registry.register(
            "fees_earned_ether",
            "Fees of the requests the node fulfilled, in ether",
            fees_earned.clone(),
        );
        Metrics {
            registry,
            claims_seen,
            claims_judged,
            games_open,
            traces_held,
            clock_left,
            balance,
            bonds_locked,
            sends_failed,
            rpc_errors,
            last_block,
            requests_open,
            requests_fulfilled,
            fees_earned,
            last_progress: AtomicU64::new(0),
            last_new_block: AtomicU64::new(0),
            clocked: Mutex::default(),
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Wei as ether, for gauges (exact enough for a dashboard).
fn ether(wei: alloy_primitives::U256) -> f64 {
    f64::from(wei) / 1e18
}

impl Metrics {
    pub(crate) fn claim_seen(&self, verdict: Verdict) {
        self.claims_seen.inc();
        let verdict = match verdict {
            Verdict::True => "true",
            Verdict::False => "false",
            Verdict::Unknown => "unknown",
        };
        self.claims_judged
            .get_or_create(&VerdictLabel { verdict })
            .inc();
    }

    pub(crate) fn send_failed(&self, error: &ChainError) {
        let cause = match error {
            ChainError::Revert { .. } => "reverted",
            ChainError::Failed { .. } => "failed_on_chain",
            ChainError::Rpc(_) => "refused_by_node",
            _ => "other",
        };
        self.sends_failed.get_or_create(&CauseLabel { cause }).inc();
    }

    pub(crate) fn rpc_error(&self) {
        self.rpc_errors.inc();
    }

    pub(crate) fn block(&self, number: u64) {
        let number = i64::try_from(number).unwrap_or(i64::MAX);
        let previous = self.last_block.set(number);
        if previous != number || self.last_new_block.load(Ordering::Relaxed) == 0 {
            self.last_new_block.store(unix_now(), Ordering::Relaxed);
        }
    }

    pub(crate) fn progressed(&self) {
        self.last_progress.store(unix_now(), Ordering::Relaxed);
    }

    pub(crate) fn balance(&self, wei: alloy_primitives::U256) {
        self.balance.set(ether(wei));
    }

    /// Seconds left on the clock of the party on the move in `game`.
    pub(crate) fn game_clock(&self, game: u64, left: u64) {
        self.clock_left
            .get_or_create(&GameLabel { game })
            .set(i64::try_from(left).unwrap_or(i64::MAX));
        self.clocked.lock().expect("not poisoned").insert(game);
    }

    pub(crate) fn traces(&self, held: usize) {
        self.traces_held
            .set(i64::try_from(held).unwrap_or(i64::MAX));
    }

    pub(crate) fn requests(&self, open: usize) {
        self.requests_open
            .set(i64::try_from(open).unwrap_or(i64::MAX));
    }

    pub(crate) fn fulfilled(&self, fee: alloy_primitives::U256) {
        self.requests_fulfilled.inc();
        self.fees_earned.inc_by(ether(fee));
    }

    /// The games still open, and the bonds they hold: the clocks of the
    /// others are dropped.
    pub(crate) fn games(&self, open: &[u64], bonds: alloy_primitives::U256) {
        self.games_open
            .set(i64::try_from(open.len()).unwrap_or(i64::MAX));
        self.clocked.lock().expect("not poisoned").retain(|game| {
            let keep = open.contains(game);
            if !keep {
                self.clock_left.remove(&GameLabel { game: *game });
            }
            keep
        });
        self.bonds_locked.set(ether(bonds));
    }

    /// Ether earned in request fees since the agent started.
    pub fn fees_earned(&self) -> f64 {
        self.fees_earned.get()
    }

    /// The exposition text.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }

    /// Whether the agent is healthy: a tick succeeded and a new block was
    /// seen within `timeout`. The reason when it is not.
    pub fn health(&self, timeout: Duration) -> Result<(), String> {
        let now = unix_now();
        let since = |at: &AtomicU64| now.saturating_sub(at.load(Ordering::Relaxed));
        let limit = timeout.as_secs();
        if since(&self.last_progress) > limit {
            return Err(format!("no tick has succeeded for over {limit} s"));
        }
        if since(&self.last_new_block) > limit {
            return Err(format!("no new block for over {limit} s"));
        }
        Ok(())
    }
}

/// Serves `/metrics` and `/healthz` (unhealthy after `timeout` without
/// progress) on `addr` until `stop` turns true; returns the bound address.
///
/// # Errors
///
/// The address cannot be bound.
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    timeout: Duration,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let stream = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        tracing::warn!("metrics: accept failed: {e}");
                        continue;
                    }
                },
                _ = stop.changed() => return,
            };
            let metrics = metrics.clone();
            let service = service_fn(move |request: Request<Incoming>| {
                let response = respond(&metrics, timeout, &request);
                async move { Ok::<_, std::convert::Infallible>(response) }
            });
            tokio::spawn(async move {
                if let Err(e) = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                {
                    tracing::debug!("metrics: connection failed: {e}");
                }
            });
        }
    });
    Ok(bound)
}

fn respond(
    metrics: &Metrics,
    timeout: Duration,
    request: &Request<Incoming>,
) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match (request.method(), request.uri().path()) {
        (&Method::GET, "/metrics") => (
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            metrics.encode(),
        ),
        (&Method::GET, "/healthz") => match metrics.health(timeout) {
            Ok(()) => (StatusCode::OK, "text/plain", "ok\n".to_owned()),
            Err(why) => (StatusCode::SERVICE_UNAVAILABLE, "text/plain", why + "\n"),
        },
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "GET /metrics or /healthz\n".to_owned(),
        ),
    };
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))
        .expect("a response from valid parts")
}
