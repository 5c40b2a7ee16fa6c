//! The audit trail for auditors: events with their places in their
//! chains and their hashes, filtered and read in pages, as CSV or JSON
//! Lines rows that can be re-verified outside countersign (the fields a
//! hash covers are given exactly as hashed: `chain::canonical`).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::StoreResult;
use crate::db::DbConn;
use crate::db::ids::UserId;
use crate::db::schema::{applies as a, audit_events as e, users as u};
use crate::db::states::{Channel, TicketEvent};

/// The events a decision records: who approved, rejected, sent back,
/// completed, handed over or added people, and what countersign approved
/// for someone who had approved before.
pub const DECISIONS: [TicketEvent; 7] = [
    TicketEvent::Approved,
    TicketEvent::Rejected,
    TicketEvent::SentBack,
    TicketEvent::Completed,
    TicketEvent::AutoApproved,
    TicketEvent::HandedOver,
    TicketEvent::ApproversAdded,
];

/// Which events to export. Times are UTC, `from` inclusive, `until`
/// exclusive.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub from: Option<NaiveDateTime>,
    pub until: Option<NaiveDateTime>,
    /// One ticket's events (its id).
    pub ticket: Option<i32>,
    /// Events by this person (acting themselves or for someone).
    pub actor: Option<UserId>,
    /// Decisions only (`DECISIONS`), else every event.
    pub decisions: bool,
}

/// One exported event.
#[derive(Debug, Clone, Serialize)]
pub struct Exported {
    pub id: i32,
    /// As hashed: `YYYY-MM-DD HH:MM:SS.ffffff`, UTC.
    pub at: String,
    pub actor_id: Option<i32>,
    pub actor: Option<String>,
    pub on_behalf_of_id: Option<i32>,
    pub on_behalf_of: Option<String>,
    pub channel: String,
    pub action: String,
    pub subject_type: String,
    pub subject_id: Option<i32>,
    pub apply_id: Option<i32>,
    /// The ticket's serial number.
    pub ticket: Option<String>,
    /// The stored JSON text, exactly as hashed.
    pub detail: String,
    pub chain: Option<i32>,
    pub seq: Option<i32>,
    pub prev_hash: Option<String>,
    pub hash: Option<String>,
}

type Row = (
    (
        i32,
        NaiveDateTime,
        Option<UserId>,
        Option<UserId>,
        Channel,
        String,
        String,
        Option<i32>,
        Option<i32>,
        String,
    ),
    (Option<i32>, Option<i32>, Option<String>, Option<String>),
    Option<String>,
    Option<String>,
    Option<String>,
);

/// Up to `limit` events matching `filter` with ids above `after`, in the
/// order they were written.
pub fn page(
    conn: &mut DbConn,
    filter: &Filter,
    after: i32,
    limit: i64,
) -> StoreResult<Vec<Exported>> {
    let (actors, deputies) = diesel::alias!(u as actors, u as deputies);
    let mut query = e::table
        .left_join(actors.on(e::actor_id.eq(actors.field(u::id).nullable())))
        .left_join(deputies.on(e::on_behalf_of_id.eq(deputies.field(u::id).nullable())))
        .left_join(a::table.on(e::apply_id.eq(a::id.nullable())))
        .filter(e::id.gt(after))
        .order(e::id)
        .limit(limit)
        .select((
            (
                e::id,
                e::at,
                e::actor_id,
                e::on_behalf_of_id,
                e::channel,
                e::action,
                e::subject_type,
                e::subject_id,
                e::apply_id,
                e::detail,
            ),
            (e::chain, e::seq, e::prev_hash, e::hash),
            actors.field(u::username).nullable(),
            deputies.field(u::username).nullable(),
            a::serial.nullable(),
        ))
        .into_boxed();
    if let Some(from) = filter.from {
        query = query.filter(e::at.ge(crate::db::stamp::At(from)));
    }
    if let Some(until) = filter.until {
        query = query.filter(e::at.lt(crate::db::stamp::At(until)));
    }
    if let Some(ticket) = filter.ticket {
        query = query.filter(e::apply_id.eq(ticket));
    }
    if let Some(actor) = filter.actor {
        query = query.filter(e::actor_id.eq(actor).or(e::on_behalf_of_id.eq(actor)));
    }
    if filter.decisions {
        query = query.filter(e::action.eq_any(DECISIONS.map(|d| d.as_str())));
    }
    let rows: Vec<Row> = query.load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(
                (
                    id,
                    at,
                    actor_id,
                    on_behalf_of_id,
                    channel,
                    action,
                    subject_type,
                    subject_id,
                    apply_id,
                    detail,
                ),
                (chain, seq, prev_hash, hash),
                actor,
                on_behalf_of,
                ticket,
            )| Exported {
                id,
                at: at.format("%Y-%m-%d %H:%M:%S%.6f").to_string(),
                actor_id: actor_id.map(|u| u.0),
                actor,
                on_behalf_of_id: on_behalf_of_id.map(|u| u.0),
                on_behalf_of,
                channel: channel.as_str().to_string(),
                action,
                subject_type,
                subject_id,
                apply_id,
                ticket,
                detail,
                chain,
                seq,
                prev_hash,
                hash,
            },
        )
        .collect())
}

/// The ticket whose serial number is `serial`, for a filter.
pub fn ticket_by_serial(conn: &mut DbConn, serial: &str) -> StoreResult<Option<i32>> {
    Ok(crate::direct!(conn, |c| a::table
        .filter(a::serial.eq(serial.trim()))
        .select(a::id)
        .first::<crate::db::ids::ApplyId>(c)
        .optional())?
    .map(|id| id.0))
}

/// The CSV header, the fields in the order `csv_line` writes them.
pub const CSV_HEADER: &str = "id,at,actor_id,actor,on_behalf_of_id,on_behalf_of,channel,action,\
subject_type,subject_id,apply_id,ticket,detail,chain,seq,prev_hash,hash";

/// One event as a CSV line (RFC 4180, ending in CRLF). The fields a hash
/// covers are written exactly; the names beside them (people, ticket
/// serial) that a spreadsheet could take for a formula start with `'`.
pub fn csv_line(row: &Exported) -> String {
    let num = |v: Option<i32>| v.map(|n| n.to_string()).unwrap_or_default();
    let shown = |v: &Option<String>| quoted(&defused(v.as_deref().unwrap_or_default()));
    let exact = |v: &str| quoted(v);
    let mut line = [
        row.id.to_string(),
        exact(&row.at),
        num(row.actor_id),
        shown(&row.actor),
        num(row.on_behalf_of_id),
        shown(&row.on_behalf_of),
        exact(&row.channel),
        exact(&row.action),
        exact(&row.subject_type),
        num(row.subject_id),
        num(row.apply_id),
        shown(&row.ticket),
        exact(&row.detail),
        num(row.chain),
        num(row.seq),
        exact(row.prev_hash.as_deref().unwrap_or_default()),
        exact(row.hash.as_deref().unwrap_or_default()),
    ]
    .join(",");
    line.push_str("\r\n");
    line
}

/// One event as a line of JSON Lines.
pub fn json_line(row: &Exported) -> String {
    let mut line = serde_json::to_string(row).expect("plain fields serialize");
    line.push('\n');
    line
}

fn defused(value: &str) -> String {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_string()
    }
}

fn quoted(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> Exported {
        Exported {
            id: 9,
            at: "2026-12-06 21:46:13.123456".into(),
            actor_id: Some(3),
            actor: Some("=cmd".into()),
            on_behalf_of_id: None,
            on_behalf_of: None,
            channel: "email_link".into(),
            action: "assignment.approved".into(),
            subject_type: "apply".into(),
            subject_id: Some(4),
            apply_id: Some(4),
            ticket: Some("CHG-20261206-0001".into()),
            detail: r#"{"comment":"ok, \"go\""}"#.into(),
            chain: Some(4),
            seq: Some(2),
            prev_hash: Some("ab".into()),
            hash: Some("cd".into()),
        }
    }

    #[test]
    fn a_csv_line_quotes_the_detail_exactly_and_defuses_names_only() {
        assert_eq!(
            csv_line(&row()),
            "9,2026-12-06 21:46:13.123456,3,'=cmd,,,email_link,assignment.approved,apply,4,4,\
             CHG-20261206-0001,\"{\"\"comment\"\":\"\"ok, \\\"\"go\\\"\"\"\"}\",4,2,ab,cd\r\n"
        );
        assert_eq!(CSV_HEADER.split(',').count(), 17);
    }

    #[test]
    fn a_json_line_is_one_object_with_the_detail_as_text() {
        let line = json_line(&row());
        assert!(line.ends_with('\n') && !line.trim_end().contains('\n'));
        let back: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(back["detail"], r#"{"comment":"ok, \"go\""}"#);
        assert_eq!(back["on_behalf_of_id"], serde_json::Value::Null);
        assert_eq!(back["seq"], 2);
    }
}
