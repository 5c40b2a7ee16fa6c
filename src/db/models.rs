//! Rows as read from the database, and the structs used to insert them.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::ids::*;
use super::schema::*;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub email: String,
    pub password_hash: String,
    pub manager_id: Option<UserId>,
    pub language: Option<String>,
    pub active: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub deactivated_at: Option<NaiveDateTime>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub username: &'a str,
    pub display_name: &'a str,
    pub email: &'a str,
    pub password_hash: &'a str,
    pub manager_id: Option<UserId>,
    pub language: Option<&'a str>,
    pub active: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = businesses)]
pub struct Business {
    pub id: BusinessId,
    pub name: String,
    pub description: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = roles)]
pub struct Role {
    pub id: RoleId,
    pub code: String,
    pub name_en: String,
    pub name_zh: String,
    pub description: String,
    pub builtin: bool,
    pub created_at: NaiveDateTime,
}

impl Role {
    /// The role's name in the reader's language.
    pub fn name(&self, lang: &crate::i18n::Lang) -> &str {
        match lang {
            crate::i18n::Lang::ZhCn if !self.name_zh.is_empty() => &self.name_zh,
            _ => &self.name_en,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = role_assignments)]
pub struct RoleAssignment {
    pub id: AssignmentId,
    pub user_id: UserId,
    pub role_id: RoleId,
    pub business_id: Option<BusinessId>,
    pub created_by: Option<UserId>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = delegations)]
pub struct Delegation {
    pub id: DelegationId,
    pub from_user_id: UserId,
    pub to_user_id: UserId,
    pub starts_at: NaiveDateTime,
    pub ends_at: NaiveDateTime,
    pub process_kind: Option<String>,
    pub note: String,
    pub created_by: Option<UserId>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = audit_events)]
pub struct AuditEvent {
    pub id: AuditEventId,
    pub at: NaiveDateTime,
    pub actor_id: Option<UserId>,
    pub on_behalf_of_id: Option<UserId>,
    pub channel: String,
    pub action: String,
    pub subject_type: String,
    pub subject_id: Option<i32>,
    pub apply_id: Option<i32>,
    pub detail: String,
}
