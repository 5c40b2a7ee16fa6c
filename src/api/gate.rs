//! `GET /api/v1/changes/{serial}/gate`: what a deploy pipeline asks
//! before it deploys. 200 only while the change is approved and now lies
//! inside its change window; otherwise 409 with the reason as a code
//! (`not_approved`, `before_window`, `after_window`, `withdrawn`, …) and
//! in words. A change the token's person may not see is a 404.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::bearer::Bearer;
use super::problem::Problem;
use crate::store::{gate, users};
use crate::web::AppState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WindowOut {
    /// UTC.
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GateOpen {
    pub serial: String,
    pub ticket: i32,
    /// Always `open` here; a shut gate is a 409 problem.
    pub gate: &'static str,
    pub status: &'static str,
    pub window: WindowOut,
    /// What the gate was checked against (UTC).
    pub checked_at: DateTime<Utc>,
}

#[utoipa::path(
    get,
    path = "/api/v1/changes/{serial}/gate",
    operation_id = "change_gate",
    tag = "changes",
    summary = "May this change be deployed now?",
    description = "200 only while the change is approved and now lies inside its change window; otherwise 409 with the reason as a code (not_approved, before_window, after_window, withdrawn, rejected, sent_back, no_window, frozen: inside a hard freeze, emergencies excepted) and in words.",
    params(
        ("serial" = String, Path, description = "The change's serial, e.g. CHG-20261205-0001"),
    ),
    responses(
        (status = 200, description = "The gate is open", body = GateOpen),
        (status = 400, description = "A query or body that does not parse", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No token, or one unknown, expired, revoked or whose person was deactivated", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The gate is shut; type names why", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not there, or not there for this person", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable for the moment", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
pub async fn check(
    bearer: Bearer,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let lang = bearer.lang;
    let serial = path.into_inner();
    let me = bearer.user;
    let now = state.db.now();
    let found = state
        .db
        .read(move |c| {
            let admin = users::is_admin(c, me)?;
            gate::gate(c, serial.trim(), me, admin, now)
        })
        .await
        .map_err(|e| Problem::from_store(e, lang))?
        .ok_or_else(|| Problem::new(StatusCode::NOT_FOUND, "not_found", lang))?;
    let window = found.window.map(|(start, end)| WindowOut {
        start: start.and_utc(),
        end: end.and_utc(),
    });
    match found.verdict {
        Ok(()) => Ok(HttpResponse::Ok().json(GateOpen {
            serial: found.serial,
            ticket: found.apply.0,
            gate: "open",
            status: found.status.as_str(),
            window: window.unwrap_or(WindowOut {
                start: now.and_utc(),
                end: now.and_utc(),
            }),
            checked_at: now.and_utc(),
        })),
        Err(shut) => {
            let code = shut.code();
            let at = |t: DateTime<Utc>| format!("{} UTC", t.format("%Y-%m-%d %H:%M"));
            let (start, end) = window
                .as_ref()
                .map(|w| (at(w.start), at(w.end)))
                .unwrap_or_default();
            let zh = lang == crate::i18n::Lang::ZhCn;
            let freeze = found
                .freeze
                .as_ref()
                .map(|h| {
                    (
                        h.freeze.name.text(zh).to_string(),
                        h.freeze.when(h.occurrence),
                    )
                })
                .unwrap_or_default();
            let words = lang.tf(
                &format!("api.gate.{code}"),
                &[
                    ("serial", &found.serial),
                    ("start", &start),
                    ("end", &end),
                    ("freeze", &freeze.0),
                    ("freeze_when", &freeze.1),
                ],
            );
            let mut problem = Problem::new(StatusCode::CONFLICT, code, lang)
                .with_detail(words)
                .with_member("serial", serde_json::json!(found.serial))
                .with_member("ticket", serde_json::json!(found.apply.0))
                .with_member("status", serde_json::json!(found.status.as_str()))
                .with_member("checked_at", serde_json::json!(now.and_utc()));
            if let Some(window) = window {
                problem = problem.with_member("window", serde_json::json!(window));
            }
            if let Some(hit) = &found.freeze {
                problem = problem.with_member(
                    "freeze",
                    serde_json::json!({
                        "id": hit.freeze.id,
                        "name": hit.freeze.name.text(zh),
                        "start": hit.occurrence.0.and_utc(),
                        "end": hit.occurrence.1.and_utc(),
                    }),
                );
            }
            Err(problem)
        }
    }
}
