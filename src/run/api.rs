//! The HTTP server of `run`: `/metrics` (Prometheus exposition), `/api/v1/slos` (the
//! report of `replay --format json`, evaluated now or `?at=`),
//! `/api/v1/slos/{name}/budget` (may a deploy ship, [`super::budget`]), `/healthz` and
//! `/readyz`.
//!
//! Evaluations lock the engine, so they run on the blocking pool, never on the async
//! threads that serve other requests.
//!
//! With `http.token_env`, every endpoint but the probes requires `Authorization: Bearer
//! <token>`: `/healthz` and `/readyz` stay open, because orchestrators probe without
//! credentials, and they tell no more than whether the process is up and caught up.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::Shared;
use super::reload::{ApprovalRefused, Reloader};
use crate::config::Secret;
use crate::decode::timestamp::{format_rfc3339, parse_rfc3339};
use crate::sink::prometheus::MetricsHandle;

#[derive(Clone)]
struct AppState {
    shared: Arc<Shared>,
    /// The reloader and its decision log, when run from a config file.
    decisions: Option<Arc<Reloader>>,
    metrics: MetricsHandle,
}

/// The bearer token every endpoint but the probes requires, and the count of requests
/// refused for lack of it.
pub struct Auth {
    pub token: Secret,
    pub unauthorized: metrics::Counter,
}

pub async fn serve(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    decisions: Option<Arc<Reloader>>,
    metrics: MetricsHandle,
    auth: Option<Auth>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    let mut protected = Router::new()
        .route("/metrics", get(metrics_text))
        .route("/api/v1/slos", get(slos))
        .route("/api/v1/slos/{name}/budget", get(budget))
        .route("/api/v1/alerts", get(alerts))
        .route("/api/v1/cluster", get(cluster))
        .route("/api/v1/config", get(config_info))
        .route("/api/v1/decisions", get(decision_log))
        .route("/api/v1/decisions/pending", get(pending))
        .route("/api/v1/decisions/{id}/approvals", post(approval));
    if let Some(auth) = auth {
        protected = protected.route_layer(middleware::from_fn_with_state(
            Arc::new(auth),
            require_token,
        ));
    }
    let probes = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready));
    let app = protected.merge(probes).with_state(AppState {
        shared,
        decisions,
        metrics,
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = stopped.wait_for(|stopped| *stopped).await;
        })
        .await
}

/// Passes a request that carries the token on; refuses any other with 401.
async fn require_token(State(auth): State<Arc<Auth>>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| bearer(value.as_bytes()));
    match given {
        Some(token) if auth.token.matches(token) => next.run(request).await,
        _ => {
            auth.unauthorized.increment(1);
            // RFC 6750: a token that was sent but is not the right one is `invalid_token`.
            let (challenge, message) = match given {
                None => (
                    r#"Bearer realm="slipstream""#,
                    "this endpoint needs `Authorization: Bearer <token>` (http.token_env)",
                ),
                Some(_) => (
                    r#"Bearer realm="slipstream", error="invalid_token""#,
                    "the bearer token is not the one in http.token_env",
                ),
            };
            let mut response = error(StatusCode::UNAUTHORIZED, message.into());
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
            response
        }
    }
}

/// The token of an `Authorization: Bearer <token>` value (the scheme in any case).
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case(b"bearer") || !rest.starts_with(b" ") {
        return None;
    }
    Some(rest.trim_ascii()).filter(|token| !token.is_empty())
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

/// `at=` of a query: `None` for now; the message of a 400 when it is not a time.
fn parse_at(at: Option<&str>) -> Result<Option<i64>, String> {
    match at.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => parse_rfc3339(text.as_bytes()).map(Some).ok_or_else(|| {
            format!("`at={text}` is not an RFC 3339 time such as 2026-11-21T12:00:00Z")
        }),
    }
}

/// May a deploy pipeline ship? 200 or 409 by the SLO's budget policy (docs/budgets.md).
async fn budget(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    let (ats, filters): (Vec<_>, Vec<_>) = params.into_iter().partition(|(k, _)| k == "at");
    if ats.len() > 1 {
        return error(StatusCode::BAD_REQUEST, "give `at` once".into());
    }
    let at_ms = match parse_at(ats.first().map(|(_, v)| v.as_str())) {
        Ok(at) => at,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let shared = state.shared.clone();
    let answered = tokio::task::spawn_blocking(move || {
        let refused = |r: super::budget::Refusal| {
            let status = StatusCode::from_u16(r.status()).unwrap_or(StatusCode::NOT_FOUND);
            (status, r.to_string())
        };
        let config = shared.config();
        let label_names: Vec<Vec<String>> = config
            .slos
            .iter()
            .map(|s| s.label_names(&config.events))
            .collect();
        let selection = super::budget::select(
            &config.slos,
            &label_names,
            &config.composites,
            &name,
            &filters,
        )
        .map_err(refused)?;
        let report = shared
            .evaluate(at_ms)
            .map_err(|e| (StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
        let (may_ship, body) = super::budget::answer(&selection, &report).map_err(refused)?;
        let body = serde_json::to_vec(&body)
            .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        let status = if may_ship {
            StatusCode::OK
        } else {
            StatusCode::CONFLICT
        };
        Ok((status, body))
    })
    .await;
    match answered {
        Ok(Ok((status, body))) => {
            (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        Ok(Err((status, message))) => error(status, message),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

#[derive(Deserialize)]
struct SlosQuery {
    /// RFC 3339; default: now, per the configured clock.
    at: Option<String>,
    /// With scale_out: `local` for this instance's series only; the default is the
    /// whole picture, from every live instance.
    scope: Option<String>,
}

async fn slos(State(state): State<AppState>, Query(query): Query<SlosQuery>) -> Response {
    let at_ms = match parse_at(query.at.as_deref()) {
        Ok(at) => at,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let local = match query.scope.as_deref() {
        None => false,
        Some("local") => true,
        Some(other) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("scope `{other}` is unknown; use `local`, or leave it out"),
            );
        }
    };
    if let (Some((peers, _)), false) = (&state.shared.scale, local) {
        let shared = state.shared.clone();
        let at = match at_ms {
            Some(at) => at,
            None => match tokio::task::spawn_blocking(move || {
                let engine = shared.engine.lock();
                shared.now_ms(&engine)
            })
            .await
            {
                Ok(at) => at,
                Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            },
        };
        let order: Vec<String> = state
            .shared
            .config()
            .slos
            .iter()
            .map(|s| s.name.clone())
            .collect();
        let at = crate::decode::timestamp::format_rfc3339(at);
        let merged = peers.whole_picture(&at, &order, super::wall_ms()).await;
        return axum::Json(merged).into_response();
    }
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

/// With scale_out: this instance, and the live ones with the partitions they own.
async fn cluster(State(state): State<AppState>) -> Response {
    match &state.shared.scale {
        None => error(
            StatusCode::NOT_FOUND,
            "this instance runs alone (no `scale_out` section)".into(),
        ),
        Some((peers, _)) => axum::Json(serde_json::json!({
            "instance": peers.me,
            "instances": peers.live(super::wall_ms()),
        }))
        .into_response(),
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

/// The running config: which file (and its SHA-256) it was loaded from, when, and the
/// effective definition of every SLO.
async fn config_info(State(state): State<AppState>) -> Response {
    let shared = &state.shared;
    let config = shared.config();
    let reloads = &shared.reloads;
    let file = reloads
        .file
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let loaded = reloads.last_success_unix_ms.load(Ordering::Relaxed);
    let slos: Vec<serde_json::Value> = config
        .slos
        .iter()
        .map(|slo| {
            let mut d = crate::config::definition::definition(slo, &config.events);
            d["name"] = slo.name.clone().into();
            d
        })
        .collect();
    let body = serde_json::json!({
        "file": file.as_ref().map(|(path, _)| path.display().to_string()),
        "sha256": file.as_ref().map(|(_, hash)| hash.clone()),
        "loaded_at": (loaded > 0).then(|| format_rfc3339(loaded as i64)),
        "reloads": {
            "applied": reloads.applied.load(Ordering::Relaxed),
            "rejected": reloads.rejected.load(Ordering::Relaxed),
        },
        "slos": slos,
    });
    axum::Json(body).into_response()
}

#[derive(Deserialize)]
struct DecisionsQuery {
    slo: Option<String>,
    limit: Option<usize>,
}

/// Entries a `GET /api/v1/decisions` returns unless `?limit=` says otherwise.
const DEFAULT_LIMIT: usize = 1000;

/// The decision log, newest last: of one SLO with `?slo=`, at most `?limit=` entries.
async fn decision_log(
    State(state): State<AppState>,
    Query(query): Query<DecisionsQuery>,
) -> Response {
    let Some(reloader) = state.decisions else {
        return no_log();
    };
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    let entries = reloader.decisions(query.slo.as_deref(), limit);
    let log = reloader.log_path().map(|p| p.display().to_string());
    axum::Json(serde_json::json!({ "log": log, "decisions": entries })).into_response()
}

/// The changes waiting for approvals, each with the payload to sign and its id.
async fn pending(State(state): State<AppState>) -> Response {
    let Some(reloader) = state.decisions else {
        return no_log();
    };
    let config = state.shared.config();
    let quorum = config.decisions.governance.as_ref().map(|g| g.quorum);
    axum::Json(serde_json::json!({ "quorum": quorum, "pending": reloader.pending() }))
        .into_response()
}

#[derive(Deserialize)]
struct ApprovalBody {
    approver: String,
    signature: String,
}

/// An approver's signature of a pending change: counted once it verifies; the change is
/// applied when it completes the quorum.
async fn approval(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<axum::Json<ApprovalBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Some(reloader) = state.decisions else {
        return no_log();
    };
    let body = match body {
        Ok(axum::Json(body)) => body,
        Err(e) => {
            let message = format!("expected JSON {{ \"approver\": …, \"signature\": … }}: {e}");
            return error(StatusCode::BAD_REQUEST, message);
        }
    };
    let approved = tokio::task::spawn_blocking(move || {
        reloader.approve(id.trim(), body.approver.trim(), &body.signature)
    })
    .await;
    match approved {
        Ok(Ok(entry)) => axum::Json(entry).into_response(),
        Ok(Err(refused)) => {
            tracing::warn!("approval refused: {refused}");
            let status = match &refused {
                ApprovalRefused::NoGovernance => StatusCode::BAD_REQUEST,
                ApprovalRefused::Refused(e) => match e {
                    crate::decisions::ApproveError::NotPending(_) => StatusCode::NOT_FOUND,
                    crate::decisions::ApproveError::Invalid(_) => StatusCode::BAD_REQUEST,
                    crate::decisions::ApproveError::Twice(_) => StatusCode::CONFLICT,
                },
                ApprovalRefused::Reload(_) => StatusCode::INTERNAL_SERVER_ERROR,
            };
            error(status, refused.to_string())
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

fn no_log() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "the decision log needs `slipstream run --config FILE`".into(),
    )
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

#[cfg(test)]
mod tests {
    use super::bearer;

    #[test]
    fn bearer_takes_the_token_after_the_scheme() {
        assert_eq!(bearer(b"Bearer abc"), Some(&b"abc"[..]));
        assert_eq!(bearer(b"bearer   abc "), Some(&b"abc"[..]));
        assert_eq!(bearer(b"Basic abc"), None);
        assert_eq!(bearer(b"Bearerabc"), None);
        assert_eq!(bearer(b"Bearer "), None);
        assert_eq!(bearer(b"Bear"), None);
    }
}
