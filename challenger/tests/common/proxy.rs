//! A JSON-RPC proxy between an agent and its node, where tests put faults:
//! every request is numbered and its method handed to a policy that says
//! whether to pass it on, delay it, fail it, or hang on it as if the agent
//! had died there.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// What the proxy does with one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Passes it on.
    Pass,
    /// Passes it on after a pause.
    Delay(Duration),
    /// Answers 503 without passing it on: the node looks down.
    Fail,
    /// Never answers, and reports the request: the agent dies before the
    /// node sees it.
    Hang,
    /// Passes it on, then never answers, and reports the request: the node
    /// acted, the agent dies before it learns of it.
    PassThenHang,
}

/// A request the proxy hung on: its number (from 1) and method.
pub(crate) type Hung = (u64, String);

/// A running proxy; it stops when dropped.
pub(crate) struct Proxy {
    /// Where agents connect.
    pub(crate) url: String,
    served: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Policy = dyn Fn(u64, &str) -> Fault + Send + Sync;

impl Proxy {
    /// A proxy to the node at `upstream` (`http://host:port`) applying
    /// `policy` to request `n` with method `m`; the requests it hangs on
    /// are sent to the receiver.
    pub(crate) async fn start(
        upstream: &str,
        policy: impl Fn(u64, &str) -> Fault + Send + Sync + 'static,
    ) -> (Proxy, mpsc::UnboundedReceiver<Hung>) {
        let upstream = upstream
            .strip_prefix("http://")
            .expect("an http:// node")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let served = Arc::new(AtomicU64::new(0));
        let policy: Arc<Policy> = Arc::new(policy);
        let (hung_tx, hung) = mpsc::unbounded_channel();
        let count = served.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (upstream, policy, count, hung_tx) = (
                    upstream.clone(),
                    policy.clone(),
                    count.clone(),
                    hung_tx.clone(),
                );
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<Incoming>| {
                        let (upstream, policy, count, hung_tx) = (
                            upstream.clone(),
                            policy.clone(),
                            count.clone(),
                            hung_tx.clone(),
                        );
                        async move {
                            let body = req.into_body().collect().await?.to_bytes();
                            let n = count.fetch_add(1, Ordering::SeqCst) + 1;
                            let fault = policy(n, &method(&body));
                            let answer = match fault {
                                Fault::Pass => forward(&upstream, body).await,
                                Fault::Delay(pause) => {
                                    tokio::time::sleep(pause).await;
                                    forward(&upstream, body).await
                                }
                                Fault::Fail => None,
                                Fault::Hang | Fault::PassThenHang => {
                                    if fault == Fault::PassThenHang {
                                        forward(&upstream, body.clone()).await;
                                    }
                                    let _ = hung_tx.send((n, method(&body)));
                                    std::future::pending::<()>().await;
                                    None
                                }
                            };
                            Ok::<_, hyper::Error>(answer.unwrap_or_else(|| {
                                let mut r = Response::new(Full::new(Bytes::new()));
                                *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                                r
                            }))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        (Proxy { url, served, task }, hung)
    }

    /// Requests received so far.
    pub(crate) fn requests(&self) -> u64 {
        self.served.load(Ordering::SeqCst)
    }
}

/// The JSON-RPC method of a request body (the first of a batch).
fn method(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let call = if v.is_array() { &v[0] } else { &v };
    call["method"].as_str().unwrap_or("?").to_owned()
}

/// `body` posted to the node, its answer; `None` if the node is down.
async fn forward(upstream: &str, body: Bytes) -> Option<Response<Full<Bytes>>> {
    let stream = TcpStream::connect(upstream).await.ok()?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::spawn(conn);
    let req = Request::post("/")
        .header(hyper::header::HOST, upstream)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(body))
        .unwrap();
    let res = sender.send_request(req).await.ok()?;
    let (parts, body) = res.into_parts();
    let body = body.collect().await.ok()?.to_bytes();
    Some(Response::from_parts(parts, Full::new(body)))
}
