//! `/metrics` in Prometheus' text format (`crate::metrics`), behind a
//! bearer token when `METRICS_TOKEN` is set, and `measure`, the middleware
//! that counts and times every request by its route's pattern. What waits
//! in the database is read aside (`Db::read_aside`), so scraping moves
//! neither `countersign_db_statements_total` nor the transactions the
//! ticket benchmark reads before and after each phase.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, web};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{AppError, AppState};
use crate::metrics::{CONTENT_TYPE, Metrics, UNMATCHED};

pub async fn metrics(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    if let Some(token) = &state.config.metrics_token
        && !bearer_is(&req, token)
    {
        return Ok(HttpResponse::Unauthorized()
            .insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"metrics\""))
            .content_type("text/plain; charset=utf-8")
            .body("a bearer token is required\n"));
    }
    let backlog = state.db.read_aside(crate::store::backlog::read).await?;
    let readings = crate::metrics::Readings {
        backlog,
        ..state.db.readings()
    };
    let text = state
        .db
        .metrics()
        .encode(&readings)
        .map_err(|e| AppError::Unexpected(anyhow::anyhow!("encoding the metrics: {e}")))?;
    Ok(HttpResponse::Ok().content_type(CONTENT_TYPE).body(text))
}

/// Whether the request carries `Authorization: Bearer <token>`. Both
/// sides are hashed first and compared in constant time, so the answer's
/// timing says nothing of the token, not even its length.
fn bearer_is(req: &HttpRequest, token: &str) -> bool {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or_default();
    let (presented, expected) = (
        Sha256::digest(presented.as_bytes()),
        Sha256::digest(token.as_bytes()),
    );
    !token.is_empty() && bool::from(presented.as_slice().ct_eq(expected.as_slice()))
}

/// Counts and times each request (`Metrics::request`), labelled by the
/// pattern of the route that served it (`/tickets/{id}`, never the
/// address asked for) or `unmatched`. It wraps every other middleware,
/// so the time is the whole answer's and error pages are counted with
/// the status they went out with.
pub async fn measure(
    metrics: std::sync::Arc<Metrics>,
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().clone();
    let res = next.call(req).await;
    let took = started.elapsed();
    match &res {
        Ok(res) => {
            let route = res.request().match_pattern();
            metrics.request(
                method.as_str(),
                route.as_deref().unwrap_or(UNMATCHED),
                res.status().as_u16(),
                took,
            );
        }
        // A middleware failed before any route answered.
        Err(e) => metrics.request(
            method.as_str(),
            UNMATCHED,
            e.as_response_error().status_code().as_u16(),
            took,
        ),
    }
    res
}
