//! The outbox: mail written in the same transaction as the change that
//! causes it (a ticket's notice as what its words need, composed by the
//! worker when it is sent), claimed by one worker at a time, recorded as sent the moment
//! the mail server accepts it, and retried with capped exponential backoff
//! for a configurable period (a day by default) before it is marked failed.

use chrono::Duration;
use diesel::prelude::*;

use super::{StoreError, StoreResult, now};
use crate::db::DbConn;
use crate::db::ids::{ApplyId, ApproveId, OutboxId, UserId};
use crate::db::models::OutboxMessage;
use crate::db::one_of::{Constant, is, one_of};
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

/// A ticket's notice, as its change's transaction writes it: whom it goes
/// to (and for whom, when they stand in), about what, and the one-click
/// link's token when it asks for a decision. The mail worker composes its
/// words in the recipient's language when it sends it.
pub struct Notice<'a> {
    pub to_user: UserId,
    pub to_email: &'a str,
    pub for_user: Option<UserId>,
    /// The event (`NotifyEvent::as_str`).
    pub kind: &'a str,
    pub apply: ApplyId,
    pub node: Option<ApproveId>,
    pub comment: &'a str,
    pub link_token: Option<String>,
}

/// A notice as its row is written.
pub(super) type MailRow = (
    (
        diesel::dsl::Eq<o::to_user_id, Option<UserId>>,
        diesel::dsl::Eq<o::to_email, String>,
        diesel::dsl::Eq<o::subject, &'static str>,
        diesel::dsl::Eq<o::text_body, &'static str>,
        diesel::dsl::Eq<o::html_body, &'static str>,
        diesel::dsl::Eq<o::kind, String>,
        diesel::dsl::Eq<o::apply_id, Option<ApplyId>>,
        diesel::dsl::Eq<o::node_id, Option<ApproveId>>,
    ),
    (
        diesel::dsl::Eq<o::for_user_id, Option<UserId>>,
        diesel::dsl::Eq<o::comment, String>,
        diesel::dsl::Eq<o::link_token, Option<String>>,
        diesel::dsl::Eq<o::composed, bool>,
        diesel::dsl::Eq<o::status, &'static str>,
        diesel::dsl::Eq<o::attempts, i32>,
        diesel::dsl::Eq<o::next_attempt_at, At>,
        diesel::dsl::Eq<o::created_at, At>,
    ),
);

/// Writes a ticket's notice, to be worded and sent by the mail worker: at
/// once, or with the rest of the action holding its rows (`held::Held`).
pub fn enqueue_notice(conn: &mut DbConn, notice: &Notice<'_>) -> StoreResult<()> {
    let at = now();
    let row: MailRow = (
        (
            o::to_user_id.eq(Some(notice.to_user)),
            o::to_email.eq(notice.to_email.to_string()),
            o::subject.eq(""),
            o::text_body.eq(""),
            o::html_body.eq(""),
            o::kind.eq(notice.kind.to_string()),
            o::apply_id.eq(Some(notice.apply)),
            o::node_id.eq(notice.node),
        ),
        (
            o::for_user_id.eq(notice.for_user),
            o::comment.eq(notice.comment.to_string()),
            o::link_token.eq(notice.link_token.clone()),
            o::composed.eq(false),
            o::status.eq(PENDING),
            o::attempts.eq(0),
            o::next_attempt_at.eq(At(at)),
            o::created_at.eq(At(at)),
        ),
    );
    if let Some(row) = super::held::mail(row) {
        crate::direct!(conn, |c| diesel::insert_into(o::table)
            .values(row)
            .execute(c))?;
    }
    Ok(())
}

/// `'pending'` written into the claim's SQL, so PostgreSQL's plan of the
/// prepared claim finds the few waiting messages by the index on status
/// (see `db::one_of::is`).
struct Waiting;

impl Constant for Waiting {
    const SQL: &'static str = "'pending'";
}

const _: () = assert!(matches!(PENDING.as_bytes(), b"pending"));

/// Claims up to `limit` due messages for `worker` for `lease_secs`, oldest
/// first: their ids read, then a conditional update of those ids that
/// re-checks each row, so two workers (two server instances on one
/// PostgreSQL) never take the same message — the second finds the first's
/// claim and takes nothing of it. Two statements rather than one with
/// `id IN (subquery)`: PostgreSQL's kept plan of that one, made while the
/// outbox was small, compared every waiting message with every due one.
/// On PostgreSQL the ids are read by a statement planned afresh each time
/// (boxed, so diesel does not keep it): a plan kept from an empty outbox
/// reads the whole table, one made now finds the waiting few by the index
/// on status and id. SQLite plans by its indexes, so it keeps the
/// statement.
pub fn claim(
    conn: &mut DbConn,
    worker: &str,
    limit: i64,
    lease_secs: i64,
) -> StoreResult<Vec<OutboxMessage>> {
    let at = now();
    let until = at + Duration::seconds(lease_secs);
    let due = o::table
        .filter(is::<Waiting, _>(o::status))
        .filter(o::next_attempt_at.le(At(at)))
        .filter(o::claimed_until.is_null().or(o::claimed_until.lt(At(at))))
        .order(o::id)
        .limit(limit)
        .select(o::id);
    let due: Vec<i32> = match conn {
        DbConn::Pg(pg) => due.into_boxed().load(pg)?,
        DbConn::Sqlite(lite) => due.load(lite)?,
    };
    if due.is_empty() {
        return Ok(Vec::new());
    }
    let mut claimed: Vec<OutboxMessage> = crate::direct!(conn, |c| crate::db::prepared::update(
        o::table
            .filter(one_of(o::id, due.iter().copied()))
            .filter(is::<Waiting, _>(o::status))
            .filter(o::claimed_until.is_null().or(o::claimed_until.lt(At(at)))),
        (o::claimed_by.eq(worker), o::claimed_until.eq(At(until))),
    )
    .returning(OutboxMessage::as_returning())
    .get_results(c))?;
    claimed.sort_by_key(|m| m.id);
    Ok(claimed)
}

/// Hands back what `worker` claimed and has not sent: at a stop, and when
/// a server starts again under the same name after a crash, so its
/// claims need not lapse first.
pub fn release(conn: &mut DbConn, worker: &str) -> StoreResult<usize> {
    Ok(crate::direct!(conn, |c| diesel::update(
        o::table
            .filter(o::claimed_by.eq(worker))
            .filter(o::status.eq(PENDING))
            .filter(o::claimed_until.is_not_null()),
    )
    .set(o::claimed_until.eq(None::<At>))
    .execute(c))?)
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

/// One claim of one message: whose, and until when. An outcome is recorded
/// only while that very claim holds, so a message whose claim lapsed and
/// was taken again (by another instance, or by this one) is recorded by
/// its new claim alone.
pub struct Claim<'a> {
    pub id: OutboxId,
    pub worker: &'a str,
    pub until: chrono::NaiveDateTime,
}

/// A message as sent: its words (`redact`ed by the caller, who has them
/// from composing or from the claim), and, when it carried a one-click
/// link, how long that link stays valid from now.
pub struct Sent<'a> {
    pub subject: &'a str,
    pub text_body: &'a str,
    pub html_body: &'a str,
    pub link: Option<(&'a str, Duration)>,
}

/// Records a claimed message as sent, keeping its words and forgetting
/// its link's token; the link's lifetime starts now.
pub fn mark_sent(conn: &mut DbConn, claim: &Claim<'_>, sent: &Sent<'_>) -> StoreResult<()> {
    let at = now();
    let recorded = crate::direct!(conn, |c| prepared::update(
        o::table
            .find(claim.id)
            .filter(o::claimed_by.eq(claim.worker))
            .filter(o::claimed_until.eq(At(claim.until))),
        (
            o::status.eq(SENT),
            o::sent_at.eq(At(at)),
            o::attempts.eq(o::attempts + 1),
            o::claimed_until.eq(None::<At>),
            o::subject.eq(sent.subject),
            o::text_body.eq(sent.text_body),
            o::html_body.eq(sent.html_body),
            o::link_token.eq(None::<String>),
            o::composed.eq(true),
        ),
    )
    .execute(c))?;
    if let (1, Some((token, ttl))) = (recorded, sent.link) {
        super::links::start_lifetime(conn, token, at + ttl)?;
    }
    Ok(())
}

/// Records claimed messages as sent, as `mark_sent` does one: `sent` are
/// each message's claim (id and until, all by `worker`) and words. On
/// PostgreSQL the messages are one statement (their values as arrays,
/// `unnest`ed, so its text and its five values are the same whatever their
/// number; diesel plans a raw statement afresh each time) and
/// their links' lifetimes another; SQLite, with no round trips to save,
/// records them one by one.
pub fn mark_all_sent(
    conn: &mut DbConn,
    worker: &str,
    sent: &[(OutboxId, chrono::NaiveDateTime, Sent<'_>)],
) -> StoreResult<()> {
    let DbConn::Pg(pg) = conn else {
        for (id, until, words) in sent {
            let claim = Claim {
                id: *id,
                worker,
                until: *until,
            };
            mark_sent(conn, &claim, words)?;
        }
        return Ok(());
    };
    if sent.is_empty() {
        return Ok(());
    }
    use diesel::sql_types::{Array, Integer, Text, Timestamp};
    #[derive(diesel::QueryableByName)]
    struct Recorded {
        #[diesel(sql_type = Integer)]
        id: i32,
    }
    let at = now();
    let recorded: Vec<Recorded> = diesel::sql_query(
        "UPDATE outbox SET status = $1, sent_at = $2, attempts = outbox.attempts + 1, \
         claimed_until = NULL, subject = v.subject, text_body = v.text_body, \
         html_body = v.html_body, link_token = NULL, composed = TRUE \
         FROM unnest($4::int4[], $5::timestamp[], $6::text[], $7::text[], $8::text[]) \
         AS v(id, until, subject, text_body, html_body) \
         WHERE outbox.id = v.id AND outbox.claimed_by = $3 AND outbox.claimed_until = v.until \
         RETURNING outbox.id",
    )
    .bind::<Text, _>(SENT)
    .bind::<Timestamp, _>(at)
    .bind::<Text, _>(worker)
    .bind::<Array<Integer>, _>(sent.iter().map(|(id, ..)| id.0).collect::<Vec<i32>>())
    .bind::<Array<Timestamp>, _>(sent.iter().map(|(_, until, _)| *until).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(sent.iter().map(|(.., w)| w.subject).collect::<Vec<&str>>())
    .bind::<Array<Text>, _>(
        sent.iter()
            .map(|(.., w)| w.text_body)
            .collect::<Vec<&str>>(),
    )
    .bind::<Array<Text>, _>(
        sent.iter()
            .map(|(.., w)| w.html_body)
            .collect::<Vec<&str>>(),
    )
    .load(pg)?;
    // The links of those recorded (a lapsed claim's message is another
    // worker's now), by lifetime.
    let mut links: Vec<(Duration, &str)> = sent
        .iter()
        .filter(|(id, ..)| recorded.iter().any(|r| r.id == id.0))
        .filter_map(|(.., w)| w.link.map(|(token, ttl)| (ttl, token)))
        .collect();
    links.sort_unstable();
    for group in links.chunk_by(|a, b| a.0 == b.0) {
        let tokens: Vec<&str> = group.iter().map(|(_, token)| *token).collect();
        super::links::start_lifetimes(conn, &tokens, at + group[0].0)?;
    }
    Ok(())
}

/// The longest wait between two attempts.
pub const MAX_BACKOFF_SECS: i64 = 600;

/// The wait before attempt `n + 1`: 2^n seconds, at most ten minutes.
pub fn backoff(attempts: i32) -> Duration {
    Duration::seconds(
        2i64.saturating_pow(attempts.clamp(0, 12) as u32)
            .min(MAX_BACKOFF_SECS),
    )
}

/// Records a failed attempt at a claimed message that had been tried
/// `tried` times before: put back in line after its backoff, or marked
/// failed when `give_up` (the mail server refused it for good, or it has
/// been retried for as long as it may be).
pub fn mark_failed(
    conn: &mut DbConn,
    claim: &Claim<'_>,
    tried: i32,
    error: &str,
    give_up: bool,
) -> StoreResult<()> {
    let attempts = tried + 1;
    let status = if give_up { FAILED } else { PENDING };
    let recorded = crate::direct!(conn, |c| prepared::update(
        o::table
            .find(claim.id)
            .filter(o::claimed_by.eq(claim.worker))
            .filter(o::claimed_until.eq(At(claim.until))),
        (
            o::status.eq(status),
            o::attempts.eq(attempts),
            o::next_attempt_at.eq(At(now() + backoff(attempts))),
            o::claimed_until.eq(None::<At>),
            o::last_error.eq(error.chars().take(500).collect::<String>()),
        ),
    )
    .execute(c))?;
    // The link of a notice given up on is of use to nobody (a copy the
    // mail server took before a crash included): it ends now, and its
    // token is forgotten; sent again by an administrator, the notice
    // goes without one-click links.
    if give_up && recorded == 1 {
        let token: Option<String> = o::table.find(claim.id).select(o::link_token).first(conn)?;
        if let Some(token) = token {
            super::links::start_lifetime(conn, &token, now())?;
            diesel::update(o::table.find(claim.id))
                .set(o::link_token.eq(None::<String>))
                .execute(conn)?;
        }
    }
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

/// Puts a message back in line now, with a fresh retry period: a failed
/// one, or a pending one no worker is sending just now (a live claim is
/// left alone, or it would be sent twice).
pub fn retry(conn: &mut DbConn, id: OutboxId) -> StoreResult<()> {
    let at = now();
    let unclaimed = o::claimed_until.is_null().or(o::claimed_until.lt(At(at)));
    let n = diesel::update(
        o::table.find(id).filter(
            o::status
                .eq(FAILED)
                .or(o::status.eq(PENDING).and(unclaimed)),
        ),
    )
    .set((
        o::status.eq(PENDING),
        o::next_attempt_at.eq(At(at)),
        o::claimed_until.eq(None::<At>),
        o::retry_since.eq(At(at)),
    ))
    .execute(conn)?;
    if n == 0 {
        let status: String = o::table.find(id).select(o::status).first(conn)?;
        let key = if status == SENT {
            "errors.already_sent"
        } else {
            "errors.mail_being_sent"
        };
        return Err(StoreError::rule("", key));
    }
    Ok(())
}

/// Puts every failed message back in line now (after an outage longer
/// than the retry period); returns how many.
pub fn retry_failed(conn: &mut DbConn) -> StoreResult<usize> {
    let at = now();
    Ok(diesel::update(o::table.filter(o::status.eq(FAILED)))
        .set((
            o::status.eq(PENDING),
            o::next_attempt_at.eq(At(at)),
            o::claimed_until.eq(None::<At>),
            o::retry_since.eq(At(at)),
        ))
        .execute(conn)?)
}

/// How the mail is doing, for `/healthz` and the admin page.
#[derive(Debug, Clone, Default)]
pub struct Health {
    /// Messages waiting to be sent, counted up to `HEALTH_COUNT_CAP`.
    pub pending: i64,
    /// When the oldest waiting message was written.
    pub oldest_pending: Option<chrono::NaiveDateTime>,
    /// Messages given up on, counted up to `HEALTH_COUNT_CAP`.
    pub failed: i64,
}

/// How far `health` counts; a backlog beyond it costs no more to read.
pub const HEALTH_COUNT_CAP: i64 = 100_000;

pub fn health(conn: &mut DbConn) -> StoreResult<Health> {
    let count = |conn: &mut DbConn, status: &'static str| -> StoreResult<i64> {
        Ok(prepared::count_of(
            o::table
                .filter(o::status.eq(status))
                .select(o::id)
                .limit(HEALTH_COUNT_CAP),
        )
        .get_result(conn)?)
    };
    let oldest_pending = o::table
        .filter(o::status.eq(PENDING))
        .order(o::id)
        .select(o::created_at)
        .first(conn)
        .optional()?;
    Ok(Health {
        pending: count(conn, PENDING)?,
        oldest_pending,
        failed: count(conn, FAILED)?,
    })
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
    fn backoff_doubles_up_to_ten_minutes() {
        assert_eq!(backoff(1), Duration::seconds(2));
        assert_eq!(backoff(3), Duration::seconds(8));
        assert_eq!(backoff(9), Duration::seconds(512));
        assert_eq!(backoff(10), Duration::seconds(600));
        assert_eq!(backoff(30), Duration::seconds(600));
    }
}
