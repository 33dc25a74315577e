//! The application gateway behind `verdict serve`: an HTTP API over a node
//! for applications that know HTTP and not the chain. It holds the wallet:
//! an inference posted to it is computed natively, claimed from the node's
//! account and answered at once with the provisional output; the node's
//! agent then defends the claim until it is final, and the application
//! polls the inference for its status.
//!
//! An inference's id is the hash of its model id and input bytes, so the
//! same question asked twice, or again after a restart, gets the same
//! claim: the gateway never claims one result twice. It reads what the
//! node's agent recorded (published after each tick) and the claims' state
//! on the chain, and keeps nothing else.

mod completions;
mod status;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy_primitives::{Address, B256, U256, keccak256};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{OpenApi, ToSchema};
use verdict_contracts::bindings::ClaimManager;
use verdict_contracts::rules;
use verdict_converter::inspect::GenerationSummary;
use verdict_converter::tensor_io::Pixels;
use verdict_converter::text::{Text, TextError, TextStream};
use verdict_dnn::schema::{Class, Schema};

use crate::agent::{Agent, post_claim};
use crate::chain::{Chain, Tx};
use crate::metrics::Metrics;
use crate::model::ModelInfo;
use crate::records::{GameMove, GameView, Record};
use crate::store::{AgentState, ClaimStatus, GameRecord, GameStatus};
use crate::trace::{Trace, f32s};

/// The largest request body accepted, in bytes.
pub const BODY_LIMIT: usize = 4 << 20;

/// How the gateway admits and pays for inferences.
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// Bearer tokens that may post inferences (each spends a claim bond
    /// and gas from the node's account).
    pub tokens: Vec<String>,
    /// Inferences one token may post per minute.
    pub per_minute: u32,
    /// The bond of each claim, in wei.
    pub claim_bond: U256,
    /// `/healthz` fails after this long without a successful tick or a
    /// new block.
    pub health_timeout: Duration,
    /// Event streams open at once at most (each follows the chain while
    /// open, and reading needs no token): past it, 503.
    pub max_event_streams: usize,
}

/// What the handlers share.
struct Gateway {
    chain: Chain,
    manager: Address,
    models: HashMap<B256, Arc<ModelInfo>>,
    /// Where the node tells the moves of its games.
    moves: tokio::sync::broadcast::Sender<GameMove>,
    /// The tokenizers of the generation packages that carry one.
    texts: HashMap<B256, Arc<Text>>,
    /// The node's record as of its last tick (`None` before its first).
    record: watch::Receiver<Option<Arc<AgentState>>>,
    metrics: Arc<Metrics>,
    config: GatewayConfig,
    /// Claims this process posted, by inference id: the node's record
    /// shows them a tick later.
    posted: Mutex<HashMap<B256, u64>>,
    /// One post at a time: looking for the inference's claim and posting
    /// it are one step, so two requests for it make one claim.
    posting: tokio::sync::Mutex<()>,
    /// Per token, the start of its current minute and its posts in it.
    windows: Mutex<HashMap<String, (Instant, u32)>>,
    /// The last `/v1/status` read and when ([`status`]).
    status: tokio::sync::Mutex<Option<(Instant, Bytes)>>,
    /// A permit per open event stream.
    streams: Arc<tokio::sync::Semaphore>,
}

/// An error as the API answers it: a status and `{"error": …}`, naming
/// the field at fault when there is one.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    field: Option<&'static str>,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            field: None,
            message: message.into(),
        }
    }

    fn field(status: StatusCode, field: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            field: Some(field),
            message: message.into(),
        }
    }
}

/// An error's body.
#[derive(Serialize, ToSchema)]
struct ErrorBody {
    /// What is wrong.
    error: String,
    /// The request field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'static str>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.message,
            field: self.field,
        };
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<crate::chain::ChainError> for ApiError {
    fn from(e: crate::chain::ChainError) -> ApiError {
        ApiError::new(StatusCode::BAD_GATEWAY, format!("the chain: {e}"))
    }
}

/// A tensor's schema: `float32` values of a shape.
#[derive(Serialize, ToSchema)]
struct TensorSchema {
    shape: Vec<usize>,
    /// `float32`.
    dtype: &'static str,
}

/// A served model, as `GET /v1/models` lists it.
#[derive(Serialize, ToSchema)]
struct ModelView {
    #[schema(value_type = String)]
    model_id: B256,
    #[schema(value_type = String)]
    package_hash: B256,
    /// Whether the node has seen its registration on the chain.
    registered: bool,
    ops: u64,
    total_steps: u64,
    input: TensorSchema,
    output: TensorSchema,
    /// For a generation package (`POST /v1/completions`): its prompt
    /// length, tokens, vocabulary, EOS id, whether it samples and whether
    /// it reads text prompts.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    generation: Option<GenerationSummary>,
    /// What its input and output parts mean (docs/spec/package.md,
    /// "Schema"), if its package says.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    schema: Option<Schema>,
}

/// An inference as the API shows it.
#[derive(Serialize, ToSchema)]
struct InferenceView {
    /// `keccak256(model id ‖ input bytes)`.
    #[schema(value_type = String)]
    id: B256,
    #[schema(value_type = String)]
    model: B256,
    claim_id: u64,
    /// `pending`, `final` or `rejected`.
    status: &'static str,
    /// The output claimed: provisional while pending.
    output: Vec<f32>,
    /// Unix seconds until which the claim can be challenged.
    challenge_deadline: u64,
    /// Games against the claim not yet ended.
    open_games: u32,
    /// The output's top classes with their labels, when the model's schema
    /// names them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    classes: Vec<Class>,
    /// The claim's transaction, when this answer posted it.
    #[serde(skip_serializing_if = "Option::is_none")]
    tx: Option<Tx>,
    /// The hash of the claim's transaction, once the node has read it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    claim_tx: Option<B256>,
}

/// The body of `POST /v1/inferences`. Its fields are read one by one, so
/// that an error names the one at fault.
#[derive(Deserialize, ToSchema)]
struct InferenceRequest {
    /// The model id, 0x and 64 hex digits.
    #[serde(default)]
    #[schema(value_type = String)]
    model: serde_json::Value,
    /// The input: nested arrays of numbers in the input's shape, a flat
    /// list, or a file's bytes in base64 as `{"npy": "…"}` or
    /// `{"png": "…"}` (a PNG scaled to [0, 1] as `dnnc run` reads it).
    #[serde(default)]
    #[schema(value_type = Object)]
    input: serde_json::Value,
}

/// The API's OpenAPI document, served at `/openapi.json`.
#[derive(OpenApi)]
#[openapi(
    info(title = "verdict gateway", description = "Verified inferences over HTTP (docs/gateway.md)."),
    paths(healthz, metrics, openapi, models, post_inference, get_inference, inference_events,
          completions::post_completion, status::status, status::page),
    components(schemas(completions::Chunk, GameMove, GameView)),
    modifiers(&BearerAuth),
)]
struct ApiDoc;

/// Declares the bearer tokens that `POST /v1/inferences` needs.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// The API over `agent`'s account and models, answering from its record
/// (subscribed to here) and the chain. The agent must run beside it.
///
/// # Errors
///
/// [`TextError::Packaged`] if a package carries a tokenizer that does not
/// parse.
pub fn router(
    agent: &mut Agent,
    manager: Address,
    config: GatewayConfig,
) -> Result<Router, TextError> {
    let mut texts = HashMap::new();
    for (&id, model) in agent.models() {
        let generation = model.compiled.model.generation.as_ref();
        if let Some(json) = generation.and_then(|g| g.tokenizer.as_deref()) {
            texts.insert(id, Arc::new(Text::from_json(json)?));
        }
    }
    let streams = config.max_event_streams;
    let gateway = Gateway {
        chain: agent.chain().clone(),
        manager,
        models: agent.models().clone(),
        moves: agent.game_moves(),
        texts,
        record: agent.subscribe(),
        metrics: agent.metrics(),
        config,
        posted: Mutex::default(),
        posting: tokio::sync::Mutex::default(),
        windows: Mutex::default(),
        status: tokio::sync::Mutex::default(),
        streams: Arc::new(tokio::sync::Semaphore::new(streams)),
    };
    Ok(Router::new()
        .route("/", get(status::page))
        .route("/v1/status", get(status::status))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .route("/v1/models", get(models))
        .route("/v1/inferences", axum::routing::post(post_inference))
        .route("/v1/inferences/{id}", get(get_inference))
        .route("/v1/inferences/{id}/events", get(inference_events))
        .route(
            "/v1/completions",
            axum::routing::post(completions::post_completion),
        )
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "no such endpoint: see GET /openapi.json",
            )
        })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(Arc::new(gateway)))
}

/// Whether the node is ticking and the chain moving.
#[utoipa::path(get, path = "/healthz", responses(
    (status = 200, description = "`ok`", body = String, content_type = "text/plain"),
    (status = 503, description = "what stopped", body = String, content_type = "text/plain"),
))]
async fn healthz(State(g): State<Arc<Gateway>>) -> Response {
    match g.metrics.health(g.config.health_timeout) {
        Ok(()) => (StatusCode::OK, "ok\n").into_response(),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, why + "\n").into_response(),
    }
}

/// The node's Prometheus metrics (docs/agents.md).
#[utoipa::path(get, path = "/metrics", responses(
    (status = 200, description = "OpenMetrics text", body = String, content_type = "application/openmetrics-text"),
))]
async fn metrics(State(g): State<Arc<Gateway>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        g.metrics.encode(),
    )
        .into_response()
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", responses(
    (status = 200, description = "OpenAPI 3.1", body = Object),
))]
async fn openapi() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(ApiDoc::openapi())
}

/// The models served.
#[utoipa::path(get, path = "/v1/models", responses(
    (status = 200, body = Vec<ModelView>),
))]
async fn models(State(g): State<Arc<Gateway>>) -> axum::Json<Vec<ModelView>> {
    axum::Json(g.model_views())
}

/// The id of the inference of `model_id` on `input`.
fn inference_id(model_id: B256, input: &[u8]) -> B256 {
    keccak256([model_id.as_slice(), input].concat())
}

impl Gateway {
    /// The models served, by id.
    fn model_views(&self) -> Vec<ModelView> {
        let record = self.record.borrow().clone();
        let mut views: Vec<ModelView> = self
            .models
            .iter()
            .map(|(&model_id, m)| {
                let ir = &m.compiled.model;
                let schema = |id: usize| TensorSchema {
                    shape: ir.tensors[id].shape.clone(),
                    dtype: "float32",
                };
                ModelView {
                    model_id,
                    package_hash: m.package_hash,
                    registered: record
                        .as_ref()
                        .is_some_and(|r| r.models.contains_key(&model_id)),
                    ops: m.ops(),
                    total_steps: m.total_steps(),
                    input: schema(ir.input),
                    output: schema(ir.output),
                    generation: GenerationSummary::of(ir),
                    schema: ir.schema.clone(),
                }
            })
            .collect();
        views.sort_by_key(|v| v.model_id);
        views
    }

    /// The served model a request's `model` field names.
    fn model(&self, field: &serde_json::Value) -> Result<(B256, Arc<ModelInfo>), ApiError> {
        let model_id: B256 = field
            .as_str()
            .ok_or_else(|| {
                ApiError::field(
                    StatusCode::BAD_REQUEST,
                    "model",
                    "a model id, 0x and 64 hex digits, is needed",
                )
            })?
            .parse()
            .map_err(|e| {
                ApiError::field(
                    StatusCode::BAD_REQUEST,
                    "model",
                    format!("not a model id: {e}"),
                )
            })?;
        let model = self.models.get(&model_id).cloned().ok_or_else(|| {
            ApiError::field(
                StatusCode::NOT_FOUND,
                "model",
                format!("model {model_id} is not served here (GET /v1/models)"),
            )
        })?;
        Ok((model_id, model))
    }

    /// Admits `values` of `model` for a claim once the node has read the
    /// chain: encoded as a claim posts them (the inference's id) and
    /// counted against `token`'s rate. Posts refused before this do not
    /// count.
    fn admit(
        &self,
        token: String,
        model_id: B256,
        model: Arc<ModelInfo>,
        values: Vec<f32>,
    ) -> Result<Question, ApiError> {
        self.ready()?;
        let posted = model.encode_input(&values).map_err(|e| {
            ApiError::field(StatusCode::UNPROCESSABLE_ENTITY, "input", e.to_string())
        })?;
        self.count(token)?;
        Ok(Question {
            id: inference_id(model_id, &posted),
            model_id,
            model,
            values,
        })
    }

    /// Whether the node has read the chain (503 until its first tick).
    fn ready(&self) -> Result<(), ApiError> {
        if self.record.borrow().is_none() {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the node has not read the chain yet: try again in a moment",
            ));
        }
        Ok(())
    }

    /// The request's token, if it is one of the configured tokens.
    fn authenticate(&self, headers: &HeaderMap) -> Result<String, ApiError> {
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .filter(|t| self.config.tokens.iter().any(|known| known == t))
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "posting an inference spends the gateway's funds: send `Authorization: Bearer <token>` with a token it was given",
                )
            })
            .map(str::to_owned)
    }

    /// Counts a post of `token`'s, refused if over its rate.
    fn count(&self, token: String) -> Result<(), ApiError> {
        let mut windows = self.windows.lock().expect("not poisoned");
        let (start, count) = windows.entry(token).or_insert((Instant::now(), 0));
        if start.elapsed() >= Duration::from_secs(60) {
            (*start, *count) = (Instant::now(), 0);
        }
        if *count >= self.config.per_minute {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "this token may post {} inferences a minute",
                    self.config.per_minute
                ),
            ));
        }
        *count += 1;
        Ok(())
    }

    /// The claim of inference `id`: one this process posted, or one of the
    /// account's claims in the node's record that is not rejected.
    fn claim_of(&self, id: B256) -> Option<u64> {
        if let Some(&claim_id) = self.posted.lock().expect("not poisoned").get(&id) {
            return Some(claim_id);
        }
        let record = self.record.borrow().clone()?;
        let me = self.chain.account();
        record
            .claims
            .iter()
            .filter(|(_, c)| c.submitter == me && c.status != ClaimStatus::Rejected)
            .find(|(_, c)| inference_id(c.model_id, &c.input) == id)
            .map(|(&claim_id, _)| claim_id)
    }

    /// Inference `id` answered by claim `claim_id`, as the chain has it.
    async fn view(&self, id: B256, claim_id: u64) -> Result<InferenceView, ApiError> {
        let claim = U256::from(claim_id);
        let c = self
            .chain
            .view(self.manager, &ClaimManager::getClaimCall { claimId: claim })
            .await?;
        let status = if c.status == u8::from(rules::ClaimStatus::Rejected) {
            "rejected"
        } else if self
            .chain
            .view(self.manager, &ClaimManager::isFinalCall { claimId: claim })
            .await?
        {
            "final"
        } else {
            "pending"
        };
        let output = f32s(&c.output);
        Ok(InferenceView {
            id,
            model: c.modelId,
            claim_id,
            status,
            classes: self.classes(&c.modelId, &output),
            output,
            challenge_deadline: c.challengeDeadline,
            open_games: c.openGames,
            tx: None,
            claim_tx: self
                .record
                .borrow()
                .as_ref()
                .and_then(|r| r.claims.get(&claim_id))
                .and_then(|c| c.tx),
        })
    }

    /// The top classes of `output` of model `model_id`, if its schema
    /// names them.
    fn classes(&self, model_id: &B256, output: &[f32]) -> Vec<Class> {
        let Some(model) = self.models.get(model_id) else {
            return Vec::new();
        };
        let ir = &model.compiled.model;
        ir.schema.as_ref().map_or_else(Vec::new, |schema| {
            schema.top_classes(ir, output, verdict_dnn::schema::TOP_CLASSES)
        })
    }
}

/// `POST /v1/inferences` `{"model": "0x…", "input": [[…]]}`: validates the
/// input against the model's shape, then claims it (or finds its claim).
/// Only posts that reach the chain count against the token's rate.
#[utoipa::path(post, path = "/v1/inferences", request_body = InferenceRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "claimed by this post", body = InferenceView),
        (status = 200, description = "claimed before", body = InferenceView),
        (status = 400, description = "malformed JSON or model id", body = ErrorBody),
        (status = 401, description = "no or an unknown bearer token", body = ErrorBody),
        (status = 404, description = "a model not served", body = ErrorBody),
        (status = 413, description = "a body over 4 MiB"),
        (status = 422, description = "an input of the wrong shape, or not finite", body = ErrorBody),
        (status = 429, description = "over the token's rate", body = ErrorBody),
        (status = 502, description = "the chain refused or failed", body = ErrorBody),
        (status = 503, description = "the node has not read the chain yet", body = ErrorBody),
    ),
)]
async fn post_inference(
    State(g): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let token = g.authenticate(&headers)?;
    let body: InferenceRequest = json_body(&body)?;
    let (model_id, model) = g.model(&body.model)?;
    let ir = &model.compiled.model;
    let shape = &ir.tensors[ir.input].shape;
    if body.input.is_null() {
        return Err(ApiError::field(
            StatusCode::BAD_REQUEST,
            "input",
            format!("an input of shape {shape:?} (nested arrays of numbers) is needed"),
        ));
    }
    let values = input_values(&body.input, shape, Pixels::for_encoding(ir.input_encoding))?;
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(ApiError::field(
            StatusCode::UNPROCESSABLE_ENTITY,
            "input",
            format!("value {i} is {}: inputs must be finite", values[i]),
        ));
    }
    if let Some(schema) = &ir.schema {
        schema.check_input(ir, &values).map_err(|e| {
            ApiError::field(StatusCode::UNPROCESSABLE_ENTITY, "input", e.to_string())
        })?;
    }
    let question = g.admit(token, model_id, model, values)?;
    let (status, view) = claim(g, question, None).await?;
    Ok((status, axum::Json(view)).into_response())
}

/// A body's JSON object.
fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the body is not a JSON object: {e}"),
        )
    })
}

/// An input admitted for a claim: valid, and counted against its token's
/// rate.
struct Question {
    /// The inference's id.
    id: B256,
    model_id: B256,
    model: Arc<ModelInfo>,
    values: Vec<f32>,
}

/// A generated token and the text it adds (empty without a tokenizer).
#[derive(Clone, Debug)]
struct Piece {
    token: u32,
    text: String,
}

/// Where a generation's tokens go as they are made: the channel, and the
/// model's tokenizer turning them into text.
struct Sink {
    pieces: tokio::sync::mpsc::UnboundedSender<Piece>,
    text: Option<TextStream<Arc<Text>>>,
}

impl Sink {
    /// Sends `token` with the text it adds (a receiver gone is no error:
    /// the claim goes on without it).
    fn send(&mut self, token: u32) {
        let text = self
            .text
            .as_mut()
            .and_then(|t| t.push(token).ok())
            .unwrap_or_default();
        let _ = self.pieces.send(Piece { token, text });
    }
}

/// Claims `q` unless it was claimed before: 201 and the new claim, or 200
/// and the one found. A generation's tokens go to `sink` as they are made
/// (or, claimed before, as its claim has them), before the claim is
/// posted.
async fn claim(
    g: Arc<Gateway>,
    q: Question,
    mut sink: Option<Sink>,
) -> Result<(StatusCode, InferenceView), ApiError> {
    let _posting = g.posting.lock().await;
    if let Some(claim_id) = g.claim_of(q.id) {
        let view = g.view(q.id, claim_id).await?;
        if let Some(sink) = &mut sink {
            view.output.iter().for_each(|&t| sink.send(t as u32));
        }
        return Ok((StatusCode::OK, view));
    }
    let Question {
        id,
        model_id,
        model,
        values,
    } = q;
    let trace = tokio::task::spawn_blocking(move || {
        let ir = &model.compiled.model;
        if let (Some(sink), Some(generation)) = (&mut sink, &ir.generation) {
            model.compiled.infer_observed(&values, |n, words| {
                if let Some(token) = generation.token_of(ir, n, words) {
                    sink.send(token);
                }
            })?;
        }
        drop(sink);
        Trace::new(model, &values)
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    .map_err(|e| ApiError::field(StatusCode::UNPROCESSABLE_ENTITY, "input", e.to_string()))?;
    let claim = trace.claim(model_id, |_| {});
    let (event, tx) = post_claim(&g.chain, g.manager, &claim, g.config.claim_bond).await?;
    let claim_id = event.claimId.to::<u64>();
    g.posted.lock().expect("not poisoned").insert(id, claim_id);
    tracing::info!(%id, claim_id, "inference claimed");
    let view = InferenceView {
        id,
        model: model_id,
        claim_id,
        status: "pending",
        classes: g.classes(&model_id, &claim.output),
        output: claim.output,
        challenge_deadline: event.challengeDeadline,
        open_games: 0,
        claim_tx: Some(tx.hash),
        tx: Some(tx),
    };
    Ok((StatusCode::CREATED, view))
}

/// The inference named by a path's `{id}` and its claim.
fn inference_at(g: &Gateway, id: &str) -> Result<(B256, u64), ApiError> {
    let id: B256 = id.parse().map_err(|e| {
        ApiError::field(
            StatusCode::BAD_REQUEST,
            "id",
            format!("not an inference id: {e}"),
        )
    })?;
    if let Some(claim_id) = g.claim_of(id) {
        return Ok((id, claim_id));
    }
    // Just (re)started, the node may not have read the claim back yet.
    g.ready()?;
    Err(ApiError::field(
        StatusCode::NOT_FOUND,
        "id",
        format!("no inference {id} here"),
    ))
}

/// The values of a post's `input`: nested arrays, or a file in base64.
fn input_values(
    input: &serde_json::Value,
    shape: &[usize],
    pixels: Pixels,
) -> Result<Vec<f32>, ApiError> {
    use base64::Engine;
    let unprocessable = |e| ApiError::field(StatusCode::UNPROCESSABLE_ENTITY, "input", e);
    let Some(file) = input.as_object() else {
        return verdict_converter::tensor_io::input_from_json(input, shape).map_err(unprocessable);
    };
    let (format, encoded) = match file.iter().next() {
        Some((format, serde_json::Value::String(encoded)))
            if file.len() == 1 && matches!(format.as_str(), "npy" | "png") =>
        {
            (format, encoded)
        }
        _ => {
            return Err(ApiError::field(
                StatusCode::BAD_REQUEST,
                "input",
                r#"an object input is a file in base64: {"npy": "…"} or {"png": "…"}"#,
            ));
        }
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|e| {
            ApiError::field(
                StatusCode::BAD_REQUEST,
                "input",
                format!("the {format} is not base64: {e}"),
            )
        })?;
    verdict_converter::tensor_io::input_from_bytes(format, &bytes, shape, pixels)
        .map_err(|e| unprocessable(format!("the {format}: {e}")))
}

/// `GET /v1/inferences/{id}`: the inference's claim as the chain has it.
#[utoipa::path(get, path = "/v1/inferences/{id}", params(("id" = String, Path, description = "the inference id, 0x and 64 hex digits")),
    responses(
        (status = 200, body = InferenceView),
        (status = 400, description = "a malformed id", body = ErrorBody),
        (status = 404, description = "no such inference here", body = ErrorBody),
        (status = 502, description = "the chain cannot be read", body = ErrorBody),
        (status = 503, description = "the node has not read the chain yet", body = ErrorBody),
    ),
)]
async fn get_inference(
    State(g): State<Arc<Gateway>>,
    Path(id): Path<String>,
) -> Result<axum::Json<InferenceView>, ApiError> {
    let (id, claim_id) = inference_at(&g, &id)?;
    Ok(axum::Json(g.view(id, claim_id).await?))
}

/// How often an event stream reads its claim when the node's record is
/// quiet: a window can pass with no event at all.
const EVENTS_POLL: Duration = Duration::from_millis(500);

/// How long an event stream whose claim is settled waits for the node to
/// read the end of its games (the chain can be ahead of the node by its
/// confirmations).
const SETTLE: Duration = Duration::from_secs(30);

/// `GET /v1/inferences/{id}/events`: server-sent events, an `inference`
/// event (the body of `GET /v1/inferences/{id}`) now and at each change of
/// its status or open games; a `move` event for each move of a game against
/// the claim as the node reads it from the chain; before each `inference`
/// event, a `game` event (the game as `verdict game status --json` shows
/// it, its clocks included) for each game whose position changed. It ends
/// once the inference is final or rejected; an `error` event (`{"error":
/// …}`) ends it when the chain cannot be read.
#[utoipa::path(get, path = "/v1/inferences/{id}/events", params(("id" = String, Path, description = "the inference id, 0x and 64 hex digits")),
    responses(
        (status = 200, description = "`move` events (a GameMove each), `game` events (a GameView each) and `inference` events (an InferenceView each), and a final `error` event if the chain cannot be read", content_type = "text/event-stream", body = String),
        (status = 400, description = "a malformed id", body = ErrorBody),
        (status = 404, description = "no such inference here", body = ErrorBody),
        (status = 503, description = "the node has not read the chain yet, or the most event streams are open", body = ErrorBody),
    ),
)]
async fn inference_events(
    State(g): State<Arc<Gateway>>,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, axum::Error>>>, ApiError> {
    let (id, claim_id) = inference_at(&g, &id)?;
    let permit = g.streams.clone().try_acquire_owned().map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "{} event streams are open, the most this gateway follows: try again later",
                g.config.max_event_streams
            ),
        )
    })?;
    let (events, received) = tokio::sync::mpsc::unbounded_channel();
    // Subscribed before the answer: no move after it is missed.
    let moves = g.moves.subscribe();
    tokio::spawn(async move {
        let _open = permit;
        if let Err(e) = follow(&g, (id, claim_id), moves, &events).await {
            let error = ErrorBody {
                error: e.message,
                field: None,
            };
            let _ = events.send(Event::default().event("error").json_data(error));
        }
    });
    let events = futures_util::stream::unfold(received, |mut received| async move {
        received.recv().await.map(|event| (event, received))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

/// Sends the events of inference `id` (claim `claim_id`), and the game
/// `moves` of its claim, to `events` until it is final or rejected, or the
/// client has gone.
async fn follow(
    g: &Gateway,
    (id, claim_id): (B256, u64),
    mut moves: tokio::sync::broadcast::Receiver<GameMove>,
    events: &tokio::sync::mpsc::UnboundedSender<Result<Event, axum::Error>>,
) -> Result<(), ApiError> {
    let mut record = g.record.clone();
    let mut last = None;
    let mut games = HashMap::new();
    // Tells the moves of the claim's games among those `moves` holds.
    let tell = |game_move: &GameMove| {
        if game_move.claim_id == claim_id {
            let _ = events.send(Event::default().event("move").json_data(game_move));
        }
    };
    let drain = |moves: &mut tokio::sync::broadcast::Receiver<GameMove>| {
        while let Ok(game_move) = moves.try_recv() {
            tell(&game_move);
        }
    };
    loop {
        drain(&mut moves);
        let view = g.view(id, claim_id).await?;
        // The games against the claim are the node's own: it defends them.
        let played: Vec<u64> = record.borrow().as_ref().map_or_else(Vec::new, |r| {
            let of_claim = r.games.iter().filter(|(_, game)| game.claim_id == claim_id);
            of_claim.map(|(&game_id, _)| game_id).collect()
        });
        let now = g.chain.timestamp().await?;
        for game_id in played {
            let game = GameView::at(&g.chain, g.manager, game_id, now)
                .await
                .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, format!("the chain: {e}")))?;
            let Some(game) = game else { continue };
            let key = game.position();
            if games.insert(game_id, key.clone()) != Some(key) {
                let _ = events.send(Event::default().event("game").json_data(&game));
            }
        }
        let state = (view.status, view.open_games);
        if last != Some(state) {
            if view.status != "pending" {
                // The chain may be ahead of the node: tell the last moves
                // of the claim's games before the stream ends.
                let settled = tokio::time::timeout(SETTLE, async {
                    while record.borrow().as_ref().is_some_and(|r| {
                        let open = |game: &GameRecord| game.status == GameStatus::Open;
                        r.games.values().any(|g| g.claim_id == claim_id && open(g))
                    }) {
                        if record.changed().await.is_err() {
                            return;
                        }
                    }
                });
                let _ = settled.await;
                drain(&mut moves);
            }
            let _ = events.send(Event::default().event("inference").json_data(&view));
            if view.status != "pending" {
                return Ok(());
            }
            last = Some(state);
        }
        if events.is_closed() {
            return Ok(());
        }
        tokio::select! {
            changed = record.changed() => if changed.is_err() {
                return Ok(());
            },
            game_move = moves.recv() => match game_move {
                Ok(game_move) => tell(&game_move),
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return Ok(()),
                // Moves lost to lagging.
                _ => {}
            },
            () = tokio::time::sleep(EVENTS_POLL) => {}
        }
    }
}
