//! The HTTP ceiling of this machine for the benchmark: an axum handler that only
//! parses the JSON body and answers 202, with none of the service behind it.
//! Prints the address it listens on, then serves until killed.

use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

async fn accept(Json(body): Json<Value>) -> (StatusCode, Json<Value>) {
    let kind = body.get("type").cloned().unwrap_or(Value::Null);
    (
        StatusCode::ACCEPTED,
        Json(json!({"id": "bare", "token": "bare", "status": "PENDING", "type": kind})),
    )
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("{}", listener.local_addr()?);
    axum::serve(listener, Router::new().route("/v1/events", post(accept))).await
}
