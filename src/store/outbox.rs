//! The outbox: mail written in the same transaction as the change that
//! causes it, claimed by one worker at a time, sent, and retried with
//! exponential backoff until it is sent or has failed too often.

use chrono::Duration;
use diesel::prelude::*;

use super::{StoreError, StoreResult, now};
use crate::db::DbConn;
use crate::db::ids::{ApplyId, OutboxId, UserId};
use crate::db::models::OutboxMessage;
use crate::db::prepared;
use crate::db::schema::outbox as o;
use crate::db::stamp::At;

pub const PENDING: &str = "pending";
pub const SENT: &str = "sent";
pub const FAILED: &str = "failed";

/// Links in stored mail start with this; the worker puts the server's
/// `BASE_URL` in its place when sending, so the store needs no config.
pub const BASE: &str = "%BASE_URL%";

/// A message to send.
pub struct Mail<'a> {
    pub to_user: Option<UserId>,
    pub to_email: &'a str,
    pub subject: &'a str,
    pub text: &'a str,
    pub html: &'a str,
    pub kind: &'a str,
    pub apply: Option<ApplyId>,
}

pub fn enqueue(conn: &mut DbConn, mail: &Mail<'_>) -> StoreResult<()> {
    let at = now();
    crate::direct!(conn, |c| diesel::insert_into(o::table)
        .values((
            o::to_user_id.eq(mail.to_user),
            o::to_email.eq(mail.to_email),
            o::subject.eq(mail.subject),
            o::text_body.eq(mail.text),
            o::html_body.eq(mail.html),
            o::kind.eq(mail.kind),
            o::apply_id.eq(mail.apply),
            o::status.eq(PENDING),
            o::attempts.eq(0),
            o::next_attempt_at.eq(At(at)),
            o::created_at.eq(At(at)),
        ))
        .execute(c))?;
    Ok(())
}

/// Claims up to `limit` due messages for `worker` for `lease_secs`. Each
/// claim is a conditional update, so two workers (two server instances on
/// one PostgreSQL) never take the same message.
pub fn claim(
    conn: &mut DbConn,
    worker: &str,
    limit: i64,
    lease_secs: i64,
) -> StoreResult<Vec<OutboxMessage>> {
    let at = now();
    let due: Vec<OutboxMessage> = crate::direct!(conn, |c| o::table
        .filter(o::status.eq(PENDING))
        .filter(o::next_attempt_at.le(At(at)))
        .filter(o::claimed_until.is_null().or(o::claimed_until.lt(At(at))))
        .order(o::id)
        .limit(limit)
        .select(OutboxMessage::as_select())
        .load(c))?;
    let until = at + Duration::seconds(lease_secs);
    let mut claimed = Vec::new();
    for mut message in due {
        let n = crate::direct!(conn, |c| prepared::update(
            o::table
                .find(message.id)
                .filter(o::status.eq(PENDING))
                .filter(o::claimed_until.is_null().or(o::claimed_until.lt(At(at)))),
            (o::claimed_by.eq(worker), o::claimed_until.eq(At(until))),
        )
        .execute(c))?;
        // Another worker may have claimed it since the read; then it is theirs.
        if n == 1 {
            message.claimed_by = Some(worker.to_string());
            message.claimed_until = Some(until);
            claimed.push(message);
        }
    }
    Ok(claimed)
}

/// Removes one-click tokens from a sent message: the links were delivered,
/// and a stored copy must not be usable by whoever reads the table.
pub fn redact(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(i) = rest.find("/email/") {
        out.push_str(&rest[..i + "/email/".len()]);
        rest = &rest[i + "/email/".len()..];
        let token_len = rest.chars().take_while(|c| c.is_ascii_hexdigit()).count();
        if token_len > 0 {
            out.push('…');
        }
        rest = &rest[token_len..];
    }
    out.push_str(rest);
    out
}

/// Records a claimed message as sent, keeping its bodies as `redact`ed
/// by the caller (who has them from the claim).
pub fn mark_sent(
    conn: &mut DbConn,
    id: OutboxId,
    worker: &str,
    text_body: &str,
    html_body: &str,
) -> StoreResult<()> {
    crate::direct!(conn, |c| prepared::update(
        o::table.find(id).filter(o::claimed_by.eq(worker)),
        (
            o::status.eq(SENT),
            o::sent_at.eq(At(now())),
            o::attempts.eq(o::attempts + 1),
            o::claimed_until.eq(None::<At>),
            o::text_body.eq(text_body),
            o::html_body.eq(html_body),
        ),
    )
    .execute(c))?;
    Ok(())
}

/// The wait before attempt `n + 1`: 2^n seconds, at most an hour.
pub fn backoff(attempts: i32) -> Duration {
    Duration::seconds(2i64.saturating_pow(attempts.clamp(0, 12) as u32).min(3600))
}

/// Records a failed attempt at a claimed message that had been tried
/// `tried` times before, putting it back in line or giving it up.
pub fn mark_failed(
    conn: &mut DbConn,
    id: OutboxId,
    worker: &str,
    tried: i32,
    error: &str,
    max_attempts: i32,
) -> StoreResult<()> {
    let attempts = tried + 1;
    let status = if attempts >= max_attempts {
        FAILED
    } else {
        PENDING
    };
    crate::direct!(conn, |c| prepared::update(
        o::table.find(id).filter(o::claimed_by.eq(worker)),
        (
            o::status.eq(status),
            o::attempts.eq(attempts),
            o::next_attempt_at.eq(At(now() + backoff(attempts))),
            o::claimed_until.eq(None::<At>),
            o::last_error.eq(error.chars().take(500).collect::<String>()),
        ),
    )
    .execute(c))?;
    Ok(())
}

/// Pending and failed messages for the admins, newest first.
pub fn unsent(conn: &mut DbConn, limit: i64) -> StoreResult<Vec<OutboxMessage>> {
    Ok(o::table
        .filter(o::status.ne(SENT))
        .order(o::id.desc())
        .limit(limit)
        .select(OutboxMessage::as_select())
        .load(conn)?)
}

/// Puts a message back in line now.
pub fn retry(conn: &mut DbConn, id: OutboxId) -> StoreResult<()> {
    let n = diesel::update(o::table.find(id).filter(o::status.ne(SENT)))
        .set((
            o::status.eq(PENDING),
            o::next_attempt_at.eq(At(now())),
            o::claimed_until.eq(None::<At>),
        ))
        .execute(conn)?;
    if n == 0 {
        return Err(StoreError::rule("", "errors.already_sent"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sent_mail_keeps_its_links_but_not_their_tokens() {
        let body = "Approve: %BASE_URL%/email/0a1b2c3d4e5f?action=approve and /tickets/7";
        assert_eq!(
            redact(body),
            "Approve: %BASE_URL%/email/…?action=approve and /tickets/7"
        );
    }

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff(1), Duration::seconds(2));
        assert_eq!(backoff(3), Duration::seconds(8));
        assert_eq!(backoff(30), Duration::seconds(3600));
    }
}
