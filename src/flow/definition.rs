//! Process definitions: what an admin designs in the wizard and a deployed
//! version freezes as JSON. Plain data with serde; no I/O.

use std::collections::BTreeMap;

use super::branches::{BranchRef, GatewayDef};
use serde::{Deserialize, Serialize};

/// Text in both UI languages; Chinese falls back to English when empty.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalText {
    #[serde(default)]
    pub en: String,
    #[serde(default)]
    pub zh: String,
}

impl LocalText {
    pub fn new(en: &str, zh: &str) -> LocalText {
        LocalText {
            en: en.to_string(),
            zh: zh.to_string(),
        }
    }

    /// The text for a reader of Chinese (`zh`) or English.
    pub fn text(&self, zh: bool) -> &str {
        if zh && !self.zh.trim().is_empty() {
            &self.zh
        } else {
            &self.en
        }
    }

    pub fn is_empty(&self) -> bool {
        self.en.trim().is_empty() && self.zh.trim().is_empty()
    }
}

/// What a process is for; delegations may be limited to one kind. Stored
/// as its text (the database layer reads and binds it).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "snake_case")]
pub enum ProcessKind {
    Change,
    Request,
    Incident,
    Access,
}

impl ProcessKind {
    pub const ALL: [ProcessKind; 4] = [
        ProcessKind::Change,
        ProcessKind::Request,
        ProcessKind::Incident,
        ProcessKind::Access,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProcessKind::Change => "change",
            ProcessKind::Request => "request",
            ProcessKind::Incident => "incident",
            ProcessKind::Access => "access",
        }
    }

    /// Parses the stored name; the error is a message-catalog key.
    pub fn parse(input: &str) -> Result<ProcessKind, &'static str> {
        ProcessKind::ALL
            .into_iter()
            .find(|k| k.as_str() == input.trim())
            .ok_or("errors.unknown_choice")
    }

    /// The catalog key of the kind's name.
    pub fn label_key(self) -> &'static str {
        match self {
            ProcessKind::Change => "kind.change",
            ProcessKind::Request => "kind.request",
            ProcessKind::Incident => "kind.incident",
            ProcessKind::Access => "kind.access",
        }
    }

    /// The prefix of ticket serial numbers (CHG-20261121-0001).
    pub fn serial_prefix(self) -> &'static str {
        match self {
            ProcessKind::Change => "CHG",
            ProcessKind::Request => "REQ",
            ProcessKind::Incident => "INC",
            ProcessKind::Access => "ACC",
        }
    }
}

/// A whole process: its information, its nodes in order, and who is mailed when.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProcessDef {
    pub name: LocalText,
    pub kind: ProcessKind,
    /// Tickets of this process name a business (roles may be scoped to it).
    #[serde(default)]
    pub business_required: bool,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub nodes: Vec<NodeDef>,
    #[serde(default)]
    pub notifications: Vec<NotifyRule>,
    /// The business calendar deadlines counted in working hours count in
    /// (its code); `None` is the default calendar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendar: Option<String>,
    /// How long a whole ticket may take, from filing to its end; past it,
    /// the ticket is marked overdue and its applicant and the people it
    /// waits for are told. `None`: no clock for the ticket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<TicketDeadline>,
    /// What makes a ticket of this process a change on the calendar: its
    /// window and the items it affects. `None`: not on the calendar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<ChangeDef>,
    /// Whom the ticket is copied to (抄送) when it ends — finished,
    /// rejected or withdrawn: they may read it and decide nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cc: Vec<HandlerRule>,
    /// Where the flow splits into branches (`flow::branches`); the nodes
    /// of each say which branch they run in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gateways: Vec<GatewayDef>,
}

/// The fields of the submit form that place a change on the calendar.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeDef {
    /// The date-time range field that is the change window.
    pub window: String,
    /// Fields whose values are the affected items: resources, businesses
    /// (a select of business codes is free text here), hosts in free text.
    /// [`ChangeDef::BUSINESS`] names the ticket's own business.
    #[serde(default)]
    pub items: Vec<String>,
    /// A checkbox field that files the change as an emergency: a hard
    /// freeze does not refuse it. `None`: the process has no emergency path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emergency: Option<String>,
    /// The role whose holders must also approve a change that overlaps
    /// another on an affected item. `None`: a conflict is only shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflict_role: Option<String>,
}

impl ChangeDef {
    /// In [`ChangeDef::items`], the business the ticket is filed for.
    pub const BUSINESS: &'static str = "@business";
}

/// A whole ticket's deadline: hours, counted as a node's are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketDeadline {
    pub hours: u32,
    #[serde(default)]
    pub working: bool,
}

impl TicketDeadline {
    /// As a node deadline with no reminders: its breach is stage 0.
    pub fn as_deadline(self) -> Deadline {
        Deadline {
            hours: self.hours,
            working: self.working,
            remind_at: Vec::new(),
            repeat_hours: None,
            on_breach: Escalation::MarkOverdue,
        }
    }
}

impl ProcessDef {
    /// A new process with just the submit node, as the wizard starts it.
    pub fn new(name: LocalText, kind: ProcessKind) -> ProcessDef {
        ProcessDef {
            name,
            kind,
            business_required: false,
            description: String::new(),
            nodes: vec![NodeDef::new(
                "submit",
                LocalText::new("Submit", "提单"),
                NodeKind::Submit,
            )],
            notifications: NotifyRule::defaults(),
            calendar: None,
            deadline: None,
            change: None,
            cc: Vec::new(),
            gateways: Vec::new(),
        }
    }

    /// Whether anything of a ticket of this process runs on the clock.
    pub fn timed(&self) -> bool {
        self.deadline.is_some() || self.nodes.iter().any(|n| n.deadline.is_some())
    }

    pub fn node(&self, key: &str) -> Option<&NodeDef> {
        self.nodes.iter().find(|n| n.key == key)
    }

    pub fn node_mut(&mut self, key: &str) -> Option<&mut NodeDef> {
        self.nodes.iter_mut().find(|n| n.key == key)
    }

    /// Every field of every node, with the node it belongs to, in order.
    pub fn fields(&self) -> impl Iterator<Item = (&NodeDef, &FieldDef)> {
        self.nodes
            .iter()
            .flat_map(|n| n.fields.iter().map(move |f| (n, f)))
    }

    /// The fields of the submit node: what filing asks for.
    pub fn submit_fields(&self) -> Vec<&FieldDef> {
        self.nodes
            .first()
            .map(|n| n.fields.iter().collect())
            .unwrap_or_default()
    }

    pub fn field(&self, key: &str) -> Option<&FieldDef> {
        self.fields().map(|(_, f)| f).find(|f| f.key == key)
    }

    /// The fields filled before `node_key` (of the nodes before it).
    pub fn fields_before(&self, node_key: &str) -> Vec<&FieldDef> {
        self.nodes
            .iter()
            .take_while(|n| n.key != node_key)
            .flat_map(|n| n.fields.iter())
            .collect()
    }
}

/// One step of a process.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeDef {
    /// Stable key, unique in the process (`approve_lead`).
    pub key: String,
    pub name: LocalText,
    pub kind: NodeKind,
    /// The node's own fields (the submit form, the change summary, …).
    #[serde(default)]
    pub fields: Vec<FieldDef>,
    /// Who handles the node: the union of these rules.
    #[serde(default)]
    pub handlers: Vec<HandlerRule>,
    #[serde(default)]
    pub mode: Mode,
    /// Include the node only when this holds; `None` means always.
    #[serde(default)]
    pub condition: Option<Condition>,
    #[serde(default)]
    pub empty_assignees: EmptyPolicy,
    #[serde(default)]
    pub self_approval: SelfPolicy,
    /// Auto-approve for someone who already approved an earlier node (去重).
    #[serde(default = "yes")]
    pub dedupe: bool,
    #[serde(default)]
    pub on_reject: OnReject,
    /// How this node shows fields of earlier nodes; unlisted fields are read-only.
    #[serde(default)]
    pub field_access: BTreeMap<String, FieldAccess>,
    /// How long the node's people have to answer, the reminders they get
    /// and what happens when the time is up; `None`: no clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<Deadline>,
    /// Whom the ticket is copied to (抄送) when this step ends — passed,
    /// or ending the ticket: they may read it and decide nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cc: Vec<HandlerRule>,
    /// An approval's people may send the ticket back to an earlier step,
    /// which runs again with its people, not only to the applicant.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub send_back_to_earlier: bool,
    /// An approval's people may add approvers before, after or alongside
    /// themselves (加签), saying why.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub add_approvers: bool,
    /// The gateway branch the node runs in; `None`: the main line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<BranchRef>,
}

/// A node's response deadline, counted from the moment its people are
/// asked (or a hand-over): in working hours of the process's calendar or
/// in wall-clock hours.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadline {
    pub hours: u32,
    /// Counted in working hours (else around the clock).
    #[serde(default)]
    pub working: bool,
    /// Reminders before the deadline, each at this percentage of the time
    /// (ascending, 1–99).
    #[serde(default)]
    pub remind_at: Vec<u8>,
    /// After the deadline, remind again every this many hours (counted as
    /// the deadline is).
    #[serde(default)]
    pub repeat_hours: Option<u32>,
    /// What happens when the deadline passes.
    #[serde(default)]
    pub on_breach: Escalation,
}

/// What countersign does when a step's deadline passes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Escalation {
    /// Only mark the step overdue (and tell its people).
    #[default]
    MarkOverdue,
    /// Mail the waiting people's managers.
    NotifyManagers,
    /// Add each waiting person's manager to the step as an approver.
    AddManager,
    /// Hand each waiting person's place over to their manager.
    HandToManager,
    /// Approve for the waiting people, with a comment saying why.
    AutoApprove,
    /// Reject for the waiting people, with a comment saying why.
    AutoReject,
}

impl Escalation {
    pub const ALL: [Escalation; 6] = [
        Escalation::MarkOverdue,
        Escalation::NotifyManagers,
        Escalation::AddManager,
        Escalation::HandToManager,
        Escalation::AutoApprove,
        Escalation::AutoReject,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Escalation::MarkOverdue => "mark_overdue",
            Escalation::NotifyManagers => "notify_managers",
            Escalation::AddManager => "add_manager",
            Escalation::HandToManager => "hand_to_manager",
            Escalation::AutoApprove => "auto_approve",
            Escalation::AutoReject => "auto_reject",
        }
    }

    pub fn parse(input: &str) -> Option<Escalation> {
        Escalation::ALL
            .into_iter()
            .find(|e| e.as_str() == input.trim())
    }

    /// Whether only an approval can be escalated so (a vote is cast).
    pub fn approval_only(self) -> bool {
        matches!(
            self,
            Escalation::AddManager | Escalation::AutoApprove | Escalation::AutoReject
        )
    }
}

fn yes() -> bool {
    true
}

impl NodeDef {
    pub fn new(key: &str, name: LocalText, kind: NodeKind) -> NodeDef {
        NodeDef {
            key: key.to_string(),
            name,
            kind,
            fields: Vec::new(),
            handlers: Vec::new(),
            mode: Mode::Any,
            condition: None,
            empty_assignees: EmptyPolicy::Skip,
            self_approval: SelfPolicy::Manager,
            dedupe: true,
            on_reject: OnReject::End,
            field_access: BTreeMap::new(),
            deadline: None,
            cc: Vec::new(),
            send_back_to_earlier: false,
            add_approvers: false,
            branch: None,
        }
    }

    pub fn access(&self, field: &str) -> FieldAccess {
        self.field_access
            .get(field)
            .copied()
            .unwrap_or(FieldAccess::ReadOnly)
    }
}

/// The outcomes a review node's assignee chooses from when completing it
/// (QC's evaluation of a change); any of them completes the node.
pub const REVIEW_OUTCOMES: [&str; 3] = ["successful", "with_issues", "unsuccessful"];

/// What a step is. Stored as its text (the database layer reads and binds it).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    /// The first node: the applicant fills the service form.
    Submit,
    /// Assignees approve or reject.
    Approval,
    /// Assignees fill the node's fields; one completes it.
    Task,
    /// Like a task, plus an outcome (QC evaluation).
    Review,
}

impl NodeKind {
    pub const ALL: [NodeKind; 4] = [
        NodeKind::Submit,
        NodeKind::Approval,
        NodeKind::Task,
        NodeKind::Review,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NodeKind::Submit => "submit",
            NodeKind::Approval => "approval",
            NodeKind::Task => "task",
            NodeKind::Review => "review",
        }
    }

    pub fn parse(input: &str) -> Option<NodeKind> {
        NodeKind::ALL
            .into_iter()
            .find(|k| k.as_str() == input.trim())
    }
}

/// Who handles a node; a node's rules are unioned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum HandlerRule {
    /// Named people, by username.
    Users {
        usernames: Vec<String>,
    },
    /// Holders of a role (by code): wherever they hold it, or — with
    /// `in_business` — within the ticket's business (global holders count too).
    Role {
        role: String,
        #[serde(default)]
        in_business: bool,
    },
    Applicant,
    ApplicantManager,
    /// The applicant's managers up to `levels` levels (1 = the manager).
    ManagerChain {
        levels: u8,
    },
    /// The people picked in a member or members field.
    MemberField {
        field: String,
    },
    /// The managers of the owners of the resources picked in a resource field.
    ResourceOwnersManagers {
        field: String,
    },
}

/// How a node with several assignees is decided.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Mode {
    /// 或签: the first decision decides.
    #[default]
    Any,
    /// 会签: everyone must approve; any reject rejects.
    All,
    /// 依次: in listed order, each must approve.
    Sequence,
    /// N people, or P percent of the assignees, must approve.
    Quorum {
        #[serde(default)]
        count: Option<u32>,
        #[serde(default)]
        percent: Option<u8>,
    },
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Any => "any",
            Mode::All => "all",
            Mode::Sequence => "sequence",
            Mode::Quorum { .. } => "quorum",
        }
    }
}

/// When a node is included: every predicate of `all` holds, and in each
/// group of `any` at least one does (AND of ORs).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    pub all: Vec<Predicate>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub any: Vec<Vec<Predicate>>,
}

impl Condition {
    /// A condition of predicates that must all hold.
    pub fn all_of(all: Vec<Predicate>) -> Condition {
        Condition {
            all,
            any: Vec::new(),
        }
    }

    /// Every predicate, those that must hold first, then each group's.
    pub fn predicates(&self) -> impl Iterator<Item = &Predicate> {
        self.all.iter().chain(self.any.iter().flatten())
    }

    /// Whether it asks nothing (and may be dropped).
    pub fn is_empty(&self) -> bool {
        self.all.is_empty() && self.any.iter().all(Vec::is_empty)
    }
}

/// How a field's value is compared with a number or a date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    Gt,
    Ge,
    Lt,
    Le,
}

impl Comparison {
    pub const ALL: [Comparison; 4] = [
        Comparison::Gt,
        Comparison::Ge,
        Comparison::Lt,
        Comparison::Le,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Comparison::Gt => "gt",
            Comparison::Ge => "ge",
            Comparison::Lt => "lt",
            Comparison::Le => "le",
        }
    }

    pub fn parse(s: &str) -> Option<Comparison> {
        Comparison::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Whether `found` stands in this relation to `wanted`.
    pub fn holds(self, found: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            Comparison::Gt => found == Greater,
            Comparison::Ge => found != Less,
            Comparison::Lt => found == Less,
            Comparison::Le => found != Greater,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "test", rename_all = "snake_case")]
pub enum Predicate {
    /// The field's value equals `value` (a multi-value field contains it;
    /// a checkbox is "true" or "false").
    FieldEquals {
        field: String,
        value: String,
    },
    FieldNotEmpty {
        field: String,
    },
    /// The applicant holds the role (by code) anywhere.
    ApplicantHasRole {
        role: String,
    },
    /// At least one resource picked in the field is managed (托管).
    ResourceManaged {
        field: String,
    },
    /// A number or date field's value compares so with `value` (a number,
    /// `YYYY-MM-DD`, or `YYYY-MM-DD HH:MM`); an empty field never does.
    Compare {
        field: String,
        op: Comparison,
        value: String,
    },
    /// A number or date field's value is from `low` to `high`, both
    /// included.
    Between {
        field: String,
        low: String,
        high: String,
    },
    /// A multi-select's or people field's values include `value` (a
    /// choice, a username); a text field's text includes it, whatever
    /// the case.
    Contains {
        field: String,
        value: String,
    },
    /// The applicant holds a role within the business (by name).
    ApplicantInBusiness {
        business: String,
    },
}

impl Predicate {
    /// The field the predicate reads, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            Predicate::FieldEquals { field, .. }
            | Predicate::FieldNotEmpty { field }
            | Predicate::ResourceManaged { field }
            | Predicate::Compare { field, .. }
            | Predicate::Between { field, .. }
            | Predicate::Contains { field, .. } => Some(field),
            Predicate::ApplicantHasRole { .. } | Predicate::ApplicantInBusiness { .. } => None,
        }
    }
}

/// What happens when the rules find nobody.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmptyPolicy {
    /// Skip the node and log why.
    #[default]
    Skip,
    /// Route the node to the administrators.
    Admins,
}

/// What happens when the applicant is among the people a node's rules
/// find. Whatever it says, the applicant never decides an approval of
/// their own ticket as someone's stand-in, by a hand-over, or as an
/// administrator it was routed to. New nodes ask the manager.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SelfPolicy {
    Allow,
    /// Ask the applicant's manager instead.
    #[default]
    Manager,
    /// Leave the applicant out.
    Block,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnReject {
    /// A reject ends the ticket.
    #[default]
    End,
    /// A reject sends the ticket back to the applicant to correct and resubmit.
    SendBack,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldAccess {
    Editable,
    #[default]
    ReadOnly,
    Hidden,
}

/// One form field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldDef {
    /// Stable key, unique in the process (`reason`); form values are keyed by it.
    pub key: String,
    pub label: LocalText,
    pub kind: FieldKind,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub help: LocalText,
    #[serde(default)]
    pub default: Option<String>,
    /// For select, multi select and radio.
    #[serde(default)]
    pub choices: Vec<Choice>,
    /// For numbers: the value; for text: ignored (see `max_length`).
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
    /// For text, multi-line text and link: at most this many characters.
    #[serde(default)]
    pub max_length: Option<u32>,
    /// For text: a regular expression the whole value must match.
    #[serde(default)]
    pub pattern: Option<String>,
    /// For files: how many at most (none: `MAX_FILES`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_files: Option<u32>,
    /// For files: the largest one, in MiB (none: the global cap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_mb: Option<u32>,
    /// For files: the name endings allowed (`pdf`, `png`), lowercase;
    /// empty: any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accept: Vec<String>,
}

/// How many files a file field takes when its designer set no number.
pub const MAX_FILES: u32 = 10;

impl FieldDef {
    pub fn new(key: &str, label: LocalText, kind: FieldKind) -> FieldDef {
        FieldDef {
            key: key.to_string(),
            label,
            kind,
            required: false,
            help: LocalText::default(),
            default: None,
            choices: Vec::new(),
            min: None,
            max: None,
            max_length: None,
            pattern: None,
            max_files: None,
            max_mb: None,
            accept: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choice {
    pub value: String,
    pub label: LocalText,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    Text,
    Textarea,
    Number,
    Date,
    Datetime,
    DatetimeRange,
    Select,
    MultiSelect,
    Radio,
    Checkbox,
    Member,
    Members,
    Resource,
    Link,
    /// Files uploaded with the form: attachment ids.
    File,
}

impl FieldKind {
    pub const ALL: [FieldKind; 15] = [
        FieldKind::Text,
        FieldKind::Textarea,
        FieldKind::Number,
        FieldKind::Date,
        FieldKind::Datetime,
        FieldKind::DatetimeRange,
        FieldKind::Select,
        FieldKind::MultiSelect,
        FieldKind::Radio,
        FieldKind::Checkbox,
        FieldKind::Member,
        FieldKind::Members,
        FieldKind::Resource,
        FieldKind::Link,
        FieldKind::File,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FieldKind::Text => "text",
            FieldKind::Textarea => "textarea",
            FieldKind::Number => "number",
            FieldKind::Date => "date",
            FieldKind::Datetime => "datetime",
            FieldKind::DatetimeRange => "datetime_range",
            FieldKind::Select => "select",
            FieldKind::MultiSelect => "multi_select",
            FieldKind::Radio => "radio",
            FieldKind::Checkbox => "checkbox",
            FieldKind::Member => "member",
            FieldKind::Members => "members",
            FieldKind::Resource => "resource",
            FieldKind::Link => "link",
            FieldKind::File => "file",
        }
    }

    pub fn parse(input: &str) -> Option<FieldKind> {
        FieldKind::ALL
            .into_iter()
            .find(|k| k.as_str() == input.trim())
    }

    /// Whether the field offers a fixed list of choices.
    pub fn has_choices(self) -> bool {
        matches!(
            self,
            FieldKind::Select | FieldKind::MultiSelect | FieldKind::Radio
        )
    }

    /// Whether the field holds several values.
    pub fn is_multi(self) -> bool {
        matches!(
            self,
            FieldKind::MultiSelect | FieldKind::Members | FieldKind::Resource | FieldKind::File
        )
    }

    /// Whether the field names people.
    pub fn is_people(self) -> bool {
        matches!(self, FieldKind::Member | FieldKind::Members)
    }
}

/// Which events mail whom; an event not listed mails nobody.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifyRule {
    pub event: NotifyEvent,
    pub to: Recipient,
}

impl NotifyRule {
    /// What a new process mails: waiting work to its assignees, outcomes to the applicant.
    pub fn defaults() -> Vec<NotifyRule> {
        use NotifyEvent::*;
        use Recipient::*;
        vec![
            NotifyRule {
                event: Waiting,
                to: Assignees,
            },
            NotifyRule {
                event: Urged,
                to: Assignees,
            },
            NotifyRule {
                event: Rejected,
                to: Applicant,
            },
            NotifyRule {
                event: SentBack,
                to: Applicant,
            },
            NotifyRule {
                event: Finished,
                to: Applicant,
            },
        ]
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyEvent {
    /// A node starts and waits for its assignees (approval links for approval nodes).
    Waiting,
    /// A node was approved or completed.
    NodeDone,
    Rejected,
    SentBack,
    Finished,
    Withdrawn,
    /// The applicant urged the current assignees.
    Urged,
    /// A step's clock reminds its people before the deadline.
    Reminder,
    /// A step's deadline has passed: its people are told (and again after).
    Overdue,
    /// A step's deadline has passed: a waiting person's manager is told.
    Escalated,
    /// A whole ticket's deadline has passed: its applicant and the
    /// people it waits for are told.
    TicketOverdue,
    /// A freeze made after the change was filed now covers its window:
    /// its applicant and approvers are told.
    Frozen,
    /// The ticket was copied to someone (抄送): they are told, whatever
    /// the process's rules.
    Copied,
}

impl NotifyEvent {
    pub const ALL: [NotifyEvent; 7] = [
        NotifyEvent::Waiting,
        NotifyEvent::NodeDone,
        NotifyEvent::Rejected,
        NotifyEvent::SentBack,
        NotifyEvent::Finished,
        NotifyEvent::Withdrawn,
        NotifyEvent::Urged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotifyEvent::Waiting => "waiting",
            NotifyEvent::NodeDone => "node_done",
            NotifyEvent::Rejected => "rejected",
            NotifyEvent::SentBack => "sent_back",
            NotifyEvent::Finished => "finished",
            NotifyEvent::Withdrawn => "withdrawn",
            NotifyEvent::Urged => "urged",
            NotifyEvent::Reminder => "reminder",
            NotifyEvent::Overdue => "overdue",
            NotifyEvent::Escalated => "escalated",
            NotifyEvent::TicketOverdue => "ticket_overdue",
            NotifyEvent::Frozen => "frozen",
            NotifyEvent::Copied => "copied",
        }
    }

    /// The notices a step's clock sends, whatever the process's rules
    /// (which `ALL` lists the events of).
    pub const TIMED: [NotifyEvent; 4] = [
        NotifyEvent::Reminder,
        NotifyEvent::Overdue,
        NotifyEvent::Escalated,
        NotifyEvent::TicketOverdue,
    ];

    /// The notices the change calendar sends, whatever the process's rules.
    pub const CALENDAR: [NotifyEvent; 1] = [NotifyEvent::Frozen];

    /// The notices copying a ticket sends, whatever the process's rules.
    pub const COPIES: [NotifyEvent; 1] = [NotifyEvent::Copied];

    /// As stored (`as_str`).
    pub fn parse(s: &str) -> Option<NotifyEvent> {
        NotifyEvent::ALL
            .into_iter()
            .chain(NotifyEvent::TIMED)
            .chain(NotifyEvent::CALENDAR)
            .chain(NotifyEvent::COPIES)
            .find(|e| e.as_str() == s)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Recipient {
    Assignees,
    Applicant,
    ApplicantManager,
}

impl Recipient {
    pub const ALL: [Recipient; 3] = [
        Recipient::Assignees,
        Recipient::Applicant,
        Recipient::ApplicantManager,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Recipient::Assignees => "assignees",
            Recipient::Applicant => "applicant",
            Recipient::ApplicantManager => "applicant_manager",
        }
    }
}
