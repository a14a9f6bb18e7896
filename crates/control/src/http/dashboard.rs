//! The web dashboard: a page, one script and one stylesheet, embedded in the binary and served
//! at `/`, plus the two endpoints only it needs.
//!
//! | endpoint | what |
//! |---|---|
//! | `GET /`, `/dashboard.js`, `/dashboard.css` | the page (no token needed: it holds no data) |
//! | `GET /v1/cluster/history` | the last hour of figures, one point per node per round (see [`crate::history`]) |
//! | `GET /v1/dashboard/stream` | server-sent events: a `frame` every [`FRAME_EVERY`]: map, the last rebalance's progress, latest point, alerts |
//!
//! Everything else the page shows comes from the API it is a view over (`/v1/kv`,
//! `/v1/history/`, `/v1/rollback`, `/v1/audit`), called with the token the user typed.
//!
//! **Authentication of the live stream.** A browser's `EventSource` cannot send an
//! `Authorization` header, and putting the token in the URL would leave it in access logs,
//! history and `Referer`s. So the page reads the stream with `fetch()` and the response
//! body's `ReadableStream`, which sends the same `Authorization: Bearer` header as every other
//! call, and parses the `text/event-stream` frames itself (a few lines of script). The stream
//! stays behind the ordinary auth middleware, with the `read` role, like any other read;
//! the page reconnects after an error and shows a 401 as a request for a token.

use axum::extract::State;
use axum::http::header;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::StreamExt;
use serde_json::{Value, json};

use super::AppState;

/// How often the stream sends a frame.
pub const FRAME_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

const PAGE: &str = include_str!("dashboard/index.html");
const SCRIPT: &str = include_str!("dashboard/dashboard.js");
const STYLE: &str = include_str!("dashboard/dashboard.css");

pub async fn page(State(node): State<AppState>) -> Response {
    crate::history::ensure_started(&node);
    asset("text/html; charset=utf-8", PAGE)
}

pub async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

pub async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}

pub async fn history(State(node): State<AppState>) -> Json<Value> {
    crate::history::ensure_started(&node);
    Json(json!({ "interval_ms": crate::history::INTERVAL.as_millis() as u64, "points": node.history.points() }))
}

/// What one frame of the stream carries.
fn frame(node: &AppState) -> Value {
    let (revision, map, plan) = {
        let data = node.sm.data.read();
        (data.kv.revision(), crate::cluster_map::current(&data.kv).ok().flatten().map(|(_, m)| m), crate::cluster_map::rebalance_plan(&data.kv))
    };
    let rebalance = map.as_ref().zip(plan).map(|(map, plan)| json!({ "started_ms": plan.started_ms, "moves": plan.progress(map) }));
    json!({
        "revision": revision,
        "map": map,
        "rebalance": rebalance,
        "point": node.history.latest(),
        "alerts": crate::alerts::active(node).alerts,
        "leader": node.is_leader(),
    })
}

pub async fn stream(State(node): State<AppState>) -> Response {
    crate::history::ensure_started(&node);
    let tick = crate::node::ticker(FRAME_EVERY);
    let frames = futures::stream::unfold((node.clone(), tick), |(node, mut tick)| async move {
        tick.tick().await;
        let event = SseEvent::default().event("frame").json_data(frame(&node));
        Some((event, (node, tick)))
    })
    .take_until(node.cancel.clone().cancelled_owned());
    Sse::new(frames).keep_alive(KeepAlive::default()).into_response()
}
