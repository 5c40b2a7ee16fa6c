//! Personal access tokens for the API: made by their person on the profile
//! page with a name, a scope and an expiry, shown once and kept only as a
//! hash; listed, revoked by their person or an administrator; and the one
//! check every API request makes of the token it bears.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use super::audit::{self, Audit};
use super::{StoreError, StoreResult};
use crate::db::DbConn;
use crate::db::ids::{ApiTokenId, UserId};
use crate::db::schema::{api_tokens as t, users};
use crate::db::stamp::At;
use crate::domain::Name;

/// A token lasts this many days unless its maker says otherwise.
pub const DEFAULT_DAYS: i64 = 90;
/// And at most this many.
pub const MAX_DAYS: i64 = 365;
/// Every secret starts so, to be recognised (and found by secret scanners).
pub const SECRET_PREFIX: &str = "cs_";
/// How much of the secret a list shows, to tell tokens apart.
const SHOWN_CHARS: usize = 8;
/// A token's last use is recorded at most this often.
const USE_RECORDED_EVERY_SECS: i64 = 60;

/// What a token may do: read, or act (read, file and decide).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Read,
    Act,
}

impl Scope {
    pub const ALL: [Scope; 2] = [Scope::Read, Scope::Act];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Act => "act",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == s)
    }

    /// Whether a token of this scope may do what `needed` allows.
    pub fn allows(self, needed: Scope) -> bool {
        self == Scope::Act || needed == Scope::Read
    }
}

/// A token as lists show it (never its secret).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = t)]
pub struct ApiToken {
    pub id: ApiTokenId,
    pub user_id: UserId,
    pub name: String,
    pub scope: String,
    pub shown: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
}

impl ApiToken {
    /// Its state at `now` as a catalog key: revoked, expired or active.
    pub fn state_key(&self, now: NaiveDateTime) -> &'static str {
        if self.revoked_at.is_some() {
            "tokens.revoked"
        } else if self.expires_at <= now {
            "tokens.expired"
        } else {
            "tokens.active"
        }
    }

    /// Whether it still opens the API at `now` (its person's being active
    /// aside).
    pub fn usable(&self, now: NaiveDateTime) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

/// What a new token asks for, as checked.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub name: Name,
    pub scope: Scope,
    pub days: i64,
}

/// The token's days as typed: blank is the default, else 1 to `MAX_DAYS`.
pub fn parse_days(input: &str) -> Result<i64, &'static str> {
    match input.trim() {
        "" => Ok(DEFAULT_DAYS),
        s => match s.parse::<i64>() {
            Ok(days) if (1..=MAX_DAYS).contains(&days) => Ok(days),
            _ => Err("errors.token_days"),
        },
    }
}

/// Makes a token for `owner` (by `owner`, or an administrator for a
/// service account): the row and the secret, which is not kept and is
/// shown this once.
pub fn create(
    conn: &mut DbConn,
    owner: UserId,
    new: &NewToken,
    by: UserId,
    now: NaiveDateTime,
) -> StoreResult<(ApiToken, String)> {
    let secret = format!("{SECRET_PREFIX}{}", crate::token::random_hex::<32>());
    let token: ApiToken = crate::direct!(conn, |c| diesel::insert_into(t::table)
        .values((
            t::user_id.eq(owner),
            t::name.eq(new.name.as_str()),
            t::scope.eq(new.scope.as_str()),
            t::secret_hash.eq(crate::token::hash(&secret)),
            t::shown.eq(&secret[..SECRET_PREFIX.len() + SHOWN_CHARS]),
            t::created_at.eq(At(now)),
            t::expires_at.eq(At(now + Duration::days(new.days))),
        ))
        .returning(ApiToken::as_returning())
        .get_result(c))?;
    audit::record(
        conn,
        Audit::web(by, "api_token_created", "api_token", token.id.0).with_detail(
            serde_json::json!({
                "owner": owner.0,
                "name": token.name,
                "scope": token.scope,
                "expires_at": token.expires_at,
            }),
        ),
    )?;
    Ok((token, secret))
}

/// Token `id`.
pub fn find(conn: &mut DbConn, id: ApiTokenId) -> StoreResult<ApiToken> {
    Ok(crate::direct!(conn, |c| t::table
        .find(id)
        .select(ApiToken::as_select())
        .first(c))?)
}

/// `user`'s tokens, newest first.
pub fn of_person(conn: &mut DbConn, user: UserId) -> StoreResult<Vec<ApiToken>> {
    Ok(crate::direct!(conn, |c| t::table
        .filter(t::user_id.eq(user))
        .order(t::id.desc())
        .select(ApiToken::as_select())
        .load(c))?)
}

/// Everyone's tokens with their people's usernames and names, newest
/// first: what administrators see.
pub fn all(conn: &mut DbConn) -> StoreResult<Vec<(ApiToken, String, String)>> {
    Ok(crate::direct!(conn, |c| t::table
        .inner_join(users::table.on(users::id.eq(t::user_id)))
        .order(t::id.desc())
        .select((ApiToken::as_select(), users::username, users::display_name))
        .load(c))?)
}

/// Revokes token `id`: its person's own, or anyone's for an
/// administrator (`admin`). Another person's token is not there for
/// anyone else. Revoking a revoked token changes nothing.
pub fn revoke(
    conn: &mut DbConn,
    id: ApiTokenId,
    by: UserId,
    admin: bool,
    now: NaiveDateTime,
) -> StoreResult<()> {
    let owner: Option<UserId> =
        crate::direct!(conn, |c| t::table.find(id).select(t::user_id).first(c)).optional()?;
    match owner {
        Some(owner) if owner == by || admin => {}
        _ => return Err(StoreError::NotFound),
    }
    let changed = crate::direct!(conn, |c| diesel::update(
        t::table.find(id).filter(t::revoked_at.is_null())
    )
    .set((t::revoked_at.eq(At(now)), t::revoked_by.eq(by)))
    .execute(c))?;
    if changed > 0 {
        audit::record(conn, Audit::web(by, "api_token_revoked", "api_token", id.0))?;
    }
    Ok(())
}

/// Whom a bearer token acts as, and with what scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bearer {
    pub token: ApiTokenId,
    pub user: UserId,
    pub scope: Scope,
}

/// Why a bearer token opens nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unusable {
    /// Not a token of ours (or not one at all).
    Unknown,
    Expired,
    Revoked,
    /// Its person was deactivated: their tokens stop at once.
    OwnerInactive,
}

/// The check every API request makes of its token `secret` at `now`:
/// whom it acts as, or why it does not. Records its use at most once a
/// minute (`record_use`, for the caller to run when this says to).
pub fn check(
    conn: &mut DbConn,
    secret: &str,
    now: NaiveDateTime,
) -> StoreResult<(Result<Bearer, Unusable>, bool)> {
    if !secret.starts_with(SECRET_PREFIX) {
        return Ok((Err(Unusable::Unknown), false));
    }
    let found: Option<(ApiToken, bool)> = crate::direct!(conn, |c| t::table
        .inner_join(users::table.on(users::id.eq(t::user_id)))
        .filter(t::secret_hash.eq(crate::token::hash(secret)))
        .select((ApiToken::as_select(), users::active))
        .first(c))
    .optional()?;
    let Some((token, active)) = found else {
        return Ok((Err(Unusable::Unknown), false));
    };
    let verdict = if token.revoked_at.is_some() {
        Err(Unusable::Revoked)
    } else if token.expires_at <= now {
        Err(Unusable::Expired)
    } else if !active {
        Err(Unusable::OwnerInactive)
    } else {
        Ok(Bearer {
            token: token.id,
            user: token.user_id,
            scope: Scope::parse(&token.scope).unwrap_or(Scope::Read),
        })
    };
    let record = verdict.is_ok()
        && token
            .last_used_at
            .is_none_or(|at| (now - at).num_seconds() >= USE_RECORDED_EVERY_SECS);
    Ok((verdict, record))
}

/// Records that token `id` was used at `now`.
pub fn record_use(conn: &mut DbConn, id: ApiTokenId, now: NaiveDateTime) -> StoreResult<()> {
    crate::direct!(conn, |c| diesel::update(t::table.find(id))
        .set(t::last_used_at.eq(At(now)))
        .execute(c))?;
    Ok(())
}
