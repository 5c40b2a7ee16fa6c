//! Rows as read from the database, and the structs used to insert them.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::ids::*;
use super::schema::*;
use super::stamp::At;
use super::states::{
    AssignmentStatus, Channel, Decided, ReviewOutcome, StepStatus, StoredForm, TicketStatus,
};

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
    /// The generation of this person's sessions; earlier ones have ended.
    pub session_epoch: i32,
    /// The language they last used (at sign-in), when they never chose one.
    pub last_language: Option<String>,
    /// Made for a pipeline: acts only through API tokens, never signs in.
    pub service_account: bool,
    /// Where the person comes from: `local` (a password kept here),
    /// `ldap` (the company directory) or `oidc` (an OpenID provider).
    pub origin: String,
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
    pub created_at: At,
    pub updated_at: At,
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

    /// The description in the reader's language: a built-in role's as
    /// countersign words it, unless an administrator rewrote it.
    pub fn description_in(&self, lang: crate::i18n::Lang) -> std::borrow::Cow<'_, str> {
        let key = format!("role_descriptions.{}", self.code);
        let stock = crate::i18n::Lang::En.t_or(&key, "");
        if self.builtin && !stock.is_empty() && stock == self.description {
            lang.t_or(&key, &self.description).into_owned().into()
        } else {
            std::borrow::Cow::Borrowed(&self.description)
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
    pub channel: Channel,
    pub action: String,
    pub subject_type: String,
    pub subject_id: Option<i32>,
    pub apply_id: Option<i32>,
    pub detail: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = processes)]
pub struct Process {
    pub id: ProcessId,
    pub name: String,
    pub kind: String,
    pub draft: String,
    pub enabled: bool,
    pub revision: i32,
    pub created_by: Option<UserId>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// The name in Chinese, empty where none was given.
    pub name_zh: String,
}

impl Process {
    /// The name in the reader's language (English where no Chinese was given).
    pub fn name_in(&self, lang: crate::i18n::Lang) -> &str {
        if lang == crate::i18n::Lang::ZhCn && !self.name_zh.trim().is_empty() {
            &self.name_zh
        } else {
            &self.name
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = process_versions)]
pub struct ProcessVersion {
    pub id: VersionId,
    pub process_id: ProcessId,
    pub number: i32,
    pub definition: String,
    pub message: String,
    pub deployed_by: Option<UserId>,
    pub deployed_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = services)]
pub struct Service {
    pub id: ServiceId,
    pub name_en: String,
    pub name_zh: String,
    pub kind: String,
    pub description: String,
    pub process_id: ProcessId,
    pub version_id: VersionId,
    pub visible_roles: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub retired_at: Option<NaiveDateTime>,
}

impl Service {
    pub fn name(&self, lang: &crate::i18n::Lang) -> &str {
        match lang {
            crate::i18n::Lang::ZhCn if !self.name_zh.is_empty() => &self.name_zh,
            _ => &self.name_en,
        }
    }

    /// Role codes that may use the service; empty means everyone.
    pub fn roles(&self) -> Vec<String> {
        serde_json::from_str(&self.visible_roles).unwrap_or_default()
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = catalog_nodes)]
pub struct CatalogNode {
    pub id: CatalogNodeId,
    pub parent_id: Option<CatalogNodeId>,
    pub name_en: String,
    pub name_zh: String,
    pub position: i32,
    pub created_at: NaiveDateTime,
}

impl CatalogNode {
    pub fn name(&self, lang: &crate::i18n::Lang) -> &str {
        match lang {
            crate::i18n::Lang::ZhCn if !self.name_zh.is_empty() => &self.name_zh,
            _ => &self.name_en,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = resources)]
pub struct Resource {
    pub id: ResourceId,
    pub name: String,
    pub kind: String,
    pub owner_id: Option<UserId>,
    pub managed: bool,
    pub description: String,
    pub created_at: NaiveDateTime,
}

/// The columns `Apply` reads, in its order, for queries that read a
/// ticket beside other rows (where `Apply::as_select()` cannot stand in a
/// tuple that may be null); where its hash chain ends is left out, as
/// only the audit trail reads it.
pub type ApplyColumns = (
    applies::id,
    applies::serial,
    applies::service_id,
    applies::version_id,
    applies::kind,
    applies::title,
    applies::applicant_id,
    applies::business_id,
    applies::status,
    applies::form,
    applies::outcome,
    applies::submit_token,
    applies::row_version,
    applies::last_urged_at,
    applies::created_at,
    applies::updated_at,
    applies::finished_at,
    applies::due_at,
    applies::overdue_at,
    applies::extra_nodes,
    applies::copied,
    applies::attached,
);

pub const APPLY_COLUMNS: ApplyColumns = (
    applies::id,
    applies::serial,
    applies::service_id,
    applies::version_id,
    applies::kind,
    applies::title,
    applies::applicant_id,
    applies::business_id,
    applies::status,
    applies::form,
    applies::outcome,
    applies::submit_token,
    applies::row_version,
    applies::last_urged_at,
    applies::created_at,
    applies::updated_at,
    applies::finished_at,
    applies::due_at,
    applies::overdue_at,
    applies::extra_nodes,
    applies::copied,
    applies::attached,
);

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = applies)]
pub struct Apply {
    pub id: ApplyId,
    pub serial: String,
    pub service_id: ServiceId,
    pub version_id: VersionId,
    pub kind: crate::flow::ProcessKind,
    pub title: String,
    pub applicant_id: UserId,
    pub business_id: Option<BusinessId>,
    pub status: TicketStatus,
    pub form: StoredForm,
    pub outcome: Option<ReviewOutcome>,
    pub submit_token: String,
    pub row_version: i32,
    pub last_urged_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub finished_at: Option<NaiveDateTime>,
    /// The whole ticket's deadline, when its process has one.
    pub due_at: Option<NaiveDateTime>,
    /// When the ticket was found past its deadline.
    pub overdue_at: Option<NaiveDateTime>,
    /// Approval steps the ticket gained on filing beyond its version's
    /// (a soft freeze's, a conflict's), as JSON node definitions.
    pub extra_nodes: Option<String>,
    /// Whether it was ever copied to anyone (抄送).
    pub copied: bool,
    /// Whether it holds any uploaded file.
    pub attached: bool,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = approves)]
pub struct Approve {
    pub id: ApproveId,
    pub apply_id: ApplyId,
    pub position: i32,
    pub node_key: String,
    pub name_en: String,
    pub name_zh: String,
    pub kind: crate::flow::NodeKind,
    pub mode: String,
    pub status: StepStatus,
    pub notes: String,
    pub row_version: i32,
    pub started_at: Option<NaiveDateTime>,
    pub decided_at: Option<NaiveDateTime>,
    /// The step's deadline, when its node has one.
    pub due_at: Option<NaiveDateTime>,
    /// When the step was found past its deadline.
    pub overdue_at: Option<NaiveDateTime>,
    /// The step that sent the ticket back to this one, which runs again.
    pub sent_back_from: Option<String>,
}

impl Approve {
    pub fn name(&self, lang: &crate::i18n::Lang) -> &str {
        match lang {
            crate::i18n::Lang::ZhCn if !self.name_zh.is_empty() => &self.name_zh,
            _ => &self.name_en,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = approve_users)]
pub struct ApproveUser {
    pub id: ApproveUserId,
    pub approve_id: ApproveId,
    pub apply_id: ApplyId,
    pub position: i32,
    pub user_id: UserId,
    pub status: AssignmentStatus,
    pub decision: Option<Decided>,
    pub acted_by: Option<UserId>,
    pub channel: Option<Channel>,
    pub comment: String,
    pub decided_at: Option<NaiveDateTime>,
    pub email_token_hash: Option<String>,
    pub email_token_expires_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    /// Whom the link was mailed to (the assignee, or their stand-in).
    pub email_token_to: Option<UserId>,
    /// The earlier step a send-back vote sent the ticket back to (none:
    /// to the applicant).
    pub send_back_to: Option<String>,
    /// Whom this person was added for by hand (加签), and where they
    /// stand: `before`, `after` or `alongside` (`flow::added::Placement`).
    pub added_for: Option<ApproveUserId>,
    pub placement: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = grants)]
pub struct Grant {
    pub id: GrantId,
    pub user_id: UserId,
    pub resource_id: ResourceId,
    pub apply_id: ApplyId,
    pub granted_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    pub revoked_by: Option<UserId>,
    pub revoke_reason: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = outbox)]
pub struct OutboxMessage {
    pub id: OutboxId,
    pub to_user_id: Option<UserId>,
    pub to_email: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    pub kind: String,
    pub apply_id: Option<ApplyId>,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub claimed_by: Option<String>,
    pub claimed_until: Option<NaiveDateTime>,
    pub last_error: String,
    pub created_at: NaiveDateTime,
    pub sent_at: Option<NaiveDateTime>,
    /// When an administrator last put it back in line, if ever.
    pub retry_since: Option<NaiveDateTime>,
    /// A ticket's notice: the step it is about, whom the recipient stands
    /// in for, the comment it passes on, and its one-click link's token
    /// (until sent). Composed when sent; until then its bodies are empty.
    pub node_id: Option<ApproveId>,
    pub for_user_id: Option<UserId>,
    pub comment: String,
    pub link_token: Option<String>,
    pub composed: bool,
}
