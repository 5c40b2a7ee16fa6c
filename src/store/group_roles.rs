//! Which directory groups hold which roles: "members of cn=dba,ou=groups
//! hold the role dba in the business Payments". The sync grants these
//! roles (marked as from a group) and takes them back when a person
//! leaves the group or the mapping is removed.

use diesel::prelude::*;

use super::audit::{self, Audit};
use super::{StoreError, StoreResult, now};
use crate::db::DbConn;
use crate::db::ids::{BusinessId, RoleId, UserId};
use crate::db::schema::{businesses, group_roles as g, roles};
use crate::db::stamp::At;

/// The longest group name (a DN or an OpenID group) a mapping takes.
pub const GROUP_MAX: usize = 500;

/// A mapping with its role's and business's names.
#[derive(Debug, Clone)]
pub struct GroupRole {
    pub id: i32,
    pub group_name: String,
    pub role_id: RoleId,
    pub role_name_en: String,
    pub role_name_zh: String,
    pub business_id: Option<BusinessId>,
    pub business_name: Option<String>,
}

impl GroupRole {
    pub fn role_name(&self, lang: &crate::i18n::Lang) -> &str {
        match lang {
            crate::i18n::Lang::ZhCn => &self.role_name_zh,
            crate::i18n::Lang::En => &self.role_name_en,
        }
    }
}

/// A group's name as it is compared: a DN without the spaces after its
/// commas, in lower case (`CN=DBA, OU=Groups` is `cn=dba,ou=groups`).
pub fn normalize(group: &str) -> String {
    let mut out = String::with_capacity(group.len());
    let mut after_comma = false;
    let mut escaped = false;
    for c in group.trim().chars() {
        if after_comma && c == ' ' {
            continue;
        }
        after_comma = c == ',' && !escaped;
        escaped = c == '\\' && !escaped;
        out.extend(c.to_lowercase());
    }
    out
}

/// A mapping as read: id, group, role, its names, business, its name.
type Row = (
    i32,
    String,
    RoleId,
    String,
    String,
    Option<BusinessId>,
    Option<String>,
);

pub fn list(conn: &mut DbConn) -> StoreResult<Vec<GroupRole>> {
    let rows: Vec<Row> = g::table
        .inner_join(roles::table)
        .left_join(businesses::table.on(g::business_id.eq(businesses::id.nullable())))
        .order((g::group_name, g::id))
        .select((
            g::id,
            g::group_name,
            g::role_id,
            roles::name_en,
            roles::name_zh,
            g::business_id,
            businesses::name.nullable(),
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(id, group_name, role_id, role_name_en, role_name_zh, business_id, business_name)| {
                GroupRole {
                    id,
                    group_name,
                    role_id,
                    role_name_en,
                    role_name_zh,
                    business_id,
                    business_name,
                }
            },
        )
        .collect())
}

/// Maps `group` to `role` (in `business`, or everywhere).
pub fn add(
    conn: &mut DbConn,
    group: &str,
    role: RoleId,
    business: Option<BusinessId>,
    actor: UserId,
) -> StoreResult<i32> {
    let group = normalize(group);
    if group.is_empty() {
        return Err(StoreError::rule("group", "errors.required"));
    }
    if group.chars().count() > GROUP_MAX {
        return Err(StoreError::rule("group", "errors.too_long"));
    }
    let role_ok: i64 = roles::table.find(role).count().get_result(conn)?;
    if role_ok == 0 {
        return Err(StoreError::rule("role_id", "errors.unknown_role"));
    }
    if let Some(b) = business {
        let ok: i64 = businesses::table.find(b).count().get_result(conn)?;
        if ok == 0 {
            return Err(StoreError::rule("business_id", "errors.unknown_business"));
        }
    }
    let mut dup = g::table
        .filter(g::group_name.eq(&group))
        .filter(g::role_id.eq(role))
        .into_boxed();
    dup = match business {
        None => dup.filter(g::business_id.is_null()),
        Some(b) => dup.filter(g::business_id.eq(b)),
    };
    if dup.count().get_result::<i64>(conn)? > 0 {
        return Err(StoreError::rule("group", "errors.group_role_exists"));
    }
    let id: i32 = diesel::insert_into(g::table)
        .values((
            g::group_name.eq(&group),
            g::role_id.eq(role),
            g::business_id.eq(business),
            g::created_by.eq(actor),
            g::created_at.eq(At(now())),
        ))
        .returning(g::id)
        .get_result(conn)
        .map_err(|e| StoreError::unique_as(e, "group", "errors.group_role_exists"))?;
    audit::record(
        conn,
        Audit::web(actor, "group_role.created", "group_role", id).with_detail(serde_json::json!({
            "group": group, "role_id": role.0, "business_id": business.map(|b| b.0)
        })),
    )?;
    Ok(id)
}

/// Removes a mapping; the roles it granted go at the next sync of each
/// person.
pub fn remove(conn: &mut DbConn, id: i32, actor: UserId) -> StoreResult<()> {
    let group: String = g::table
        .find(id)
        .select(g::group_name)
        .first(conn)
        .optional()?
        .ok_or(StoreError::NotFound)?;
    diesel::delete(g::table.find(id)).execute(conn)?;
    audit::record(
        conn,
        Audit::web(actor, "group_role.deleted", "group_role", id)
            .with_detail(serde_json::json!({ "group": group })),
    )
}

/// Every mapping, as (group, role, business), for a sync to match
/// people's groups against.
pub fn all(conn: &mut DbConn) -> StoreResult<Vec<(String, RoleId, Option<BusinessId>)>> {
    Ok(g::table
        .select((g::group_name, g::role_id, g::business_id))
        .load(conn)?)
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn group_names_compare_without_case_or_spaces_after_commas() {
        assert_eq!(
            normalize(" CN=DBA, OU=Groups,dc=x "),
            "cn=dba,ou=groups,dc=x"
        );
        assert_eq!(normalize("cn=a\\, b,dc=x"), "cn=a\\, b,dc=x");
        assert_eq!(normalize("platform-admins"), "platform-admins");
    }
}
