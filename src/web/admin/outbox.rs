//! Admin: mail not yet sent — pending (with its attempts and last error)
//! and failed — how long the oldest has waited, and buttons to send one or
//! every failed message again now.

use actix_web::{HttpResponse, web};
use askama::Template;

use crate::db::ids::OutboxId;
use crate::db::models::OutboxMessage;
use crate::store::outbox;
use crate::web::csrf::{CsrfForm, NoFields};
use crate::web::ctx::{Ctx, FlashKind, see_other};
use crate::web::{AppError, AppState, render};

#[derive(Template)]
#[template(path = "admin/outbox.html")]
struct OutboxPage {
    ctx: Ctx,
    rows: Vec<OutboxMessage>,
    health: outbox::Health,
    now: chrono::NaiveDateTime,
}

impl OutboxPage {
    /// The subject, or for a ticket's notice not yet worded (that happens
    /// as it is sent, in the recipient's language) what it is about.
    fn subject(&self, m: &OutboxMessage) -> String {
        if m.composed {
            return m.subject.clone();
        }
        let event = self.ctx.t(&format!("event.{}", m.kind)).into_owned();
        let ticket = m.apply_id.map(|a| a.0.to_string()).unwrap_or_default();
        self.ctx.tf(
            "outbox.uncomposed",
            &[("event", &event), ("ticket", &ticket)],
        )
    }

    /// How long the oldest waiting message has waited, in words.
    fn oldest_waiting(&self) -> Option<String> {
        let waited = self.now - self.health.oldest_pending?;
        let (n, unit) = if waited.num_days() >= 2 {
            (waited.num_days(), "outbox.days")
        } else if waited.num_hours() >= 2 {
            (waited.num_hours(), "outbox.hours")
        } else if waited.num_minutes() >= 2 {
            (waited.num_minutes(), "outbox.minutes")
        } else {
            (waited.num_seconds().max(0), "outbox.seconds")
        };
        Some(self.ctx.tf(unit, &[("n", &n.to_string())]))
    }
}

pub async fn list(ctx: Ctx, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let (rows, health) = state
        .db
        .read(|c| Ok((outbox::unsent(c, 500)?, outbox::health(c)?)))
        .await?;
    let now = state.db.now();
    render(&OutboxPage {
        ctx,
        rows,
        health,
        now,
    })
}

/// Puts every failed message back in line (after an outage longer than
/// the retry period).
pub async fn retry_failed(
    ctx: Ctx,
    state: web::Data<AppState>,
    _f: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let n = state.db.write(outbox::retry_failed).await?;
    ctx.flash(
        FlashKind::Success,
        ctx.tf("flash.mail_retry_failed", &[("n", &n.to_string())]),
    );
    Ok(see_other("/admin/outbox"))
}

pub async fn retry(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    _f: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let id = OutboxId(path.into_inner());
    let outcome = state.db.write(move |c| outbox::retry(c, id)).await;
    ctx.flash_outcome(outcome, "flash.mail_retry")?;
    Ok(see_other("/admin/outbox"))
}
