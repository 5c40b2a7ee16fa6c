//! Calendar feeds: secret addresses whose `.ics` lists a person's changes
//! (filed, to approve or approved, or touching a resource they own) or a
//! business's, made and rotated by their owner (a business's by an
//! administrator); only each token's hash is kept.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use super::changes::Entry;
use super::{StoreError, StoreResult, now};
use crate::db::DbConn;
use crate::db::ids::{ApplyId, BusinessId, ServiceId, UserId};
use crate::db::schema::{
    applies as a, approve_users as au, calendar_feeds as cf, change_items as ci, changes as ch,
    resources as r,
};
use crate::db::stamp::At;
use crate::db::states::TicketStatus;

/// Whose changes a feed lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    Person(UserId),
    Business(BusinessId),
}

/// A feed lists changes whose windows end after this long ago...
pub const PAST_DAYS: i64 = 90;
/// ...and start before this long ahead.
pub const AHEAD_DAYS: i64 = 366;
/// At most this many changes, soonest first.
pub const FEED_LIMIT: i64 = 1000;

/// Makes the owner's feed, or gives it a new secret (the old address
/// stops working); the new secret, shown once.
pub fn rotate(conn: &mut DbConn, owner: Owner, by: UserId) -> StoreResult<String> {
    let secret = crate::token::random_hex::<24>();
    let hash = crate::token::hash(&secret);
    match owner {
        Owner::Person(u) => diesel::delete(cf::table.filter(cf::user_id.eq(u))).execute(conn)?,
        Owner::Business(b) => {
            diesel::delete(cf::table.filter(cf::business_id.eq(b))).execute(conn)?
        }
    };
    let (user, business) = match owner {
        Owner::Person(u) => (Some(u), None),
        Owner::Business(b) => (None, Some(b)),
    };
    diesel::insert_into(cf::table)
        .values((
            cf::token_hash.eq(&hash),
            cf::user_id.eq(user),
            cf::business_id.eq(business),
            cf::created_by.eq(by),
            cf::created_at.eq(At(now())),
        ))
        .execute(conn)?;
    Ok(secret)
}

/// Stops the owner's feed.
pub fn stop(conn: &mut DbConn, owner: Owner) -> StoreResult<()> {
    match owner {
        Owner::Person(u) => diesel::delete(cf::table.filter(cf::user_id.eq(u))).execute(conn)?,
        Owner::Business(b) => {
            diesel::delete(cf::table.filter(cf::business_id.eq(b))).execute(conn)?
        }
    };
    Ok(())
}

/// When the owner's feed was made (or last rotated), if it has one.
pub fn made_at(conn: &mut DbConn, owner: Owner) -> StoreResult<Option<NaiveDateTime>> {
    let query = cf::table.select(cf::created_at).into_boxed();
    let query = match owner {
        Owner::Person(u) => query.filter(cf::user_id.eq(u)),
        Owner::Business(b) => query.filter(cf::business_id.eq(b)),
    };
    Ok(query.first(conn).optional()?)
}

/// The owner of the feed whose secret is `secret`; `None` for an unknown
/// or rotated one, or a person since deactivated.
pub fn owner_of(conn: &mut DbConn, secret: &str) -> StoreResult<Option<Owner>> {
    use crate::db::schema::users;
    let hash = crate::token::hash(secret);
    let row: Option<(Option<UserId>, Option<BusinessId>)> = cf::table
        .filter(cf::token_hash.eq(&hash))
        .select((cf::user_id, cf::business_id))
        .first(conn)
        .optional()?;
    Ok(match row {
        Some((Some(u), _)) => {
            let active: bool = users::table
                .find(u)
                .select(users::active)
                .first(conn)
                .optional()?
                .unwrap_or(false);
            active.then_some(Owner::Person(u))
        }
        Some((None, Some(b))) => Some(Owner::Business(b)),
        _ => None,
    })
}

/// The changes a feed lists at `at`, soonest first.
pub fn entries(conn: &mut DbConn, owner: Owner, at: NaiveDateTime) -> StoreResult<Vec<Entry>> {
    let (from, to) = (
        at - Duration::days(PAST_DAYS),
        at + Duration::days(AHEAD_DAYS),
    );
    type Row = (
        ApplyId,
        String,
        String,
        TicketStatus,
        NaiveDateTime,
        NaiveDateTime,
        bool,
        ServiceId,
        Option<BusinessId>,
    );
    let mut query = ch::table
        .inner_join(a::table.on(a::id.eq(ch::apply_id)))
        .filter(ch::starts_at.lt(At(to)))
        .filter(ch::ends_at.gt(At(from)))
        .select((
            a::id,
            a::serial,
            a::title,
            a::status,
            ch::starts_at,
            ch::ends_at,
            ch::emergency,
            ch::service_id,
            ch::business_id,
        ))
        .order((ch::starts_at, a::id))
        .limit(FEED_LIMIT)
        .into_boxed();
    match owner {
        Owner::Business(b) => query = query.filter(ch::business_id.eq(b)),
        Owner::Person(u) => {
            let owned: Vec<String> = r::table
                .filter(r::owner_id.eq(u))
                .select(r::id)
                .load::<i32>(conn)?
                .into_iter()
                .map(|id| format!("resource:{id}"))
                .collect();
            query = query.filter(
                a::applicant_id
                    .eq(u)
                    .or(ch::apply_id
                        .eq_any(au::table.filter(au::user_id.eq(u)).select(au::apply_id)))
                    .or(ch::apply_id.eq_any(
                        ci::table
                            .filter(ci::item.eq_any(owned))
                            .select(ci::apply_id),
                    )),
            );
        }
    }
    let rows: Vec<Row> = query.load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(apply, serial, title, status, starts, ends, emergency, service, business)| Entry {
                apply,
                serial,
                title,
                status,
                window: (starts, ends),
                emergency,
                service,
                business,
            },
        )
        .collect())
}

/// The name a feed's calendar carries.
pub fn owner_name(conn: &mut DbConn, owner: Owner) -> StoreResult<String> {
    use crate::db::schema::{businesses, users};
    Ok(match owner {
        Owner::Person(u) => users::table
            .find(u)
            .select(users::display_name)
            .first(conn)?,
        Owner::Business(b) => businesses::table
            .find(b)
            .select(businesses::name)
            .first::<String>(conn)
            .map_err(StoreError::from)?,
    })
}
