//! Static assets, compiled into the binary so one file deploys everything,
//! and the health check.

use actix_web::http::header;
use actix_web::{HttpResponse, web};

use super::AppState;
use crate::store::outbox;

const APP_CSS: &str = include_str!("../../static/app.css");
const APP_JS: &str = include_str!("../../static/app.js");

pub async fn css() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(APP_CSS)
}

/// The small script that makes some pages handier (each works without it).
pub async fn js() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(APP_JS)
}

/// For load balancers, monitoring and the test harness: `ok` when the
/// process is up and its database answers, then how the mail is doing
/// (messages waiting and given up on, and how old the oldest waiting one
/// is), one `name value` a line. 503 when the database does not answer.
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    match state.db.read(outbox::health).await {
        Ok(mail) => {
            let oldest = mail
                .oldest_pending
                .map_or(0, |at| (state.db.now() - at).num_seconds().max(0));
            HttpResponse::Ok().content_type("text/plain").body(format!(
                "ok\nmail_pending {}\nmail_failed {}\nmail_oldest_pending_seconds {oldest}\n",
                mail.pending, mail.failed
            ))
        }
        Err(e) => {
            tracing::warn!(error = %e, "health check: the database did not answer");
            HttpResponse::ServiceUnavailable()
                .content_type("text/plain")
                .body("database unavailable\n")
        }
    }
}
