//! The HTTP server of `run`: `/metrics` (Prometheus exposition), `/api/v1/slos` (the
//! report of `replay --format json`, evaluated now or `?at=`), `/healthz` and `/readyz`.
//!
//! Evaluations lock the engine, so they run on the blocking pool, never on the async
//! threads that serve other requests.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Deserialize;

use super::Shared;
use crate::decode::timestamp::parse_rfc3339;

#[derive(Clone)]
struct AppState {
    shared: Arc<Shared>,
    metrics: PrometheusHandle,
}

pub async fn serve(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    metrics: PrometheusHandle,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(metrics_text))
        .route("/api/v1/slos", get(slos))
        .route("/api/v1/alerts", get(alerts))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .with_state(AppState { shared, metrics });
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = stopped.wait_for(|stopped| *stopped).await;
        })
        .await
}

async fn metrics_text(State(state): State<AppState>) -> Response {
    let text = state.metrics.render();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

#[derive(Deserialize)]
struct SlosQuery {
    /// RFC 3339; default: now, per the configured clock.
    at: Option<String>,
}

async fn slos(State(state): State<AppState>, Query(query): Query<SlosQuery>) -> Response {
    let at_ms = match query.at.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => match parse_rfc3339(text.as_bytes()) {
            Some(ms) => Some(ms),
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("`at={text}` is not an RFC 3339 time such as 2026-11-21T12:00:00Z"),
                );
            }
        },
    };
    let shared = state.shared.clone();
    let evaluated = tokio::task::spawn_blocking(move || shared.evaluate(at_ms)).await;
    match evaluated {
        Ok(Ok(report)) => match serde_json::to_vec(&report) {
            Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
            Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        },
        Ok(Err(e)) => error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// Every alert that is not inactive, as of the last evaluation.
async fn alerts(State(state): State<AppState>) -> Response {
    let body = {
        let book = state
            .shared
            .alerts
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let at = state
            .shared
            .latest
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|r| crate::decode::timestamp::format_rfc3339(r.at_ms));
        serde_json::to_vec(&serde_json::json!({ "at": at, "alerts": book.active() }))
    };
    match body {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn ready(State(state): State<AppState>) -> Response {
    match state.shared.status.ready() {
        Ok(()) => "ready\n".into_response(),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        )
            .into_response(),
    }
}

fn error(status: StatusCode, message: String) -> Response {
    let body = serde_json::json!({ "error": message });
    (status, axum::Json(body)).into_response()
}
