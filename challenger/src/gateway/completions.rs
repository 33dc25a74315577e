//! `POST /v1/completions`: text generation in the shape of OpenAI's
//! completions API, each answer carrying the claim of its tokens.
//!
//! A generation package takes prompts of one length and makes a fixed
//! number of tokens (docs/generation.md). A prompt of another length is
//! refused, naming it; `max_tokens` only cuts what is shown, since the
//! claim is of every token the package makes, so asking again with another
//! `max_tokens` finds the same claim.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use alloy_primitives::B256;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::mpsc;
use utoipa::ToSchema;
use verdict_converter::text::{Text, TextStream};
use verdict_dnn::generation::{PromptError, Sampling};

use super::{ApiError, ErrorBody, Gateway, InferenceView, Piece, Question, Sink, claim, json_body};

/// The body of `POST /v1/completions`: OpenAI's completions request. Of
/// its other fields, those that would change the answer (`n`, `best_of`,
/// `echo`, `logprobs`, `stop`, `suffix`, `presence_penalty`,
/// `frequency_penalty`, `logit_bias`) are refused unless absent or at
/// their defaults; the rest (`user`, …) are ignored.
#[derive(Deserialize, ToSchema)]
pub(super) struct CompletionRequest {
    /// The model id, 0x and 64 hex digits: a generation package's
    /// (`GET /v1/models` shows its `generation`).
    #[serde(default)]
    #[schema(value_type = String)]
    model: Value,
    /// Text (for a package that carries a tokenizer) or an array of token
    /// ids, either alone or as an array's one element, of exactly the
    /// package's prompt length.
    #[serde(default)]
    #[schema(value_type = Object)]
    prompt: Value,
    /// Tokens shown, from 1 to the package's `max_new_tokens` (the
    /// default); the claim is of all of them.
    #[serde(default)]
    #[schema(value_type = Option<u32>)]
    max_tokens: Value,
    /// A sampled package's temperature, from 0 (greedy) to 65.535
    /// (default 1). A greedy package takes only 0.
    #[serde(default)]
    #[schema(value_type = Option<f32>)]
    temperature: Value,
    /// A sampled package's nucleus: the fewest most likely tokens holding
    /// this share of the probability, from 0 to 1 (default 1).
    #[serde(default)]
    #[schema(value_type = Option<f32>)]
    top_p: Value,
    /// A sampled package's top-k: only the K most likely tokens (0, the
    /// default: all). Not in OpenAI's API; as vLLM takes it.
    #[serde(default)]
    #[schema(value_type = Option<u32>)]
    top_k: Value,
    /// A sampled package's seed, from 0 to 2^32 − 1 (default 0): the same
    /// seed gives the same tokens.
    #[serde(default)]
    #[schema(value_type = Option<u32>)]
    seed: Value,
    /// Stream the tokens as server-sent events as they are made.
    #[serde(default)]
    #[schema(value_type = Option<bool>)]
    stream: Value,
}

/// What every answer and streamed chunk of one completion starts with.
#[derive(Clone, Copy, Serialize, ToSchema)]
struct Head {
    /// The inference's id (`GET /v1/inferences/{id}` follows its claim).
    #[schema(value_type = String)]
    id: B256,
    /// `text_completion`.
    object: &'static str,
    /// Unix seconds of the answer.
    created: u64,
    #[schema(value_type = String)]
    model: B256,
}

/// The answer: OpenAI's completion, with the claim of its tokens.
#[derive(Serialize, ToSchema)]
pub(super) struct Completion {
    #[serde(flatten)]
    head: Head,
    /// One choice.
    choices: Vec<Choice>,
    usage: Usage,
    /// The claim of the tokens: every token the package makes, shown or
    /// not.
    claim_id: u64,
    /// The token ids shown.
    tokens: Vec<u32>,
    /// The inference as `GET /v1/inferences/{id}` shows it: its status,
    /// the whole output claimed, its deadline and (from the post that made
    /// it) its transaction.
    inference: InferenceView,
}

/// The generated text.
#[derive(Serialize, ToSchema)]
struct Choice {
    /// The text of the tokens shown (of this token, in a streamed chunk;
    /// empty in a stream's last chunk, and without a tokenizer).
    text: String,
    index: u32,
    /// Always null: not computed.
    #[schema(value_type = Option<Object>)]
    logprobs: Option<()>,
    /// `length` (`max_tokens` shown), `stop` (the package's EOS id came),
    /// or null in a streamed token's chunk.
    finish_reason: Option<&'static str>,
}

/// Tokens read and shown.
#[derive(Serialize, ToSchema)]
struct Usage {
    prompt_tokens: usize,
    completion_tokens: usize,
    total_tokens: usize,
}

/// A streamed token: the chunk of a server-sent event.
#[derive(Serialize, ToSchema)]
pub(super) struct Chunk {
    #[serde(flatten)]
    head: Head,
    choices: Vec<Choice>,
    /// The token's id.
    token: u32,
}

/// The longest text prompt read, in bytes: far past any package's prompt
/// length in tokens.
const MAX_PROMPT_TEXT: usize = 64 << 10;

/// Fields that would change a completion, with their defaults: refused at
/// any other value.
const FIXED: [(&str, &str); 9] = [
    ("n", "1"),
    ("best_of", "1"),
    ("echo", "false"),
    ("logprobs", "null"),
    ("stop", "null"),
    ("suffix", "null"),
    ("presence_penalty", "0"),
    ("frequency_penalty", "0"),
    ("logit_bias", "null"),
];

/// `POST /v1/completions`: validates the prompt and parameters against the
/// package, then claims the generation (or finds its claim). With
/// `stream`, the answer is server-sent events: a `Chunk` per token as it is
/// made, then, once the claim is posted, the `Completion` (its text empty,
/// its `finish_reason` set), then `[DONE]`; an error after the stream
/// began comes as `{"error": …}` before `[DONE]`.
#[utoipa::path(post, path = "/v1/completions", request_body = CompletionRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "claimed by this post", body = Completion),
        (status = 200, description = "claimed before; or, with `stream`, the events (`text/event-stream`: `Chunk`s, then the `Completion`, then `[DONE]`)", body = Completion),
        (status = 400, description = "malformed JSON or model id, or no prompt", body = ErrorBody),
        (status = 401, description = "no or an unknown bearer token", body = ErrorBody),
        (status = 404, description = "a model not served", body = ErrorBody),
        (status = 413, description = "a body over 4 MiB"),
        (status = 422, description = "not a generation package; a prompt of the wrong length, an id outside the vocabulary, text without a tokenizer; a parameter out of range, for a greedy package, or not supported", body = ErrorBody),
        (status = 429, description = "over the token's rate", body = ErrorBody),
        (status = 502, description = "the chain refused or failed", body = ErrorBody),
        (status = 503, description = "the node has not read the chain yet", body = ErrorBody),
    ),
)]
pub(super) async fn post_completion(
    State(g): State<Arc<Gateway>>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let token = g.authenticate(&headers)?;
    let body: CompletionRequest = json_body(&bytes)?;
    fixed(&json_body(&bytes)?)?;
    let (model_id, model) = g.model(&body.model)?;
    let ir = &model.compiled.model;
    let generation = ir.generation.clone().ok_or_else(|| {
        unprocessable(
            "model",
            format!("model {model_id} is not a generation package: POST /v1/inferences asks it"),
        )
    })?;
    let text = g.texts.get(&model_id).cloned();
    let ids = prompt_ids(&body.prompt, text.as_deref())?;
    let sampling = sampling(&body, generation.sampled)?;
    let values = generation.input(ir, &ids, sampling).map_err(prompt_error)?;
    let made = generation.max_new_tokens();
    let max = match integer(&body.max_tokens, "max_tokens")? {
        None => made,
        Some(n) if (1..=made as u64).contains(&n) => n as usize,
        Some(_) => {
            return Err(unprocessable(
                "max_tokens",
                format!("this model makes {made} tokens: max_tokens must be from 1 to {made}"),
            ));
        }
    };
    let stream = match &body.stream {
        Value::Null => false,
        Value::Bool(b) => *b,
        _ => return Err(unprocessable("stream", "stream must be true or false")),
    };
    let question = g.admit(token, model_id, model, values)?;
    let answer = Answer {
        head: Head {
            id: question.id,
            object: "text_completion",
            created: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            model: model_id,
        },
        prompt_tokens: ids.len(),
        max,
        eos: generation.eos,
        text,
    };
    if stream {
        return Ok(answer.stream(g, question).into_response());
    }
    let (status, view) = claim(g, question, None).await?;
    Ok((status, axum::Json(answer.completion(view, false))).into_response())
}

fn unprocessable(field: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::field(StatusCode::UNPROCESSABLE_ENTITY, field, message)
}

/// Refuses a field of [`FIXED`] set to anything but its default.
fn fixed(body: &serde_json::Map<String, Value>) -> Result<(), ApiError> {
    for (field, default) in FIXED {
        let Some(v) = body.get(field) else { continue };
        let d: Value = serde_json::from_str(default).unwrap_or_default();
        let same = match (v.as_f64(), d.as_f64()) {
            (Some(a), Some(b)) => a == b,
            _ => {
                v == &d
                    || v.as_array().is_some_and(Vec::is_empty)
                    || v.as_object().is_some_and(serde_json::Map::is_empty)
            }
        };
        if !same {
            return Err(unprocessable(
                field,
                format!(
                    "{field} is not supported: a claim is of the package's own generation (leave it out or give {default})"
                ),
            ));
        }
    }
    Ok(())
}

/// An optional integer field, at most `u32::MAX`.
fn integer(v: &Value, field: &'static str) -> Result<Option<u64>, ApiError> {
    if v.is_null() {
        return Ok(None);
    }
    v.as_u64()
        .filter(|&n| n <= u64::from(u32::MAX))
        .map(Some)
        .ok_or_else(|| {
            unprocessable(
                field,
                format!("{field} must be an integer from 0 to {}", u32::MAX),
            )
        })
}

/// An optional number field.
fn number(v: &Value, field: &'static str) -> Result<Option<f32>, ApiError> {
    if v.is_null() {
        return Ok(None);
    }
    v.as_f64()
        .map(|x| Some(x as f32))
        .ok_or_else(|| unprocessable(field, format!("{field} must be a number")))
}

/// The prompt's token ids: text through the package's tokenizer, or ids.
fn prompt_ids(prompt: &Value, text: Option<&Text>) -> Result<Vec<f32>, ApiError> {
    let one = match prompt {
        Value::Array(a) if a.len() == 1 && (a[0].is_string() || a[0].is_array()) => &a[0],
        _ => prompt,
    };
    match one {
        Value::String(s) => {
            let text = text.ok_or_else(|| {
                unprocessable(
                    "prompt",
                    "this model carries no tokenizer: give the prompt as token ids",
                )
            })?;
            // Tokenizing is work done before the post counts against its
            // token's rate: bounded.
            if s.len() > MAX_PROMPT_TEXT {
                return Err(unprocessable(
                    "prompt",
                    format!("a text prompt holds at most {MAX_PROMPT_TEXT} bytes"),
                ));
            }
            let ids = text
                .encode(s)
                .map_err(|e| unprocessable("prompt", e.to_string()))?;
            Ok(ids.into_iter().map(|id| id as f32).collect())
        }
        Value::Array(ids) => ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                id.as_u64()
                    .filter(|&n| n <= u64::from(u32::MAX))
                    .map(|n| n as f32)
                    .ok_or_else(|| {
                        unprocessable(
                            "prompt",
                            format!("prompt token {i} is {id}, not a token id"),
                        )
                    })
            })
            .collect(),
        Value::Null => Err(ApiError::field(
            StatusCode::BAD_REQUEST,
            "prompt",
            "a prompt is needed: text or an array of token ids",
        )),
        _ => Err(unprocessable(
            "prompt",
            "a prompt is text or an array of token ids",
        )),
    }
}

/// The sampling parameters asked: none for a greedy package (which takes
/// temperature 0 at most), the given ones over the defaults for a sampled
/// one (their ranges are checked by [`Generation::input`]).
///
/// [`Generation::input`]: verdict_dnn::generation::Generation::input
fn sampling(body: &CompletionRequest, sampled: bool) -> Result<Option<Sampling>, ApiError> {
    let temperature = number(&body.temperature, "temperature")?;
    let top_p = number(&body.top_p, "top_p")?;
    let top_k = integer(&body.top_k, "top_k")?;
    let seed = integer(&body.seed, "seed")?;
    if sampled {
        let d = Sampling::default();
        return Ok(Some(Sampling {
            seed: seed.map_or(d.seed, |s| s as u32),
            temperature: temperature.unwrap_or(d.temperature),
            top_k: top_k.map_or(d.top_k, |k| k as u32),
            top_p: top_p.unwrap_or(d.top_p),
        }));
    }
    let asked = [
        ("temperature", temperature.is_some_and(|t| t != 0.0)),
        ("top_p", top_p.is_some_and(|p| p != 1.0)),
        ("top_k", top_k.is_some_and(|k| k != 0)),
        ("seed", seed.is_some()),
    ];
    match asked.into_iter().find(|&(_, asked)| asked) {
        Some((field, _)) => Err(unprocessable(
            field,
            "this model generates greedily: leave out temperature (or give 0), top_p, top_k and seed",
        )),
        None => Ok(None),
    }
}

/// A refused prompt or parameter, naming its field.
fn prompt_error(e: PromptError) -> ApiError {
    let field = match &e {
        PromptError::Length { .. } | PromptError::Token { .. } => "prompt",
        PromptError::Sampling { what, .. } => match *what {
            "top-k" => "top_k",
            "top-p" => "top_p",
            _ => "temperature",
        },
        PromptError::Greedy => "temperature",
    };
    unprocessable(field, e.to_string())
}

/// The tokens an answer shows of a generation's `output`: the first
/// `max`, cut before the first `eos`; and why they end (`finish_reason`).
fn shown(output: &[f32], max: usize, eos: Option<u32>) -> (Vec<u32>, &'static str) {
    let mut tokens = Vec::new();
    for token in output.iter().take(max).map(|&t| t as u32) {
        if Some(token) == eos {
            return (tokens, "stop");
        }
        tokens.push(token);
    }
    (tokens, "length")
}

/// What an answer to one completion request shows.
struct Answer {
    head: Head,
    prompt_tokens: usize,
    max: usize,
    eos: Option<u32>,
    text: Option<Arc<Text>>,
}

impl Answer {
    fn choice(text: String, finish_reason: Option<&'static str>) -> Vec<Choice> {
        vec![Choice {
            text,
            index: 0,
            logprobs: None,
            finish_reason,
        }]
    }

    /// The completion of the claim `view`, its text left empty if it was
    /// `streamed`.
    fn completion(&self, view: InferenceView, streamed: bool) -> Completion {
        let (tokens, finish) = shown(&view.output, self.max, self.eos);
        let text = match &self.text {
            Some(text) if !streamed => text.decode(&tokens).unwrap_or_default(),
            _ => String::new(),
        };
        Completion {
            head: self.head,
            choices: Answer::choice(text, Some(finish)),
            usage: Usage {
                prompt_tokens: self.prompt_tokens,
                completion_tokens: tokens.len(),
                total_tokens: self.prompt_tokens + tokens.len(),
            },
            claim_id: view.claim_id,
            tokens,
            inference: view,
        }
    }

    /// The events of a streamed answer to `q`: each token shown as it is
    /// made, then the completion once claimed, then `[DONE]`. The claim is
    /// made whether or not the client stays.
    fn stream(
        self,
        g: Arc<Gateway>,
        q: Question,
    ) -> Sse<impl Stream<Item = Result<Event, axum::Error>>> {
        let (events, received) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let (pieces, mut made) = mpsc::unbounded_channel::<Piece>();
            let sink = Sink {
                pieces,
                text: self.text.clone().map(TextStream::new),
            };
            let claimed = tokio::spawn(claim(g, q, Some(sink)));
            let mut shown = 0;
            let mut open = true;
            while let Some(piece) = made.recv().await {
                open &= shown < self.max && Some(piece.token) != self.eos;
                if open {
                    let chunk = Chunk {
                        head: self.head,
                        choices: Answer::choice(piece.text, None),
                        token: piece.token,
                    };
                    let _ = events.send(Event::default().json_data(chunk));
                    shown += 1;
                }
            }
            let last = match claimed.await {
                Ok(Ok((_, view))) => Event::default().json_data(self.completion(view, true)),
                Ok(Err(e)) => Event::default().json_data(ErrorBody {
                    error: e.message,
                    field: e.field,
                }),
                Err(e) => Event::default().json_data(ErrorBody {
                    error: e.to_string(),
                    field: None,
                }),
            };
            let _ = events.send(last);
            let _ = events.send(Ok(Event::default().data("[DONE]")));
        });
        let events = futures_util::stream::unfold(received, |mut received| async move {
            received.recv().await.map(|event| (event, received))
        });
        Sse::new(events).keep_alive(KeepAlive::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_tokens_stop_before_eos_or_at_max_tokens() {
        let output = [5.0, 7.0, 2.0, 2.0];
        assert_eq!(shown(&output, 4, Some(2)), (vec![5, 7], "stop"));
        assert_eq!(shown(&output, 1, Some(2)), (vec![5], "length"));
        assert_eq!(shown(&output, 4, None), (vec![5, 7, 2, 2], "length"));
        assert_eq!(shown(&output, 4, Some(5)), (vec![], "stop"));
    }

    #[test]
    fn fields_that_change_an_answer_take_only_their_defaults() {
        let body = |v: Value| v.as_object().unwrap().clone();
        let ok = serde_json::json!({"n": 1, "echo": false, "stop": [], "presence_penalty": 0.0,
                                    "logit_bias": {}, "user": "x"});
        assert!(fixed(&body(ok)).is_ok());
        for (field, value) in [
            ("n", serde_json::json!(2)),
            ("stop", serde_json::json!(["\n"])),
            ("logprobs", serde_json::json!(1)),
            ("frequency_penalty", serde_json::json!(0.5)),
        ] {
            let e = fixed(&body(serde_json::json!({ field: value }))).unwrap_err();
            assert_eq!(
                (e.status, e.field),
                (StatusCode::UNPROCESSABLE_ENTITY, Some(field))
            );
        }
    }
}
