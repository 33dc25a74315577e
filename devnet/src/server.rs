//! The HTTP side: a loopback listener that answers JSON-RPC POSTs, one task
//! per connection, all sharing the one chain behind a mutex; with a block
//! time, one more task mines empty blocks on it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{ALLOW, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

use super::accounts::{self, DevAccount};
use super::rpc::{self, Shared};
use super::state::ChainState;
use super::{DevnetConfig, DevnetError};

/// The largest request body the server reads, in bytes.
const MAX_BODY: usize = 16 << 20;

/// How long the server waits after a failed `accept` (out of file
/// descriptors, say) before it tries again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Starts devnets.
#[derive(Debug)]
pub struct Devnet;

impl Devnet {
    /// Starts a devnet at its genesis block, or from the chain in
    /// `config.load_state`, and serves it on `config.addr` from the current
    /// tokio runtime.
    ///
    /// # Errors
    ///
    /// [`DevnetError`] if the dev keys cannot be derived, the state file
    /// cannot be loaded, the block time is zero or the address cannot be
    /// bound.
    pub async fn start(config: DevnetConfig) -> Result<DevnetHandle, DevnetError> {
        let mut chain = match &config.load_state {
            Some(path) => ChainState::load(path)?,
            None => ChainState::new(&config, accounts::dev_accounts(config.accounts)?),
        };
        chain.configure(&config);
        Devnet::resume(chain, config.addr).await
    }

    /// Serves `chain` (from [`DevnetHandle::stop`] or [`ChainState::load`])
    /// again on `addr`, the way a node comes back after a restart: same
    /// blocks, same state, same log range cap and block time.
    ///
    /// # Errors
    ///
    /// [`DevnetError::Bind`] if `addr` cannot be bound;
    /// [`DevnetError::ZeroBlockTime`] for a block time of zero.
    pub async fn resume(chain: ChainState, addr: SocketAddr) -> Result<DevnetHandle, DevnetError> {
        let block_time = chain.block_time();
        if block_time == Some(Duration::ZERO) {
            return Err(DevnetError::ZeroBlockTime);
        }
        let bind = |source| DevnetError::Bind { addr, source };
        let listener = TcpListener::bind(addr).await.map_err(bind)?;
        let addr = listener.local_addr().map_err(bind)?;
        let accounts = chain.accounts().to_vec();
        let chain_id = chain.chain_id();
        let state = Arc::new(Mutex::new(chain));
        let (stop, stopped) = oneshot::channel();
        let server = tokio::spawn(serve(listener, Arc::clone(&state), block_time, stopped));
        tracing::info!(%addr, chain_id, "devnet listening");
        Ok(DevnetHandle {
            addr,
            accounts,
            chain_id,
            state,
            stop,
            server,
        })
    }
}

/// A running devnet. Dropping it stops the server and drops the chain;
/// [`DevnetHandle::stop`] stops it and hands the chain back.
#[derive(Debug)]
pub struct DevnetHandle {
    addr: SocketAddr,
    accounts: Vec<DevAccount>,
    chain_id: u64,
    state: Arc<Shared>,
    stop: oneshot::Sender<()>,
    server: JoinHandle<()>,
}

impl DevnetHandle {
    /// The JSON-RPC endpoint, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address the server listens on (the port the system chose, when
    /// the configuration asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The funded dev accounts and their keys.
    pub fn accounts(&self) -> &[DevAccount] {
        &self.accounts
    }

    /// The chain id.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// Writes the chain as it is now to `path`, while it is served (see
    /// [`ChainState::dump`]).
    ///
    /// # Errors
    ///
    /// [`DevnetError::DumpState`] if the file cannot be written.
    pub fn dump(&self, path: &Path) -> Result<(), DevnetError> {
        // The lock is held to copy the chain out, not while writing.
        let snapshot = self
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .snapshot();
        snapshot.write(path)
    }

    /// Stops serving (open connections are closed, the address is freed,
    /// the block time's task ends) and returns the chain, for
    /// [`Devnet::resume`].
    pub async fn stop(self) -> ChainState {
        // A send fails only when the server has already ended.
        let _ = self.stop.send(());
        if let Err(e) = self.server.await {
            tracing::warn!(error = %e, "the devnet server failed");
        }
        // The server and its connections have ended and dropped their
        // references; were one left, the chain is copied out instead.
        match Arc::try_unwrap(self.state) {
            Ok(state) => state.into_inner().unwrap_or_else(PoisonError::into_inner),
            Err(state) => state.lock().unwrap_or_else(PoisonError::into_inner).clone(),
        }
    }
}

/// Accepts connections until told to stop (or the handle is dropped), then
/// closes them all and ends the block time's task.
async fn serve(
    listener: TcpListener,
    state: Arc<Shared>,
    block_time: Option<Duration>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut tasks = JoinSet::new();
    if let Some(interval) = block_time {
        tasks.spawn(mine_when_idle(Arc::clone(&state), interval));
    }
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    tracing::trace!(%peer, "devnet connection");
                    tasks.spawn(connection(stream, Arc::clone(&state)));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "devnet accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    drop(listener);
    tasks.shutdown().await;
}

/// Mines an empty block whenever `interval` passes without a block (the
/// block time): a chain with no transactions still gets new heads and
/// timestamps, which clients waiting for a time to pass need. Never ends;
/// [`serve`] aborts it.
async fn mine_when_idle(state: Arc<Shared>, interval: Duration) {
    loop {
        let idle = {
            let mut chain = state.lock().unwrap_or_else(PoisonError::into_inner);
            if chain.idle() >= interval {
                chain.mine_empty_block();
            }
            chain.idle()
        };
        tokio::time::sleep(interval.saturating_sub(idle)).await;
    }
}

/// Serves one HTTP/1.1 connection.
async fn connection(stream: TcpStream, state: Arc<Shared>) {
    let service = service_fn(move |request| answer(request, Arc::clone(&state)));
    if let Err(e) = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await
    {
        tracing::debug!(error = %e, "devnet connection ended");
    }
}

/// Answers one HTTP request: a JSON-RPC POST, or a status saying why not.
async fn answer(
    request: Request<Incoming>,
    state: Arc<Shared>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if request.method() != Method::POST {
        let mut response = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "the devnet answers JSON-RPC over POST",
        );
        response
            .headers_mut()
            .insert(ALLOW, hyper::header::HeaderValue::from_static("POST"));
        return Ok(response);
    }
    let body = match Limited::new(request.into_body(), MAX_BODY).collect().await {
        Ok(body) => body.to_bytes(),
        Err(e) => {
            return Ok(plain(
                StatusCode::BAD_REQUEST,
                &format!("bad request body: {e}"),
            ));
        }
    };
    let mut response = Response::new(Full::new(Bytes::from(rpc::handle(&state, &body))));
    response.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

fn plain(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(message.to_owned())));
    *response.status_mut() = status;
    response
}
