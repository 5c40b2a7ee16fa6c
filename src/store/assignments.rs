//! Role assignments: a user holds a role globally or within one business.

use diesel::prelude::*;

use super::audit::{self, Audit};
use super::{StoreError, StoreResult, now};
use crate::db::DbConn;
use crate::db::ids::{AssignmentId, BusinessId, RoleId, UserId};
use crate::db::models::RoleAssignment;
use crate::db::schema::{businesses, role_assignments as ra, roles, users};
use crate::db::stamp::At;

/// Where an assignment applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Global,
    Business(BusinessId),
}

impl Scope {
    pub fn business_id(self) -> Option<BusinessId> {
        match self {
            Scope::Global => None,
            Scope::Business(id) => Some(id),
        }
    }
}

/// Filters of the assignment list; `None` means "any".
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub user: Option<UserId>,
    pub role: Option<RoleId>,
    pub scope: Option<Scope>,
}

/// One row of the assignment list, with names resolved.
#[derive(Debug, Clone)]
pub struct AssignmentRow {
    pub id: AssignmentId,
    pub user_id: UserId,
    pub username: String,
    pub display_name: String,
    pub user_active: bool,
    pub role_id: RoleId,
    pub role_code: String,
    pub role_name_en: String,
    pub role_name_zh: String,
    pub business_id: Option<BusinessId>,
    pub business_name: Option<String>,
}

impl AssignmentRow {
    pub fn role_name(&self, lang: &crate::i18n::Lang) -> &str {
        match lang {
            crate::i18n::Lang::ZhCn => &self.role_name_zh,
            crate::i18n::Lang::En => &self.role_name_en,
        }
    }
}

pub(crate) type RowTuple = (
    AssignmentId,
    UserId,
    String,
    String,
    bool,
    RoleId,
    String,
    String,
    String,
    Option<BusinessId>,
    Option<String>,
);

/// Every assignment with its person, role and business, as `RowTuple`s.
#[diesel::dsl::auto_type(no_type_alias)]
pub(crate) fn rows() -> _ {
    ra::table
        .inner_join(users::table.on(users::id.eq(ra::user_id)))
        .inner_join(roles::table)
        .left_join(businesses::table)
        .select((
            ra::id,
            ra::user_id,
            users::username,
            users::display_name,
            users::active,
            ra::role_id,
            roles::code,
            roles::name_en,
            roles::name_zh,
            ra::business_id,
            businesses::name.nullable(),
        ))
}

pub fn list(conn: &mut DbConn, filter: &Filter) -> StoreResult<Vec<AssignmentRow>> {
    let mut q = rows()
        .order((users::username, roles::id, ra::id))
        .into_boxed();
    if let Some(user) = filter.user {
        q = q.filter(ra::user_id.eq(user));
    }
    if let Some(role) = filter.role {
        q = q.filter(ra::role_id.eq(role));
    }
    match filter.scope {
        Some(Scope::Global) => q = q.filter(ra::business_id.is_null()),
        Some(Scope::Business(b)) => q = q.filter(ra::business_id.eq(b)),
        None => {}
    }
    let rows: Vec<RowTuple> = q.limit(2000).load(conn)?;
    Ok(rows.into_iter().map(row_of).collect())
}

/// The assignment a `RowTuple` describes.
pub(crate) fn row_of(r: RowTuple) -> AssignmentRow {
    AssignmentRow {
        id: r.0,
        user_id: r.1,
        username: r.2,
        display_name: r.3,
        user_active: r.4,
        role_id: r.5,
        role_code: r.6,
        role_name_en: r.7,
        role_name_zh: r.8,
        business_id: r.9,
        business_name: r.10,
    }
}

/// Gives `user` the role in `scope`. Unknown ids and duplicates are refused
/// with a message beside the field they came from.
pub fn create(
    conn: &mut DbConn,
    user: UserId,
    role: RoleId,
    scope: Scope,
    actor: UserId,
) -> StoreResult<AssignmentId> {
    let user_ok: i64 = users::table.find(user).count().get_result(conn)?;
    if user_ok == 0 {
        return Err(StoreError::rule("user", "errors.unknown_user"));
    }
    let role_ok: i64 = roles::table.find(role).count().get_result(conn)?;
    if role_ok == 0 {
        return Err(StoreError::rule("role_id", "errors.unknown_role"));
    }
    if let Scope::Business(b) = scope {
        let ok: i64 = businesses::table.find(b).count().get_result(conn)?;
        if ok == 0 {
            return Err(StoreError::rule("business_id", "errors.unknown_business"));
        }
    }
    let mut dup = ra::table
        .filter(ra::user_id.eq(user))
        .filter(ra::role_id.eq(role))
        .into_boxed();
    dup = match scope {
        Scope::Global => dup.filter(ra::business_id.is_null()),
        Scope::Business(b) => dup.filter(ra::business_id.eq(b)),
    };
    let n: i64 = dup.count().get_result(conn)?;
    if n > 0 {
        return Err(StoreError::rule("", "errors.assignment_exists"));
    }
    let id: AssignmentId = diesel::insert_into(ra::table)
        .values((
            ra::user_id.eq(user),
            ra::role_id.eq(role),
            ra::business_id.eq(scope.business_id()),
            ra::created_by.eq(actor),
            ra::created_at.eq(At(now())),
        ))
        .returning(ra::id)
        .get_result(conn)
        .map_err(|e| StoreError::unique_as(e, "", "errors.assignment_exists"))?;
    audit::record(
        conn,
        Audit::web(actor, "assignment.created", "user", user.0).with_detail(serde_json::json!({
            "role_id": role.0, "business_id": scope.business_id().map(|b| b.0)
        })),
    )?;
    Ok(id)
}

/// How many active users hold the global admin role.
pub fn active_admin_count(conn: &mut DbConn) -> StoreResult<i64> {
    Ok(ra::table
        .inner_join(roles::table)
        .inner_join(users::table.on(users::id.eq(ra::user_id)))
        .filter(roles::code.eq("admin"))
        .filter(ra::business_id.is_null())
        .filter(users::active.eq(true))
        .count()
        .get_result(conn)?)
}

/// Removes an assignment; the last active global admin cannot be removed.
pub fn delete(conn: &mut DbConn, id: AssignmentId, actor: UserId) -> StoreResult<()> {
    let a: RoleAssignment = ra::table
        .find(id)
        .select(RoleAssignment::as_select())
        .first(conn)?;
    let role_code: String = roles::table
        .find(a.role_id)
        .select(roles::code)
        .first(conn)?;
    if role_code == "admin" && a.business_id.is_none() {
        let holder_active: bool = users::table
            .find(a.user_id)
            .select(users::active)
            .first(conn)?;
        if holder_active && active_admin_count(conn)? <= 1 {
            return Err(StoreError::rule("", "errors.last_admin"));
        }
    }
    diesel::delete(ra::table.find(id)).execute(conn)?;
    audit::record(
        conn,
        Audit::web(actor, "assignment.deleted", "user", a.user_id.0).with_detail(
            serde_json::json!({
                "role_id": a.role_id.0, "business_id": a.business_id.map(|b| b.0)
            }),
        ),
    )
}
