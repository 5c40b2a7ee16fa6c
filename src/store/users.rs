//! People: accounts, their managers, language and whether they are active.

use std::collections::HashMap;

use diesel::prelude::*;

use super::audit::{self, Audit};
use super::{StoreError, StoreResult, lower, now};
use crate::db::DbConn;
use crate::db::ids::UserId;
use crate::db::models::{NewUser, User};
use crate::db::schema::{role_assignments, roles, users};
use crate::db::stamp::At;
use crate::domain::{Email, Name, Username};
use crate::i18n::Lang;

/// How far the menu counts waiting assignments; beyond, it shows "99+".
pub const INBOX_COUNT_CAP: i64 = 100;

/// What a session names: a person, and the generation of their sessions
/// it was signed in at. A session of an earlier generation has ended
/// (signed out, password changed or reset, deactivated).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionKey {
    pub user: UserId,
    pub epoch: i32,
}

/// The signed-in person as every page needs them.
#[derive(Debug, Clone)]
pub struct SessionUser {
    pub id: UserId,
    /// Assignments waiting for them (and those they stand in for),
    /// counted up to `INBOX_COUNT_CAP`.
    pub inbox: i64,
    pub username: String,
    pub display_name: String,
    pub language: Option<Lang>,
    pub is_admin: bool,
    /// Whether anyone delegates to them now (their inbox shows that
    /// person's assignments too).
    pub stands_in: bool,
    /// Whether they hold a role within some business (they may read
    /// that business's change dashboards).
    pub business_role: bool,
}

/// The validated fields of the admin's user form.
#[derive(Debug)]
pub struct UserInput {
    pub display_name: Name,
    pub email: Email,
    pub manager_id: Option<UserId>,
    pub language: Option<Lang>,
}

pub fn find(conn: &mut DbConn, id: UserId) -> StoreResult<User> {
    Ok(users::table
        .find(id)
        .select(User::as_select())
        .first(conn)?)
}

pub fn find_by_username(conn: &mut DbConn, username: &str) -> StoreResult<Option<User>> {
    Ok(users::table
        .filter(users::username.eq(username))
        .select(User::as_select())
        .first(conn)
        .optional()?)
}

/// Whether the user holds the global admin role.
pub fn is_admin(conn: &mut DbConn, id: UserId) -> StoreResult<bool> {
    let n: i64 = role_assignments::table
        .inner_join(roles::table)
        .filter(role_assignments::user_id.eq(id))
        .filter(role_assignments::business_id.is_null())
        .filter(roles::code.eq("admin"))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// The select every page makes of the person behind a session: who they
/// are, whether they administer, how much waits for them and whether they
/// stand in for anyone, in one statement (a `SessionFacts` row, none for
/// someone gone or deactivated, or a session of an earlier generation). The count stops at the cap (the menu
/// shows "99+"), so a long backlog costs no more than that. A macro, as
/// the query's type is too long to name: `session_user` runs it alone;
/// on PostgreSQL the inbox runs it beside its page
/// (`ticket_views::session_and_inbox`).
macro_rules! session_select {
    ($key:expr, $at:expr) => {{
        use $crate::db::schema::{
            approve_users as au, delegations as d, role_assignments, roles, users,
        };
        let (key, at): ($crate::store::users::SessionKey, $crate::db::stamp::At) = ($key, $at);
        let id = key.user;
        let admin = role_assignments::table
            .inner_join(roles::table)
            .filter(role_assignments::user_id.eq(id))
            .filter(role_assignments::business_id.is_null())
            .filter(roles::code.eq("admin"));
        let own = $crate::db::prepared::capped_count(
            au::table
                .filter(au::user_id.eq(id))
                .filter(au::status.eq($crate::db::states::AssignmentStatus::Pending))
                .select(au::id)
                .limit($crate::store::users::INBOX_COUNT_CAP),
        );
        let standing_in = d::table
            .filter(d::to_user_id.eq(id))
            .filter(d::starts_at.le(at))
            .filter(d::ends_at.gt(at));
        let business_role = role_assignments::table
            .filter(role_assignments::user_id.eq(id))
            .filter(role_assignments::business_id.is_not_null());
        users::table
            .filter(users::id.eq(id))
            .filter(users::active.eq(true))
            .filter(users::session_epoch.eq(key.epoch))
            .select((
                users::id,
                users::username,
                users::display_name,
                users::language,
                diesel::dsl::exists(admin),
                own,
                diesel::dsl::exists(standing_in),
                diesel::dsl::exists(business_role),
            ))
    }};
}
pub(crate) use session_select;

/// A row of `session_select`: id, username, name, language, whether
/// admin, own waiting assignments (capped), whether standing in for
/// anyone, whether holding a role within a business.
pub(crate) type SessionFacts = (
    UserId,
    String,
    String,
    Option<String>,
    bool,
    i64,
    bool,
    bool,
);

/// The session user a `session_select` row describes. Someone who stands
/// in for others also counts what waits for them (another statement; few
/// people stand in for anyone at a time).
pub(crate) fn session_user_of(conn: &mut DbConn, facts: SessionFacts) -> StoreResult<SessionUser> {
    let (id, username, display_name, language, is_admin, own, stands_in, business_role) = facts;
    let others = if stands_in {
        super::ticket_views::inbox_count_for_others(conn, id)?
    } else {
        0
    };
    Ok(SessionUser {
        id,
        inbox: (own + others).min(INBOX_COUNT_CAP),
        language: language.as_deref().and_then(Lang::parse),
        username,
        display_name,
        is_admin,
        stands_in,
        business_role,
    })
}

/// The active user behind a session, or `None` if gone, deactivated or
/// the session has ended.
pub fn session_user(conn: &mut DbConn, key: SessionKey) -> StoreResult<Option<SessionUser>> {
    let at = At(now());
    let facts =
        crate::direct!(conn, |c| session_select!(key, at).first::<SessionFacts>(c)).optional()?;
    facts.map(|f| session_user_of(conn, f)).transpose()
}

/// Ends every session of `id` by moving on to the next generation, which
/// is returned: a session the caller signs in afresh with it survives.
pub fn end_sessions(conn: &mut DbConn, id: UserId) -> StoreResult<i32> {
    let epoch: i32 = diesel::update(users::table.find(id))
        .set(users::session_epoch.eq(users::session_epoch + 1))
        .returning(users::session_epoch)
        .get_result(conn)?;
    Ok(epoch)
}

/// Users whose username, name or email contains `q`, by username.
pub fn list(conn: &mut DbConn, q: &str, include_inactive: bool) -> StoreResult<Vec<User>> {
    let mut query = users::table
        .select(User::as_select())
        .order(users::username)
        .into_boxed();
    let q = q.trim().to_lowercase();
    if !q.is_empty() {
        let pattern = format!("%{}%", q.replace(['\\', '%', '_'], ""));
        query = query.filter(
            users::username
                .like(pattern.clone())
                .or(lower(users::display_name).like(pattern.clone()))
                .or(lower(users::email).like(pattern)),
        );
    }
    if !include_inactive {
        query = query.filter(users::active.eq(true));
    }
    Ok(query.limit(1000).load(conn)?)
}

/// Up to `limit` active people whose username starts with `q` or whose
/// name contains it (case aside), for a person picker: names first by
/// name. Nothing for an empty `q`.
pub fn suggest(conn: &mut DbConn, q: &str, limit: i64) -> StoreResult<Vec<Person>> {
    let q = q.trim().to_lowercase();
    if q.is_empty() {
        return Ok(Vec::new());
    }
    // Taken literally: `_` is common in usernames, `%` is no wildcard here.
    let q = q
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    let rows: Vec<(String, String)> = users::table
        .filter(users::active.eq(true))
        .filter(
            users::username
                .like(format!("{q}%"))
                .escape('\\')
                .or(lower(users::display_name)
                    .like(format!("%{q}%"))
                    .escape('\\')),
        )
        .order((users::display_name, users::username))
        .limit(limit)
        .select((users::username, users::display_name))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(username, display_name)| Person {
            username,
            display_name,
        })
        .collect())
}

pub(super) fn check_manager(
    conn: &mut DbConn,
    user: Option<UserId>,
    manager: Option<UserId>,
) -> StoreResult<()> {
    let Some(manager) = manager else {
        return Ok(());
    };
    if Some(manager) == user {
        return Err(StoreError::rule("manager", "errors.manager_self"));
    }
    let exists: i64 = users::table
        .find(manager)
        .filter(users::active.eq(true))
        .count()
        .get_result(conn)?;
    if exists == 0 {
        return Err(StoreError::rule("manager", "errors.unknown_user"));
    }
    // Walk up from the new manager; meeting the user means a cycle.
    if let Some(user) = user {
        let mut current = Some(manager);
        for _ in 0..100 {
            let Some(id) = current else { break };
            if id == user {
                return Err(StoreError::rule("manager", "errors.manager_cycle"));
            }
            current = users::table
                .find(id)
                .select(users::manager_id)
                .first::<Option<UserId>>(conn)
                .optional()?
                .flatten();
        }
    }
    Ok(())
}

/// Creates an account. `actor` is the admin doing it (None from the CLI).
pub fn create(
    conn: &mut DbConn,
    username: &Username,
    input: &UserInput,
    password_hash: &str,
    actor: Option<UserId>,
) -> StoreResult<UserId> {
    if find_by_username(conn, username.as_str())?.is_some() {
        return Err(StoreError::rule("username", "errors.username_taken"));
    }
    check_manager(conn, None, input.manager_id)?;
    let at = now();
    let id: UserId = diesel::insert_into(users::table)
        .values(NewUser {
            username: username.as_str(),
            display_name: input.display_name.as_str(),
            email: input.email.as_str(),
            password_hash,
            manager_id: input.manager_id,
            language: input.language.map(Lang::code),
            active: true,
            created_at: At(at),
            updated_at: At(at),
        })
        .returning(users::id)
        .get_result(conn)
        .map_err(|e| StoreError::unique_as(e, "username", "errors.username_taken"))?;
    audit::record(
        conn,
        Audit {
            actor,
            channel: if actor.is_some() {
                audit::Channel::Web
            } else {
                audit::Channel::Cli
            },
            ..Audit::web(actor.unwrap_or(id), "user.created", "user", id.0)
        }
        .with_detail(serde_json::json!({ "username": username.as_str() })),
    )?;
    Ok(id)
}

/// Updates what an admin may change about a user.
pub fn update(conn: &mut DbConn, id: UserId, input: &UserInput, actor: UserId) -> StoreResult<()> {
    find(conn, id)?;
    check_manager(conn, Some(id), input.manager_id)?;
    diesel::update(users::table.find(id))
        .set((
            users::display_name.eq(input.display_name.as_str()),
            users::email.eq(input.email.as_str()),
            users::manager_id.eq(input.manager_id),
            users::language.eq(input.language.map(Lang::code)),
            users::updated_at.eq(At(now())),
        ))
        .execute(conn)?;
    audit::record(conn, Audit::web(actor, "user.updated", "user", id.0))
}

/// What a person may change about themselves.
pub fn update_profile(
    conn: &mut DbConn,
    id: UserId,
    display_name: &Name,
    language: Option<Lang>,
) -> StoreResult<()> {
    let n = diesel::update(users::table.find(id).filter(users::active.eq(true)))
        .set((
            users::display_name.eq(display_name.as_str()),
            users::language.eq(language.map(Lang::code)),
            users::updated_at.eq(At(now())),
        ))
        .execute(conn)?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    audit::record(conn, Audit::web(id, "user.profile_updated", "user", id.0))
}

/// Remembers the language someone who never chose one uses countersign in.
pub fn used_language(conn: &mut DbConn, id: UserId, language: Lang) -> StoreResult<()> {
    diesel::update(users::table.find(id).filter(users::language.is_null()))
        .set(users::last_language.eq(Some(language.code())))
        .execute(conn)?;
    Ok(())
}

pub fn set_language(conn: &mut DbConn, id: UserId, language: Lang) -> StoreResult<()> {
    diesel::update(users::table.find(id))
        .set(users::language.eq(Some(language.code())))
        .execute(conn)?;
    Ok(())
}

/// What a service account's password hash is: nothing a password
/// verifies against, so it never signs in even if the flag were missed.
pub const NO_PASSWORD: &str = "!service-account";

/// Creates a service account: someone made for a pipeline, who acts only
/// through API tokens an administrator makes for them and never signs in
/// to the pages (no password; sign-in refuses them as it refuses an
/// unknown name).
pub fn create_service_account(
    conn: &mut DbConn,
    username: &Username,
    input: &UserInput,
    actor: Option<UserId>,
) -> StoreResult<UserId> {
    let id = create(conn, username, input, NO_PASSWORD, actor)?;
    diesel::update(users::table.find(id))
        .set(users::service_account.eq(true))
        .execute(conn)?;
    Ok(id)
}

/// The active service accounts, by username: (username, name).
pub fn service_accounts(conn: &mut DbConn) -> StoreResult<Vec<(String, String)>> {
    Ok(users::table
        .filter(users::service_account.eq(true))
        .filter(users::active.eq(true))
        .order(users::username)
        .select((users::username, users::display_name))
        .load(conn)?)
}

/// Sets a new password and ends every session signed in with the old
/// one. Returns the new generation of the person's sessions, for the
/// session that changed its own password to carry on with.
pub fn set_password(
    conn: &mut DbConn,
    id: UserId,
    password_hash: &str,
    actor: UserId,
) -> StoreResult<i32> {
    let n = diesel::update(
        users::table
            .find(id)
            .filter(users::service_account.eq(false))
            .filter(users::origin.eq(super::company::LOCAL)),
    )
    .set((
        users::password_hash.eq(password_hash),
        users::updated_at.eq(At(now())),
    ))
    .execute(conn)?;
    if n == 0 {
        let found: Option<(bool, String)> = users::table
            .find(id)
            .select((users::service_account, users::origin))
            .first(conn)
            .optional()?;
        return Err(match found {
            Some((true, _)) => StoreError::rule("password", "errors.service_account_password"),
            Some((false, _)) => StoreError::rule("password", "errors.company_password"),
            None => StoreError::NotFound,
        });
    }
    let epoch = end_sessions(conn, id)?;
    let action = if actor == id {
        "user.password_changed"
    } else {
        // A new password from an administrator also lifts any throttle.
        let username: String = users::table.find(id).select(users::username).first(conn)?;
        super::sign_in::clear(conn, &username)?;
        "user.password_reset"
    };
    audit::record(conn, Audit::web(actor, action, "user", id.0))?;
    Ok(epoch)
}

/// Ends the person's other sessions ("sign out everywhere else"); the
/// caller's own carries on with the returned generation.
pub fn end_other_sessions(conn: &mut DbConn, id: UserId) -> StoreResult<i32> {
    let epoch = end_sessions(conn, id)?;
    audit::record(conn, Audit::web(id, "user.sessions_ended", "user", id.0))?;
    Ok(epoch)
}

/// Deactivates or reactivates an account. Refuses to lock out the last admin.
pub fn set_active(conn: &mut DbConn, id: UserId, active: bool, actor: UserId) -> StoreResult<()> {
    let user = find(conn, id)?;
    if user.active == active {
        return Ok(());
    }
    if !active {
        if id == actor {
            return Err(StoreError::rule("", "errors.cannot_deactivate_self"));
        }
        if is_admin(conn, id)? && super::assignments::active_admin_count(conn)? <= 1 {
            return Err(StoreError::rule("", "errors.last_admin"));
        }
    }
    diesel::update(users::table.find(id).filter(users::active.eq(!active)))
        .set((
            users::active.eq(active),
            users::deactivated_at.eq(if active { None } else { Some(At(now())) }),
            users::updated_at.eq(At(now())),
        ))
        .execute(conn)?;
    let action = if active {
        "user.reactivated"
    } else {
        "user.deactivated"
    };
    audit::record(conn, Audit::web(actor, action, "user", id.0))?;
    if !active {
        // Their sessions end at once, and their work moves on.
        end_sessions(conn, id)?;
        super::leavers::leave(conn, &user, Some(actor))?;
    }
    Ok(())
}

/// How a person is shown in lists and person fields.
#[derive(Debug, Clone, Default)]
pub struct Person {
    pub username: String,
    pub display_name: String,
}

/// Up to how many people `people_by_id` looks up one by one on SQLite.
const FEW_PEOPLE: usize = 16;

/// The people with the given ids, for lists that refer to people by id.
/// Only the ids asked for are read, whatever the size of the directory.
pub fn people_by_id(conn: &mut DbConn, ids: &[UserId]) -> StoreResult<HashMap<UserId, Person>> {
    let mut ids = ids.to_vec();
    ids.sort();
    ids.dedup();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    // A ticket names a handful of people. On SQLite one prepared lookup
    // each is cheaper than `id IN (…)`, which it would prepare afresh
    // every time because the list's length varies. PostgreSQL takes the
    // list as one array parameter (`= ANY($1)`), in one round trip.
    let one_by_one = ids.len() <= FEW_PEOPLE && matches!(conn, DbConn::Sqlite(_));
    let rows: Vec<(UserId, String, String)> = if one_by_one {
        let mut rows = Vec::with_capacity(ids.len());
        for id in ids {
            rows.extend(
                crate::direct!(conn, |c| users::table
                    .find(id)
                    .select((users::id, users::username, users::display_name))
                    .first(c))
                .optional()?,
            );
        }
        rows
    } else {
        crate::direct!(conn, |c| users::table
            .filter(users::id.eq_any(ids))
            .select((users::id, users::username, users::display_name))
            .load(c))?
    };
    Ok(rows
        .into_iter()
        .map(|(id, username, display_name)| {
            (
                id,
                Person {
                    username,
                    display_name,
                },
            )
        })
        .collect())
}

/// Display names by username, for those of `usernames` who exist.
pub fn display_names(
    conn: &mut DbConn,
    usernames: &[String],
) -> StoreResult<HashMap<String, String>> {
    if usernames.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(users::table
        .filter(users::username.eq_any(usernames.to_vec()))
        .select((users::username, users::display_name))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect())
}

/// The id of the active person with this username, if any.
pub fn active_id(conn: &mut DbConn, username: &Username) -> StoreResult<Option<UserId>> {
    Ok(users::table
        .filter(users::username.eq(username.as_str()))
        .filter(users::active.eq(true))
        .select(users::id)
        .first(conn)
        .optional()?)
}

/// The active person a form names by username; refused beside `field` if
/// there is no such active person.
pub fn resolve(conn: &mut DbConn, field: &'static str, username: &Username) -> StoreResult<UserId> {
    active_id(conn, username)?.ok_or(StoreError::rule(field, "errors.unknown_user"))
}

/// The codes of every role the user holds, in any scope.
pub fn role_codes(conn: &mut DbConn, id: UserId) -> StoreResult<Vec<String>> {
    Ok(role_assignments::table
        .inner_join(roles::table)
        .filter(role_assignments::user_id.eq(id))
        .select(roles::code)
        .distinct()
        .load(conn)?)
}
