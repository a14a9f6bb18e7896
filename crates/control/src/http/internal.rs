//! Node-to-node endpoints: Raft RPC and calls forwarded to the leader. Bodies are MessagePack;
//! the answer is always HTTP 200 with a MessagePack `Result`, so the caller can tell a remote
//! Raft error (which openraft must see) from a transport failure.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::AppState;
use crate::error::ApiError;
use crate::node::Forwarded;
use crate::raft::{MSGPACK, decode, encode};

fn reply<T: Serialize>(value: &T) -> Response {
    match encode(value) {
        Ok(bytes) => ([(header::CONTENT_TYPE, MSGPACK)], bytes).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

fn request<T: DeserializeOwned>(body: &[u8]) -> Result<T, Response> {
    decode(body).map_err(|e| (StatusCode::BAD_REQUEST, format!("bad MessagePack body: {e}")).into_response())
}

pub async fn append(State(node): State<AppState>, body: Bytes) -> Response {
    match request(&body) {
        Ok(rpc) => reply(&node.raft.append_entries(rpc).await),
        Err(resp) => resp,
    }
}

pub async fn vote(State(node): State<AppState>, body: Bytes) -> Response {
    match request(&body) {
        Ok(rpc) => reply(&node.raft.vote(rpc).await),
        Err(resp) => resp,
    }
}

pub async fn snapshot(State(node): State<AppState>, body: Bytes) -> Response {
    match request(&body) {
        Ok(rpc) => reply(&node.raft.install_snapshot(rpc).await),
        Err(resp) => resp,
    }
}

pub async fn forward(State(node): State<AppState>, body: Bytes) -> Response {
    match request::<Forwarded>(&body) {
        Ok(fwd) => {
            let result: Result<_, ApiError> = node.leader_call(fwd.call, fwd.hops).await;
            reply(&result)
        }
        Err(resp) => resp,
    }
}
