//! Node-to-node endpoints: Raft RPC and calls forwarded to the leader. Bodies are MessagePack;
//! the answer is always HTTP 200 with a MessagePack `Result`, so the caller can tell a remote
//! Raft error (which openraft must see) from a transport failure.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

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

fn bad_body(e: rmp_serde::decode::Error) -> Response {
    (StatusCode::BAD_REQUEST, format!("bad MessagePack body: {e}")).into_response()
}

pub async fn append(State(node): State<AppState>, body: Bytes) -> Response {
    match decode(&body) {
        Ok(rpc) => reply(&node.raft.append_entries(rpc).await),
        Err(e) => bad_body(e),
    }
}

pub async fn vote(State(node): State<AppState>, body: Bytes) -> Response {
    match decode(&body) {
        Ok(rpc) => reply(&node.raft.vote(rpc).await),
        Err(e) => bad_body(e),
    }
}

pub async fn snapshot(State(node): State<AppState>, body: Bytes) -> Response {
    match decode(&body) {
        Ok(rpc) => reply(&node.raft.install_snapshot(rpc).await),
        Err(e) => bad_body(e),
    }
}

pub async fn forward(State(node): State<AppState>, body: Bytes) -> Response {
    match decode::<Forwarded>(&body) {
        Ok(fwd) => {
            let result: Result<_, ApiError> = node.leader_call(fwd.call, fwd.hops).await;
            reply(&result)
        }
        Err(e) => bad_body(e),
    }
}
