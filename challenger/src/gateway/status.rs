//! The node's status for its operator: `GET /v1/status` as JSON, and `GET
//! /`, a page that shows it and refreshes itself every two seconds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy_primitives::Address;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use verdict_contracts::bindings::ClaimManager;

use super::{ApiError, ErrorBody, Gateway, ModelView};
use crate::records::{ClaimView, GameView, Record};
use crate::store::Role;

/// Claims and games the status shows at most, newest first.
const SHOWN: usize = 20;

/// How long a status read from the chain is served again.
const STATUS_FRESH: Duration = Duration::from_secs(1);

/// What the node holds and does.
#[derive(Serialize, ToSchema)]
pub(super) struct Status {
    /// The node's account.
    #[schema(value_type = String)]
    account: Address,
    /// Its balance, in wei (a decimal string).
    balance: String,
    /// Wei the manager holds for it to withdraw (`verdict withdraw`):
    /// bonds back, fees, challengers' bonds won.
    credit: String,
    /// Ether earned in request fees since the node started.
    fees_earned_ether: f64,
    /// The latest block.
    block: u64,
    /// Its time, Unix seconds.
    timestamp: u64,
    /// The models served.
    models: Vec<ModelView>,
    /// The node's latest claims, newest first.
    claims: Vec<ClaimView>,
    /// The games it plays, newest first: the open ones with their
    /// bisection's range and clocks.
    games: Vec<GameRow>,
}

/// A game the node plays.
#[derive(Serialize, ToSchema)]
struct GameRow {
    #[serde(flatten)]
    game: GameView,
    /// The node's side: `defender` or `challenger`.
    role: &'static str,
    /// Moves the node made.
    moves: u32,
    /// Gas its moves used.
    gas: u64,
}

/// `GET /v1/status`: the node's account, funds, models, latest claims and
/// games, as the chain has them now.
#[utoipa::path(get, path = "/v1/status", responses(
    (status = 200, body = Status),
    (status = 502, description = "the chain cannot be read", body = ErrorBody),
))]
pub(super) async fn status(State(g): State<Arc<Gateway>>) -> Result<Response, ApiError> {
    // One read at a time, served again while fresh: any number of readers
    // cost the chain one read a second.
    let mut cached = g.status.lock().await;
    let body = match &*cached {
        Some((at, body)) if at.elapsed() < STATUS_FRESH => body.clone(),
        _ => {
            let status = read(&g).await?;
            let body =
                Bytes::from(serde_json::to_vec(&status).map_err(|e| {
                    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
                })?);
            *cached = Some((Instant::now(), body.clone()));
            body
        }
    };
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// The status as the chain has it now.
async fn read(g: &Gateway) -> Result<Status, ApiError> {
    let chain = &g.chain;
    let account = chain.account();
    let unreadable =
        |e: anyhow::Error| ApiError::new(StatusCode::BAD_GATEWAY, format!("the chain: {e}"));
    let (block, timestamp) = (chain.block_number().await?, chain.timestamp().await?);
    let credit = chain
        .view(g.manager, &ClaimManager::creditCall { account })
        .await?;
    let record = g.record.borrow().clone();
    let mut claims = Vec::new();
    let mut games = Vec::new();
    if let Some(record) = record {
        let mine = record.claims.iter().rev();
        for (&id, _) in mine.filter(|(_, c)| c.submitter == account).take(SHOWN) {
            let view = ClaimView::at(chain, g.manager, id, timestamp).await;
            claims.extend(view.map_err(unreadable)?);
        }
        for (&id, played) in record.games.iter().rev().take(SHOWN) {
            let view = GameView::at(chain, g.manager, id, timestamp).await;
            games.extend(view.map_err(unreadable)?.map(|game| GameRow {
                game,
                role: match played.role {
                    Role::Defender => "defender",
                    Role::Challenger => "challenger",
                },
                moves: played.moves,
                gas: played.gas,
            }));
        }
    }
    Ok(Status {
        account,
        balance: chain.balance(account).await?.to_string(),
        credit: credit.to_string(),
        fees_earned_ether: g.metrics.fees_earned(),
        block,
        timestamp,
        models: g.model_views(),
        claims,
        games,
    })
}

/// `GET /`: the status page (HTML; its script reads `/v1/status`).
#[utoipa::path(get, path = "/", responses(
    (status = 200, description = "the page", body = String, content_type = "text/html"),
))]
pub(super) async fn page() -> Html<&'static str> {
    Html(include_str!("status.html"))
}
