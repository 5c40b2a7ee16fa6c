//! What an API request sent with an `Idempotency-Key` answered, kept per
//! person and key in the request's own transaction: a retry gets the first
//! answer and changes nothing, and a key sent again with a different
//! request is told so rather than answered for the other one.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use super::{StoreError, StoreResult};
use crate::db::DbConn;
use crate::db::ids::UserId;
use crate::db::schema::idempotency_keys as k;
use crate::db::stamp::At;

/// An answer kept for a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    /// The fingerprint of the request that was answered.
    pub request_hash: String,
    pub status: u16,
    pub body: String,
}

/// The answer kept for `user`'s `key`, if one is.
pub fn find(conn: &mut DbConn, user: UserId, key: &str) -> StoreResult<Option<Kept>> {
    let row: Option<(String, i32, String)> = crate::direct!(conn, |c| k::table
        .filter(k::user_id.eq(user))
        .filter(k::key.eq(key))
        .select((k::request_hash, k::status, k::body))
        .first(c)
        .optional())?;
    Ok(row.map(|(request_hash, status, body)| Kept {
        request_hash,
        status: u16::try_from(status).unwrap_or(500),
        body,
    }))
}

/// Keeps `kept` as the answer to `user`'s `key`. A request with the same
/// key that got there first is `StoreError::Rule` `api.idempotency_raced`:
/// the caller's transaction rolls back, and the first answer is read again.
pub fn keep(
    conn: &mut DbConn,
    user: UserId,
    key: &str,
    kept: &Kept,
    now: NaiveDateTime,
) -> StoreResult<()> {
    let row = (
        k::user_id.eq(user),
        k::key.eq(key),
        k::request_hash.eq(&kept.request_hash),
        k::status.eq(i32::from(kept.status)),
        k::body.eq(&kept.body),
        k::created_at.eq(At(now)),
    );
    // A key is a retry's, not an archive's: the person's answers older
    // than a day are forgotten as a new one is kept.
    let stale = now - chrono::Duration::hours(KEPT_HOURS);
    crate::direct!(conn, |c| diesel::delete(
        k::table
            .filter(k::user_id.eq(user))
            .filter(k::created_at.lt(At(stale)))
    )
    .execute(c))?;
    crate::direct!(conn, |c| diesel::insert_into(k::table)
        .values(row)
        .execute(c))
    .map_err(|e| match e {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
            StoreError::rule("", RACED)
        }
        other => other.into(),
    })?;
    Ok(())
}

/// How long an answer is kept for a retry.
pub const KEPT_HOURS: i64 = 24;

/// The rule a second request with a key in flight meets.
pub const RACED: &str = "api.idempotency_raced";
