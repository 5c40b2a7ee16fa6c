//! Sign-in throttling: failed attempts per username within a window.

use chrono::Duration;
use diesel::prelude::*;

use super::{StoreResult, now};
use crate::db::DbConn;
use crate::db::schema::sign_in_failures as f;
use crate::db::stamp::At;

/// Failures allowed in the window before sign-in for that name is refused.
pub const MAX_FAILURES: i64 = 5;
/// How far back failures count.
pub const WINDOW_MINUTES: i64 = 15;

/// Whether this username has failed too often recently.
pub fn is_throttled(conn: &mut DbConn, username: &str) -> StoreResult<bool> {
    let since = now() - Duration::minutes(WINDOW_MINUTES);
    let count: i64 = f::table
        .filter(f::username.eq(username))
        .filter(f::at.gt(At(since)))
        .count()
        .get_result(conn)?;
    Ok(count >= MAX_FAILURES)
}

pub fn record_failure(conn: &mut DbConn, username: &str) -> StoreResult<()> {
    let at = now();
    // Old rows only matter for the window; drop them as we go.
    diesel::delete(f::table.filter(f::at.lt(At(at - Duration::minutes(WINDOW_MINUTES)))))
        .execute(conn)?;
    diesel::insert_into(f::table)
        .values((f::username.eq(username), f::at.eq(At(at))))
        .execute(conn)?;
    Ok(())
}

pub fn clear(conn: &mut DbConn, username: &str) -> StoreResult<()> {
    diesel::delete(f::table.filter(f::username.eq(username))).execute(conn)?;
    Ok(())
}
