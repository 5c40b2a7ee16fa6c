//! Sign-in throttling, as OWASP describes it: attempts are counted per
//! username from one address (a burst from one place stops there, and the
//! person can still sign in from their own desk) and, with a slower limit,
//! per username from anywhere (many addresses guessing one password).
//! Each attempt is counted before its password is checked, in one
//! transaction that locks the counters, so parallel guesses cannot slip
//! past the limit while the hashes are being computed.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use super::{StoreResult, now};
use crate::db::DbConn;
use crate::db::prepared;
use crate::db::schema::sign_in_throttle as t;
use crate::db::stamp::At;

/// How many attempts a window allows.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub attempts: i32,
    pub window_minutes: i64,
}

/// One username from one address.
pub const PER_ADDRESS: Limit = Limit {
    attempts: 5,
    window_minutes: 15,
};

/// One username from anywhere: slower, and higher than one address can
/// reach in its windows of the hour (4 × 5 = 20), so one address never
/// locks the person out elsewhere, while many addresses together are
/// still held back.
pub const PER_NAME: Limit = Limit {
    attempts: 50,
    window_minutes: 60,
};

fn address_key(username: &str, address: &str) -> String {
    format!("a:{username}|{address}")
}

fn name_key(username: &str) -> String {
    format!("u:{username}")
}

/// A counter row, locked for the rest of the transaction, in one
/// statement: created when missing, else "updated" to itself, which on
/// PostgreSQL takes the row's lock (SQLite's writer holds the database's).
fn locked(conn: &mut DbConn, key: &str, at: NaiveDateTime) -> StoreResult<(NaiveDateTime, i32)> {
    Ok(crate::direct!(conn, |c| diesel::insert_into(t::table)
        .values((
            t::key.eq(key),
            t::window_start.eq(At(at)),
            t::attempts.eq(0)
        ))
        .on_conflict(t::key)
        .do_update()
        .set(t::attempts.eq(t::attempts))
        .returning((t::window_start, t::attempts))
        .get_result::<(NaiveDateTime, i32)>(c))?)
}

/// The attempts a counter holds in the window that includes `at`.
fn in_window(row: (NaiveDateTime, i32), limit: Limit, at: NaiveDateTime) -> i32 {
    let (start, attempts) = row;
    if at - start >= Duration::minutes(limit.window_minutes) {
        0
    } else {
        attempts
    }
}

/// Counts one more attempt on `key`, starting a new window if the last one
/// has passed.
fn count(
    conn: &mut DbConn,
    key: &str,
    row: (NaiveDateTime, i32),
    limit: Limit,
    at: NaiveDateTime,
) -> StoreResult<()> {
    let (start, attempts) = row;
    let fresh = at - start >= Duration::minutes(limit.window_minutes);
    let (start, attempts) = if fresh {
        (at, 1)
    } else {
        (start, attempts + 1)
    };
    crate::direct!(conn, |c| prepared::update(
        t::table.find(key),
        (t::window_start.eq(At(start)), t::attempts.eq(attempts)),
    )
    .execute(c))?;
    Ok(())
}

/// Asks to check a password for `username` from `address`: `false` when
/// either limit is reached (the password must not be checked), else the
/// attempt is counted against both and `true`. Refused attempts are not
/// counted, so a burst from one address stops at its own limit and never
/// uses up the username's.
pub fn begin(conn: &mut DbConn, username: &str, address: &str) -> StoreResult<bool> {
    let at = now();
    let (by_address, by_name) = (address_key(username, address), name_key(username));
    let address_row = locked(conn, &by_address, at)?;
    let name_row = locked(conn, &by_name, at)?;
    let allowed = in_window(address_row, PER_ADDRESS, at) < PER_ADDRESS.attempts
        && in_window(name_row, PER_NAME, at) < PER_NAME.attempts;
    if allowed {
        count(conn, &by_address, address_row, PER_ADDRESS, at)?;
        count(conn, &by_name, name_row, PER_NAME, at)?;
    }
    forget_stale(conn, at)?;
    Ok(allowed)
}

diesel::alias!(t as counters: Counters);

/// Drops counters whose window passed long ago (each guessed name and
/// address leaves one). On PostgreSQL it skips rows another sign-in has
/// locked, so it never waits for one (and two sign-ins never deadlock).
fn forget_stale(conn: &mut DbConn, at: NaiveDateTime) -> StoreResult<()> {
    let stale = At(at - Duration::minutes(PER_NAME.window_minutes.max(PER_ADDRESS.window_minutes)));
    match conn {
        DbConn::Pg(pg) => {
            let unlocked = counters
                .filter(counters.field(t::window_start).lt(stale))
                .select(counters.field(t::key))
                .for_update()
                .skip_locked();
            diesel::delete(t::table.filter(t::key.eq_any(unlocked))).execute(pg)?;
        }
        DbConn::Sqlite(sqlite) => {
            diesel::delete(t::table.filter(t::window_start.lt(stale))).execute(sqlite)?;
        }
    }
    Ok(())
}

/// The password was right: the failures from this address are forgotten,
/// and this attempt no longer counts against the username.
pub fn succeeded(conn: &mut DbConn, username: &str, address: &str) -> StoreResult<()> {
    crate::direct!(conn, |c| diesel::delete(
        t::table.find(address_key(username, address))
    )
    .execute(c))?;
    crate::direct!(conn, |c| prepared::update(
        t::table.find(name_key(username)).filter(t::attempts.gt(0)),
        t::attempts.eq(t::attempts - 1),
    )
    .execute(c))?;
    Ok(())
}

/// Forgets every count for `username` (an administrator reset their password).
pub fn clear(conn: &mut DbConn, username: &str) -> StoreResult<()> {
    let escaped = username
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    diesel::delete(
        t::table.filter(
            t::key
                .eq(name_key(username))
                .or(t::key.like(format!("a:{escaped}|%")).escape('\\')),
        ),
    )
    .execute(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_that_has_passed_holds_no_attempts() {
        let start = chrono::NaiveDate::from_ymd_opt(2026, 12, 3)
            .unwrap()
            .and_hms_opt(9, 0, 0)
            .unwrap();
        assert_eq!(
            in_window((start, 4), PER_ADDRESS, start + Duration::minutes(14)),
            4
        );
        assert_eq!(
            in_window((start, 4), PER_ADDRESS, start + Duration::minutes(15)),
            0
        );
    }
}
