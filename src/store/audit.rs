//! The audit trail: who did what, for whom, through which channel, when.

use diesel::prelude::*;

use super::chain::Pending;
use super::{StoreResult, now};
use crate::db::DbConn;
use crate::db::ids::UserId;
use crate::db::models::AuditEvent;
use crate::db::schema::audit_events;

pub use crate::db::states::Channel;

/// One event to record.
pub struct Audit<'a> {
    pub actor: Option<UserId>,
    pub on_behalf_of: Option<UserId>,
    pub channel: Channel,
    pub action: &'a str,
    pub subject_type: &'a str,
    pub subject_id: Option<i32>,
    /// The ticket the event belongs to, for its timeline.
    pub apply_id: Option<i32>,
    pub detail: serde_json::Value,
}

impl<'a> Audit<'a> {
    /// An action by `actor` on the web, about one subject.
    pub fn web(actor: UserId, action: &'a str, subject_type: &'a str, subject_id: i32) -> Self {
        Audit {
            actor: Some(actor),
            on_behalf_of: None,
            channel: Channel::Web,
            action,
            subject_type,
            subject_id: Some(subject_id),
            apply_id: None,
            detail: serde_json::Value::Object(Default::default()),
        }
    }

    /// An action by `actor` on the web, or by countersign itself (the
    /// directory sync, say) when there is no actor.
    pub fn by(
        actor: Option<UserId>,
        action: &'a str,
        subject_type: &'a str,
        subject_id: i32,
    ) -> Self {
        match actor {
            Some(actor) => Audit::web(actor, action, subject_type, subject_id),
            None => Audit {
                actor: None,
                channel: Channel::System,
                ..Audit::web(UserId(0), action, subject_type, subject_id)
            },
        }
    }

    pub fn with_detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = detail;
        self
    }
}

/// An event as it is held until written (`chain::link` gives it its
/// place in its chain then).
pub(super) fn row(event: Audit<'_>) -> Pending {
    Pending {
        at: super::chain::to_micros(now()),
        actor_id: event.actor,
        on_behalf_of_id: event.on_behalf_of,
        channel: event.channel,
        action: event.action.to_string(),
        subject_type: event.subject_type.to_string(),
        subject_id: event.subject_id,
        apply_id: event.apply_id,
        detail: event.detail.to_string(),
    }
}

/// Records an event: at once, or with the rest of the action holding its
/// rows (`held::Held`). Either way it takes the next place in its
/// ticket's hash chain (`chain`) when written.
/// A ticket event is also handed to the webhooks that want it, written
/// with it.
pub fn record(conn: &mut DbConn, event: Audit<'_>) -> StoreResult<()> {
    let noticed = super::webhooks::notice(conn, &event)?;
    if let Some(row) = super::held::event(row(event)) {
        let (rows, heads) = super::chain::link(conn, vec![row], &[])?;
        for row in &rows {
            crate::direct!(conn, |c| diesel::insert_into(audit_events::table)
                .values(row)
                .execute(c))?;
        }
        super::chain::write_heads(conn, &heads)?;
    }
    if let Some(noticed) = noticed.and_then(super::held::hook) {
        super::webhooks::enqueue(conn, vec![noticed])?;
    }
    Ok(())
}

/// The newest events about one subject, newest first.
pub fn for_subject(
    conn: &mut DbConn,
    subject_type: &str,
    subject_id: i32,
    limit: i64,
) -> StoreResult<Vec<AuditEvent>> {
    Ok(audit_events::table
        .filter(audit_events::subject_type.eq(subject_type))
        .filter(audit_events::subject_id.eq(subject_id))
        .order(audit_events::id.desc())
        .limit(limit)
        .select(AuditEvent::as_select())
        .load(conn)?)
}
