//! Roles (ops, ops lead, QC, VP, …): built-in ones can be renamed, not deleted.

use diesel::prelude::*;

use super::audit::{self, Audit};
use super::{StoreError, StoreResult, now};
use crate::db::DbConn;
use crate::db::ids::{RoleId, UserId};
use crate::db::models::Role;
use crate::db::schema::{role_assignments, roles};
use crate::db::stamp::At;
use crate::domain::{Name, RoleCode};

/// The validated fields of the role form.
#[derive(Debug)]
pub struct RoleInput {
    pub name_en: Name,
    pub name_zh: Name,
    pub description: String,
}

pub fn list(conn: &mut DbConn) -> StoreResult<Vec<Role>> {
    Ok(roles::table
        .order(roles::id)
        .select(Role::as_select())
        .load(conn)?)
}

pub fn find(conn: &mut DbConn, id: RoleId) -> StoreResult<Role> {
    Ok(roles::table
        .find(id)
        .select(Role::as_select())
        .first(conn)?)
}

pub fn find_by_code(conn: &mut DbConn, code: &str) -> StoreResult<Role> {
    Ok(roles::table
        .filter(roles::code.eq(code))
        .select(Role::as_select())
        .first(conn)?)
}

/// Role names by code: English and Chinese.
pub type RoleNames = std::collections::HashMap<String, (String, String)>;

/// Role names, for a minute: another instance's change shows here within it.
static NAMES: super::cache::ShortCache<RoleNames> =
    super::cache::ShortCache::new(std::time::Duration::from_secs(60));

/// Every role's names by code, for labels (a rule "role Operations lead
/// within the ticket's business"): pages such as a ticket's draw them,
/// and roles rarely change.
pub fn names(conn: &mut DbConn) -> StoreResult<std::sync::Arc<RoleNames>> {
    NAMES.get(|| {
        let rows: Vec<(String, String, String)> = crate::direct!(conn, |c| roles::table
            .select((roles::code, roles::name_en, roles::name_zh))
            .load(c))?;
        Ok(rows
            .into_iter()
            .map(|(code, en, zh)| (code, (en, zh)))
            .collect())
    })
}

/// Forgets this database's role names (a role was made, renamed or removed).
fn forget_names() {
    NAMES.forget();
}

/// A role's name in the reader's language, else its code.
pub fn name_of<'a>(names: &'a RoleNames, code: &'a str, lang: crate::i18n::Lang) -> &'a str {
    match names.get(code) {
        Some((_, zh)) if lang == crate::i18n::Lang::ZhCn && !zh.trim().is_empty() => zh,
        Some((en, _)) => en,
        None => code,
    }
}

pub fn create(
    conn: &mut DbConn,
    code: &RoleCode,
    input: &RoleInput,
    actor: UserId,
) -> StoreResult<RoleId> {
    let taken: i64 = roles::table
        .filter(roles::code.eq(code.as_str()))
        .count()
        .get_result(conn)?;
    if taken > 0 {
        return Err(StoreError::rule("code", "errors.code_taken"));
    }
    let id: RoleId = diesel::insert_into(roles::table)
        .values((
            roles::code.eq(code.as_str()),
            roles::name_en.eq(input.name_en.as_str()),
            roles::name_zh.eq(input.name_zh.as_str()),
            roles::description.eq(&input.description),
            roles::builtin.eq(false),
            roles::created_at.eq(At(now())),
        ))
        .returning(roles::id)
        .get_result(conn)
        .map_err(|e| StoreError::unique_as(e, "code", "errors.code_taken"))?;
    audit::record(conn, Audit::web(actor, "role.created", "role", id.0))?;
    forget_names();
    Ok(id)
}

pub fn update(conn: &mut DbConn, id: RoleId, input: &RoleInput, actor: UserId) -> StoreResult<()> {
    find(conn, id)?;
    diesel::update(roles::table.find(id))
        .set((
            roles::name_en.eq(input.name_en.as_str()),
            roles::name_zh.eq(input.name_zh.as_str()),
            roles::description.eq(&input.description),
        ))
        .execute(conn)?;
    forget_names();
    audit::record(conn, Audit::web(actor, "role.updated", "role", id.0))
}

/// Deletes a role of our own making that nobody holds.
pub fn delete(conn: &mut DbConn, id: RoleId, actor: UserId) -> StoreResult<()> {
    let role = find(conn, id)?;
    if role.builtin {
        return Err(StoreError::rule("", "errors.role_builtin"));
    }
    let held: i64 = role_assignments::table
        .filter(role_assignments::role_id.eq(id))
        .count()
        .get_result(conn)?;
    if held > 0 {
        return Err(StoreError::rule("", "errors.role_in_use"));
    }
    diesel::delete(roles::table.find(id)).execute(conn)?;
    forget_names();
    audit::record(conn, Audit::web(actor, "role.deleted", "role", id.0))
}
