//! Planning a ticket's flow: who handles each node of a deployed version,
//! resolved from the definition, the submitted form values and the
//! directory. Pure: the directory is a trait, and storing the plan is done
//! elsewhere.
//!
//! For every node, in order: the submit node goes to the applicant; another
//! node is left out when its condition does not hold; otherwise its handler
//! rules are unioned (in rule order, first seen first, no duplicates), the
//! self-approval policy is applied (approval nodes only), the empty policy
//! decides what happens when nobody is left, and each assignee's current
//! delegate, if any, is recorded as acting for them. Every left-out node and
//! every substituted or dropped person gets a [`Note`] saying why. On a
//! de-duplicating approval node, a person also asked on an earlier approval
//! node gets a note that their approval there will count here too (the
//! store approves them automatically as the node starts).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::branches::{GatewayDef, GatewayKind};
use super::definition::{
    Condition, EmptyPolicy, FieldKind, HandlerRule, Mode, NodeDef, NodeKind, Predicate, ProcessDef,
    ProcessKind, SelfPolicy,
};
use super::form::Values;

/// What planning needs to know about people and resources.
pub trait Directory {
    /// The user's manager (username), if any and active.
    fn manager_of(&self, username: &str) -> Option<String>;
    /// Holders of a role by code. `business = Some(b)`: holders within
    /// business `b` plus global holders; `None`: holders anywhere. Sorted,
    /// deduplicated, active only.
    fn holders_of_role(&self, role: &str, business: Option<&str>) -> Vec<String>;
    fn has_role(&self, username: &str, role: &str) -> bool;
    /// Whether the user holds a role within the business (by name).
    fn in_business(&self, username: &str, business: &str) -> bool;
    fn resource(&self, id: i64) -> Option<ResourceInfo>;
    fn is_active(&self, username: &str) -> bool;
    /// Who acts for `username` now for a process of `kind` (an active
    /// delegation), if anyone.
    fn delegate_of(&self, username: &str, kind: ProcessKind) -> Option<String>;
    /// Active administrators, for [`EmptyPolicy::Admins`].
    fn admins(&self) -> Vec<String>;
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceInfo {
    pub name: String,
    /// The owner's username.
    pub owner: Option<String>,
    /// Managed (托管) resources need their owners' managers' approval.
    pub managed: bool,
}

/// What a ticket is planned from.
#[derive(Debug, Clone, Copy)]
pub struct PlanInput<'a> {
    pub def: &'a ProcessDef,
    pub applicant: &'a str,
    pub business: Option<&'a str>,
    pub values: &'a Values,
}

/// One planned node per node of the definition, in order, including the
/// submit node and left-out nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub nodes: Vec<PlannedNode>,
}

impl Plan {
    pub fn node(&self, key: &str) -> Option<&PlannedNode> {
        self.nodes.iter().find(|n| n.key == key)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedNode {
    pub key: String,
    pub kind: NodeKind,
    pub mode: Mode,
    pub included: bool,
    /// Why the node is left out; `None` when included.
    pub skip: Option<Skip>,
    /// In rule order (the order of a sequence).
    pub assignees: Vec<Assignee>,
    pub notes: Vec<Note>,
}

/// Why a node is left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Skip {
    Condition,
    NoAssignees,
    /// In a branch of an exclusive gateway that was not taken.
    BranchNotTaken,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignee {
    /// The person the rules found (after the self and empty policies).
    pub user: String,
    /// The delegate who acts for them now, if any.
    pub acting: Option<String>,
}

/// Why a node is left out or a person substituted or dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "note", rename_all = "snake_case")]
pub enum Note {
    /// The node's condition does not hold.
    ConditionFalse,
    /// The node is in a branch of an exclusive gateway; another branch
    /// (`taken`, its index) was taken.
    BranchNotTaken { gateway: String, taken: usize },
    /// The rules found nobody (and the node is left out).
    NoneFound,
    /// The rules found nobody; the administrators are assigned.
    RoutedToAdmins,
    /// The applicant was replaced by their manager.
    SelfReplaced { manager: String },
    /// The applicant was left out.
    SelfRemoved,
    /// A named or picked user is inactive and was left out.
    Inactive { user: String },
    /// An assignee's decision goes to their delegate.
    Delegated { from: String, to: String },
    /// A rule could not be evaluated and found nobody.
    Unresolved { rule_index: usize },
    /// `user` is also asked at the earlier approval node `earlier`; once
    /// they approve there, this node counts it (de-duplication, 去重).
    Deduplicated { user: String, earlier: String },
}

/// Plans every node of the definition.
pub fn plan(input: &PlanInput, dir: &dyn Directory) -> Plan {
    let taken: Vec<(&str, usize)> = input
        .def
        .gateways
        .iter()
        .filter(|g| g.kind == GatewayKind::Exclusive)
        .map(|g| (g.key.as_str(), taken_branch(g, input, dir)))
        .collect();
    let mut nodes: Vec<PlannedNode> = input
        .def
        .nodes
        .iter()
        .map(|node| {
            let not_taken = node.branch.as_ref().and_then(|at| {
                taken
                    .iter()
                    .find(|(g, t)| *g == at.gateway && *t != at.branch)
                    .map(|(g, t)| (g.to_string(), *t))
            });
            match not_taken {
                Some((gateway, taken)) => PlannedNode {
                    key: node.key.clone(),
                    kind: node.kind,
                    mode: node.mode,
                    included: false,
                    skip: Some(Skip::BranchNotTaken),
                    assignees: Vec::new(),
                    notes: vec![Note::BranchNotTaken { gateway, taken }],
                },
                None => plan_one(input, node, dir),
            }
        })
        .collect();
    note_duplicates(input.def, &mut nodes);
    Plan { nodes }
}

/// The branch an exclusive gateway takes: the first whose condition
/// holds, or else the default (the first without one, or the last).
pub fn taken_branch(gateway: &GatewayDef, input: &PlanInput, dir: &dyn Directory) -> usize {
    let conditioned = gateway.branches.iter().position(|b| {
        b.condition
            .as_ref()
            .is_some_and(|c| !c.is_empty() && holds(c, input, dir))
    });
    conditioned
        .or_else(|| {
            gateway
                .branches
                .iter()
                .position(|b| b.condition.as_ref().is_none_or(Condition::is_empty))
        })
        .unwrap_or(gateway.branches.len().saturating_sub(1))
}

/// Notes, on each included de-duplicating approval node, the people asked
/// at an earlier included approval node (the first such node is named).
fn note_duplicates(def: &ProcessDef, nodes: &mut [PlannedNode]) {
    for i in 0..nodes.len() {
        let dedupes = def
            .nodes
            .get(i)
            .is_some_and(|spec| spec.kind == NodeKind::Approval && spec.dedupe);
        if !dedupes || !nodes[i].included {
            continue;
        }
        let (earlier, rest) = nodes.split_at_mut(i);
        let node = &mut rest[0];
        for assignee in &node.assignees {
            let first = earlier.iter().find(|n| {
                n.included
                    && !def.side_by_side(&n.key, &node.key)
                    && n.kind == NodeKind::Approval
                    && n.assignees.iter().any(|a| a.user == assignee.user)
            });
            if let Some(first) = first {
                node.notes.push(Note::Deduplicated {
                    user: assignee.user.clone(),
                    earlier: first.key.clone(),
                });
            }
        }
    }
}

/// Re-plans one node at the moment it starts (the directory may have
/// changed), by the same rules as [`plan`]; `None` for an unknown key.
pub fn plan_node(input: &PlanInput, node_key: &str, dir: &dyn Directory) -> Option<PlannedNode> {
    input
        .def
        .node(node_key)
        .map(|node| plan_one(input, node, dir))
}

fn plan_one(input: &PlanInput, node: &NodeDef, dir: &dyn Directory) -> PlannedNode {
    let mut planned = PlannedNode {
        key: node.key.clone(),
        kind: node.kind,
        mode: node.mode,
        included: true,
        skip: None,
        assignees: Vec::new(),
        notes: Vec::new(),
    };
    if node.kind == NodeKind::Submit {
        planned.mode = Mode::Any;
        planned.assignees = vec![Assignee {
            user: input.applicant.to_string(),
            acting: None,
        }];
        return planned;
    }
    if let Some(condition) = &node.condition
        && !holds(condition, input, dir)
    {
        planned.included = false;
        planned.skip = Some(Skip::Condition);
        planned.notes.push(Note::ConditionFalse);
        return planned;
    }
    let mut notes = Notes::default();
    let mut users = People::default();
    for (rule_index, rule) in node.handlers.iter().enumerate() {
        apply_rule(input, rule, rule_index, dir, &mut users, &mut notes);
    }
    if node.kind == NodeKind::Approval {
        users = apply_self_policy(input, node.self_approval, users, dir, &mut notes);
    }
    if users.0.is_empty() {
        // The applicant is never one of the admins an approval is routed
        // to: whatever the node's self-approval policy (which is about
        // being planned by the node's own rules), nobody decides their
        // own ticket because they happen to administer countersign.
        let admins: Vec<String> = match node.empty_assignees {
            EmptyPolicy::Skip => Vec::new(),
            EmptyPolicy::Admins => dir
                .admins()
                .into_iter()
                .filter(|a| node.kind != NodeKind::Approval || a != input.applicant)
                .collect(),
        };
        if admins.is_empty() {
            notes.push(Note::NoneFound);
            planned.included = false;
            planned.skip = Some(Skip::NoAssignees);
            planned.notes = notes.0;
            return planned;
        }
        notes.push(Note::RoutedToAdmins);
        admins.into_iter().for_each(|a| users.add(a));
    }
    planned.assignees = users
        .0
        .into_iter()
        .map(|user| {
            let acting = acting_for(input, node, &user, dir);
            if let Some(to) = &acting {
                notes.push(Note::Delegated {
                    from: user.clone(),
                    to: to.clone(),
                });
            }
            Assignee { user, acting }
        })
        .collect();
    planned.notes = notes.0;
    planned
}

/// Whom `rules` copy the ticket to (抄送): the people the rules find, in
/// rule order without duplicates, active only, and never the applicant,
/// who hears of their own ticket anyway. Nobody stands in for them: they
/// are told, not asked.
pub fn copied_to(input: &PlanInput, rules: &[HandlerRule], dir: &dyn Directory) -> Vec<String> {
    let (mut users, mut notes) = (People::default(), Notes::default());
    for (rule_index, rule) in rules.iter().enumerate() {
        apply_rule(input, rule, rule_index, dir, &mut users, &mut notes);
    }
    users
        .0
        .into_iter()
        .filter(|u| u != input.applicant && dir.is_active(u))
        .collect()
}

/// Usernames in first-seen order, without duplicates.
#[derive(Default)]
struct People(Vec<String>);

impl People {
    fn add(&mut self, user: String) {
        if !self.0.contains(&user) {
            self.0.push(user);
        }
    }
}

/// Notes in order, without repeating one.
#[derive(Default)]
struct Notes(Vec<Note>);

impl Notes {
    fn push(&mut self, note: Note) {
        if !self.0.contains(&note) {
            self.0.push(note);
        }
    }
}

fn apply_rule(
    input: &PlanInput,
    rule: &HandlerRule,
    rule_index: usize,
    dir: &dyn Directory,
    users: &mut People,
    notes: &mut Notes,
) {
    let unresolved = Note::Unresolved { rule_index };
    let add_if_active = |user: String, users: &mut People, notes: &mut Notes| {
        if dir.is_active(&user) {
            users.add(user);
        } else {
            notes.push(Note::Inactive { user });
        }
    };
    match rule {
        HandlerRule::Users { usernames } => {
            for user in usernames {
                add_if_active(user.clone(), users, notes);
            }
        }
        HandlerRule::Role { role, in_business } => {
            let scope = match (*in_business, input.business) {
                (false, _) => None,
                (true, Some(business)) => Some(business),
                (true, None) => return notes.push(unresolved),
            };
            dir.holders_of_role(role, scope)
                .into_iter()
                .for_each(|u| users.add(u));
        }
        HandlerRule::Applicant => users.add(input.applicant.to_string()),
        HandlerRule::ApplicantManager => {
            if let Some(manager) = dir.manager_of(input.applicant) {
                users.add(manager);
            }
        }
        HandlerRule::ManagerChain { levels } => {
            manager_chain(input.applicant, *levels, dir)
                .into_iter()
                .for_each(|u| users.add(u));
        }
        HandlerRule::MemberField { field } => match input.values.get(field).and_then(usernames) {
            Some(picked) => picked
                .into_iter()
                .for_each(|u| add_if_active(u, users, notes)),
            None => notes.push(unresolved),
        },
        HandlerRule::ResourceOwnersManagers { field } => {
            let Some(ids) = input.values.get(field).and_then(resource_ids) else {
                return notes.push(unresolved);
            };
            for id in ids {
                match dir.resource(id) {
                    None => notes.push(unresolved.clone()),
                    Some(resource) if resource.managed => {
                        if let Some(manager) = resource.owner.and_then(|o| dir.manager_of(&o)) {
                            users.add(manager);
                        }
                    }
                    Some(_) => {}
                }
            }
        }
    }
}

/// The applicant's manager, their manager, … up to `levels`, stopping at the
/// top or where the chain comes back on itself.
fn manager_chain(applicant: &str, levels: u8, dir: &dyn Directory) -> Vec<String> {
    let mut chain: Vec<String> = Vec::new();
    let mut current = applicant.to_string();
    for _ in 0..levels {
        let Some(manager) = dir.manager_of(&current) else {
            break;
        };
        if manager == applicant || chain.contains(&manager) {
            break;
        }
        chain.push(manager.clone());
        current = manager;
    }
    chain
}

fn apply_self_policy(
    input: &PlanInput,
    policy: SelfPolicy,
    users: People,
    dir: &dyn Directory,
    notes: &mut Notes,
) -> People {
    if policy == SelfPolicy::Allow || !users.0.iter().any(|u| u == input.applicant) {
        return users;
    }
    let replacement = match policy {
        SelfPolicy::Manager => dir
            .manager_of(input.applicant)
            .filter(|m| m != input.applicant),
        _ => None,
    };
    match &replacement {
        Some(manager) => notes.push(Note::SelfReplaced {
            manager: manager.clone(),
        }),
        None => notes.push(Note::SelfRemoved),
    }
    let mut kept = People::default();
    for user in users.0 {
        if user != input.applicant {
            kept.add(user);
        } else if let Some(manager) = &replacement {
            kept.add(manager.clone());
        }
    }
    kept
}

/// The delegate acting for `user` on this node, if any. Delegations are not
/// chained; a delegate who is inactive, or who is the applicant on an
/// approval node (whatever its self-approval policy: nobody approves
/// their own ticket as someone's stand-in), does not act.
fn acting_for(
    input: &PlanInput,
    node: &NodeDef,
    user: &str,
    dir: &dyn Directory,
) -> Option<String> {
    let delegate = dir.delegate_of(user, input.def.kind)?;
    let self_approval = node.kind == NodeKind::Approval && delegate == input.applicant;
    (delegate != user && dir.is_active(&delegate) && !self_approval).then_some(delegate)
}

/// The username(s) of a member or members value; `None` when there are none.
fn usernames(value: &Value) -> Option<Vec<String>> {
    let names: Vec<String> = match value {
        Value::String(name) => vec![name.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    let names: Vec<String> = names
        .into_iter()
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .collect();
    (!names.is_empty()).then_some(names)
}

/// The ids of a resource value; `None` when there are none.
fn resource_ids(value: &Value) -> Option<Vec<i64>> {
    let ids: Vec<i64> = match value {
        Value::Number(n) => n.as_i64().into_iter().collect(),
        Value::Array(items) => items.iter().filter_map(Value::as_i64).collect(),
        _ => Vec::new(),
    };
    (!ids.is_empty()).then_some(ids)
}

fn holds(condition: &Condition, input: &PlanInput, dir: &dyn Directory) -> bool {
    condition.all.iter().all(|p| predicate_holds(p, input, dir))
        && condition
            .any
            .iter()
            .all(|group| group.iter().any(|p| predicate_holds(p, input, dir)))
}

/// A value a comparison reads: a number, or a date or date-time (a date
/// is its midnight).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub enum Comparable {
    Number(f64),
    At(chrono::NaiveDateTime),
}

impl Comparable {
    /// What `text` means to a comparison, if anything.
    pub fn parse(text: &str) -> Option<Comparable> {
        let text = text.trim();
        if let Ok(n) = text.parse::<f64>()
            && n.is_finite()
        {
            return Some(Comparable::Number(n));
        }
        super::form::parse_datetime(text)
            .or_else(|| super::form::parse_date(text).map(|d| d.and_time(chrono::NaiveTime::MIN)))
            .map(Comparable::At)
    }

    fn of(value: &Value) -> Option<Comparable> {
        match value {
            Value::Number(n) => n.as_f64().map(Comparable::Number),
            Value::String(s) => Comparable::parse(s),
            _ => None,
        }
    }

    /// How `self` orders against `other`: only a number against a number
    /// and a time against a time.
    fn order(self, other: Comparable) -> Option<std::cmp::Ordering> {
        match (self, other) {
            (Comparable::Number(a), Comparable::Number(b)) => a.partial_cmp(&b),
            (Comparable::At(a), Comparable::At(b)) => Some(a.cmp(&b)),
            _ => None,
        }
    }
}

fn predicate_holds(predicate: &Predicate, input: &PlanInput, dir: &dyn Directory) -> bool {
    match predicate {
        Predicate::FieldEquals { field, value } => match input.values.get(field) {
            Some(Value::Array(items)) => items.iter().any(|i| scalar_equals(i, value)),
            Some(found) => scalar_equals(found, value),
            // An unstored checkbox is unchecked.
            None => {
                value == "false"
                    && input
                        .def
                        .field(field)
                        .is_some_and(|f| f.kind == FieldKind::Checkbox)
            }
        },
        Predicate::FieldNotEmpty { field } => match input.values.get(field) {
            None | Some(Value::Null) => false,
            Some(Value::String(s)) => !s.trim().is_empty(),
            Some(Value::Array(items)) => !items.is_empty(),
            Some(_) => true,
        },
        Predicate::ApplicantHasRole { role } => dir.has_role(input.applicant, role),
        Predicate::ApplicantInBusiness { business } => dir.in_business(input.applicant, business),
        Predicate::Compare { field, op, value } => {
            let found = input.values.get(field).and_then(Comparable::of);
            match (found, Comparable::parse(value)) {
                (Some(found), Some(wanted)) => found.order(wanted).is_some_and(|o| op.holds(o)),
                _ => false,
            }
        }
        Predicate::Between { field, low, high } => {
            let found = input.values.get(field).and_then(Comparable::of);
            match (found, Comparable::parse(low), Comparable::parse(high)) {
                (Some(found), Some(low), Some(high)) => {
                    found.order(low).is_some_and(|o| o.is_ge())
                        && found.order(high).is_some_and(|o| o.is_le())
                }
                _ => false,
            }
        }
        Predicate::Contains { field, value } => {
            let wanted = value.trim().to_lowercase();
            match input.values.get(field) {
                Some(Value::Array(items)) => items.iter().any(|i| match i {
                    Value::String(s) => s.to_lowercase() == wanted,
                    other => scalar_equals(other, value),
                }),
                Some(Value::String(s)) => !wanted.is_empty() && s.to_lowercase().contains(&wanted),
                _ => false,
            }
        }
        Predicate::ResourceManaged { field } => input
            .values
            .get(field)
            .and_then(resource_ids)
            .is_some_and(|ids| {
                ids.into_iter()
                    .any(|id| dir.resource(id).is_some_and(|r| r.managed))
            }),
    }
}

/// Whether a single value's string form is `expected` (checkbox
/// `"true"`/`"false"`, numbers in their JSON form).
fn scalar_equals(value: &Value, expected: &str) -> bool {
    match value {
        Value::String(s) => s == expected,
        Value::Bool(b) => expected == if *b { "true" } else { "false" },
        Value::Number(n) => n.to_string() == expected,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use serde_json::json;

    use super::super::definition::{FieldDef, LocalText};
    use super::*;

    // An in-memory directory.

    #[derive(Default)]
    struct Dir {
        managers: HashMap<String, String>,
        /// (role, business or None for global) → holders.
        roles: HashMap<(String, Option<String>), Vec<String>>,
        resources: HashMap<i64, ResourceInfo>,
        inactive: HashSet<String>,
        delegates: HashMap<(String, ProcessKind), String>,
        admins: Vec<String>,
    }

    impl Dir {
        fn manager(mut self, user: &str, manager: &str) -> Dir {
            self.managers.insert(user.into(), manager.into());
            self
        }

        fn role(mut self, role: &str, business: Option<&str>, holders: &[&str]) -> Dir {
            self.roles.insert(
                (role.into(), business.map(String::from)),
                holders.iter().map(|h| h.to_string()).collect(),
            );
            self
        }

        fn resource(mut self, id: i64, name: &str, owner: Option<&str>, managed: bool) -> Dir {
            let info = ResourceInfo {
                name: name.into(),
                owner: owner.map(String::from),
                managed,
            };
            self.resources.insert(id, info);
            self
        }

        fn inactive(mut self, user: &str) -> Dir {
            self.inactive.insert(user.into());
            self
        }

        fn delegate(mut self, user: &str, kind: ProcessKind, to: &str) -> Dir {
            self.delegates.insert((user.into(), kind), to.into());
            self
        }

        fn admins(mut self, admins: &[&str]) -> Dir {
            self.admins = admins.iter().map(|a| a.to_string()).collect();
            self
        }
    }

    impl Directory for Dir {
        fn manager_of(&self, username: &str) -> Option<String> {
            self.managers
                .get(username)
                .filter(|m| self.is_active(m))
                .cloned()
        }

        fn holders_of_role(&self, role: &str, business: Option<&str>) -> Vec<String> {
            let mut holders: Vec<String> = self
                .roles
                .iter()
                .filter(|((r, b), _)| {
                    r == role && (business.is_none() || b.is_none() || b.as_deref() == business)
                })
                .flat_map(|(_, h)| h.iter().cloned())
                .filter(|h| self.is_active(h))
                .collect();
            holders.sort();
            holders.dedup();
            holders
        }

        fn has_role(&self, username: &str, role: &str) -> bool {
            self.roles
                .iter()
                .any(|((r, _), h)| r == role && h.iter().any(|u| u == username))
        }

        fn in_business(&self, username: &str, business: &str) -> bool {
            self.roles.iter().any(|((_, b), h)| {
                b.as_deref() == Some(business) && h.iter().any(|u| u == username)
            })
        }

        fn resource(&self, id: i64) -> Option<ResourceInfo> {
            self.resources.get(&id).cloned()
        }

        fn is_active(&self, username: &str) -> bool {
            !self.inactive.contains(username)
        }

        fn delegate_of(&self, username: &str, kind: ProcessKind) -> Option<String> {
            self.delegates.get(&(username.to_string(), kind)).cloned()
        }

        fn admins(&self) -> Vec<String> {
            self.admins.clone()
        }
    }

    // Building definitions.

    fn t(en: &str) -> LocalText {
        LocalText::new(en, "")
    }

    fn node(key: &str, kind: NodeKind, handlers: Vec<HandlerRule>) -> NodeDef {
        NodeDef {
            handlers,
            ..NodeDef::new(key, t(key), kind)
        }
    }

    fn approval(key: &str, handlers: Vec<HandlerRule>) -> NodeDef {
        node(key, NodeKind::Approval, handlers)
    }

    fn process(kind: ProcessKind, fields: &[(&str, FieldKind)], nodes: Vec<NodeDef>) -> ProcessDef {
        let mut def = ProcessDef::new(t("Test"), kind);
        def.nodes[0].fields = fields
            .iter()
            .map(|(key, kind)| FieldDef::new(key, t(key), *kind))
            .collect();
        def.nodes.extend(nodes);
        def
    }

    fn users(names: &[&str]) -> HandlerRule {
        HandlerRule::Users {
            usernames: names.iter().map(|n| n.to_string()).collect(),
        }
    }

    fn role(code: &str, in_business: bool) -> HandlerRule {
        HandlerRule::Role {
            role: code.into(),
            in_business,
        }
    }

    fn values(value: serde_json::Value) -> Values {
        serde_json::from_value(value).unwrap()
    }

    fn input<'a>(def: &'a ProcessDef, applicant: &'a str, values: &'a Values) -> PlanInput<'a> {
        PlanInput {
            def,
            applicant,
            business: None,
            values,
        }
    }

    /// Plans a process whose only node after submit is `node`.
    fn plan_single(node: NodeDef, applicant: &str, values: &Values, dir: &Dir) -> PlannedNode {
        let fields = [
            ("member", FieldKind::Member),
            ("members", FieldKind::Members),
            ("tables", FieldKind::Resource),
            ("urgent", FieldKind::Checkbox),
            ("tags", FieldKind::MultiSelect),
            ("scope", FieldKind::Select),
            ("hosts", FieldKind::Number),
        ];
        let def = process(ProcessKind::Change, &fields, vec![node]);
        let key = def.nodes[1].key.clone();
        plan_node(&input(&def, applicant, values), &key, dir).unwrap()
    }

    fn who(node: &PlannedNode) -> Vec<&str> {
        node.assignees.iter().map(|a| a.user.as_str()).collect()
    }

    fn acting(node: &PlannedNode) -> Vec<(&str, Option<&str>)> {
        node.assignees
            .iter()
            .map(|a| (a.user.as_str(), a.acting.as_deref()))
            .collect()
    }

    fn no_values() -> Values {
        Values::new()
    }

    // The submit node.

    #[test]
    fn the_submit_node_goes_to_the_applicant_alone_and_is_never_delegated() {
        let mut def = process(ProcessKind::Change, &[], vec![]);
        def.nodes[0].mode = Mode::All;
        def.nodes[0].handlers = vec![users(&["someone.else"])];
        let dir = Dir::default().delegate("ops.wang", ProcessKind::Change, "ops.li");
        let plan = plan(&input(&def, "ops.wang", &no_values()), &dir);
        let submit = &plan.nodes[0];
        assert!(submit.included);
        assert_eq!(submit.mode, Mode::Any);
        assert_eq!(acting(submit), vec![("ops.wang", None)]);
        assert!(submit.notes.is_empty());
    }

    // Handler rules.

    #[test]
    fn a_users_rule_assigns_the_named_people_in_order() {
        let planned = plan_single(
            approval("a", vec![users(&["b.user", "a.user"])]),
            "x",
            &no_values(),
            &Dir::default(),
        );
        assert!(planned.included);
        assert_eq!(who(&planned), vec!["b.user", "a.user"]);
        assert!(planned.notes.is_empty());
    }

    #[test]
    fn an_inactive_named_user_is_left_out_with_a_note() {
        let dir = Dir::default().inactive("gone.user");
        let planned = plan_single(
            approval("a", vec![users(&["gone.user", "here.user"])]),
            "x",
            &no_values(),
            &dir,
        );
        assert_eq!(who(&planned), vec!["here.user"]);
        assert_eq!(
            planned.notes,
            vec![Note::Inactive {
                user: "gone.user".into()
            }]
        );
    }

    #[test]
    fn a_role_rule_assigns_its_holders_anywhere_or_within_the_business() {
        let dir = Dir::default()
            .role("qc", Some("Payments"), &["qc.pay"])
            .role("qc", Some("Retail"), &["qc.retail"])
            .role("qc", None, &["qc.global"]);
        let def = process(
            ProcessKind::Change,
            &[],
            vec![
                approval("anywhere", vec![role("qc", false)]),
                approval("scoped", vec![role("qc", true)]),
            ],
        );
        let values = no_values();
        let input = PlanInput {
            business: Some("Payments"),
            ..input(&def, "x", &values)
        };
        let plan = plan(&input, &dir);
        assert_eq!(
            who(&plan.nodes[1]),
            vec!["qc.global", "qc.pay", "qc.retail"]
        );
        assert_eq!(who(&plan.nodes[2]), vec!["qc.global", "qc.pay"]);
    }

    #[test]
    fn a_business_role_without_a_business_is_unresolved() {
        let dir = Dir::default().role("qc", None, &["qc.global"]);
        let planned = plan_single(
            approval("a", vec![users(&["first"]), role("qc", true)]),
            "x",
            &no_values(),
            &dir,
        );
        assert_eq!(who(&planned), vec!["first"]);
        assert_eq!(planned.notes, vec![Note::Unresolved { rule_index: 1 }]);
    }

    #[test]
    fn an_applicant_rule_assigns_the_applicant() {
        let planned = plan_single(
            node("do_it", NodeKind::Task, vec![HandlerRule::Applicant]),
            "ops.wang",
            &no_values(),
            &Dir::default(),
        );
        assert_eq!(who(&planned), vec!["ops.wang"]);
    }

    #[test]
    fn an_applicant_manager_rule_assigns_the_manager_or_nobody() {
        let dir = Dir::default().manager("ops.wang", "ops.boss");
        let rule = || approval("a", vec![HandlerRule::ApplicantManager]);
        let planned = plan_single(rule(), "ops.wang", &no_values(), &dir);
        assert_eq!(who(&planned), vec!["ops.boss"]);
        let planned = plan_single(rule(), "ops.boss", &no_values(), &dir);
        assert!(!planned.included);
        assert_eq!(planned.notes, vec![Note::NoneFound]);
    }

    #[test]
    fn a_manager_chain_climbs_up_to_its_levels_and_stops_at_the_top() {
        let dir = Dir::default()
            .manager("dev", "lead")
            .manager("lead", "director")
            .manager("director", "cto");
        let chain = |levels| approval("a", vec![HandlerRule::ManagerChain { levels }]);
        let values = no_values();
        assert_eq!(
            who(&plan_single(chain(2), "dev", &values, &dir)),
            vec!["lead", "director"]
        );
        assert_eq!(
            who(&plan_single(chain(9), "dev", &values, &dir)),
            vec!["lead", "director", "cto"]
        );
        assert!(!plan_single(chain(0), "dev", &values, &dir).included);
    }

    #[test]
    fn a_manager_chain_with_a_cycle_stops_where_it_comes_back() {
        let dir = Dir::default()
            .manager("dev", "lead")
            .manager("lead", "director")
            .manager("director", "lead");
        let planned = plan_single(
            approval("a", vec![HandlerRule::ManagerChain { levels: 5 }]),
            "dev",
            &no_values(),
            &dir,
        );
        assert_eq!(who(&planned), vec!["lead", "director"]);
        // Back to the applicant.
        let dir = Dir::default().manager("dev", "lead").manager("lead", "dev");
        let planned = plan_single(
            approval("a", vec![HandlerRule::ManagerChain { levels: 5 }]),
            "dev",
            &no_values(),
            &dir,
        );
        assert_eq!(who(&planned), vec!["lead"]);
    }

    #[test]
    fn a_manager_chain_stops_at_an_inactive_manager() {
        let dir = Dir::default()
            .manager("dev", "lead")
            .manager("lead", "director")
            .manager("director", "cto")
            .inactive("director");
        let planned = plan_single(
            approval("a", vec![HandlerRule::ManagerChain { levels: 3 }]),
            "dev",
            &no_values(),
            &dir,
        );
        assert_eq!(who(&planned), vec!["lead"]);
    }

    #[test]
    fn a_member_field_rule_assigns_the_picked_member_or_members() {
        let dir = Dir::default().inactive("gone");
        let values = values(json!({"member": "ops.li", "members": ["qc.chen", "gone", "ops.li"]}));
        let planned = plan_single(
            approval(
                "a",
                vec![
                    HandlerRule::MemberField {
                        field: "member".into(),
                    },
                    HandlerRule::MemberField {
                        field: "members".into(),
                    },
                ],
            ),
            "x",
            &values,
            &dir,
        );
        assert_eq!(who(&planned), vec!["ops.li", "qc.chen"]);
        assert_eq!(
            planned.notes,
            vec![Note::Inactive {
                user: "gone".into()
            }]
        );
    }

    #[test]
    fn an_empty_member_field_is_unresolved() {
        for values in [
            no_values(),
            values(json!({"members": []})),
            values(json!({"member": ""})),
        ] {
            let planned = plan_single(
                approval(
                    "a",
                    vec![
                        HandlerRule::MemberField {
                            field: "members".into(),
                        },
                        HandlerRule::MemberField {
                            field: "member".into(),
                        },
                    ],
                ),
                "x",
                &values,
                &Dir::default(),
            );
            assert!(!planned.included);
            assert_eq!(
                planned.notes,
                vec![
                    Note::Unresolved { rule_index: 0 },
                    Note::Unresolved { rule_index: 1 },
                    Note::NoneFound
                ]
            );
        }
    }

    #[test]
    fn an_owners_managers_rule_assigns_the_managers_of_owners_of_managed_resources_only() {
        let dir = Dir::default()
            .resource(1, "dw.orders", Some("owner.a"), true)
            .resource(2, "dw.clicks", Some("owner.b"), false)
            .resource(3, "dw.payments", Some("owner.c"), true)
            .resource(4, "dw.orphan", None, true)
            .resource(5, "dw.same", Some("owner.a2"), true)
            .manager("owner.a", "boss.a")
            .manager("owner.b", "boss.b")
            .manager("owner.c", "boss.c")
            .manager("owner.a2", "boss.a");
        let values = values(json!({"tables": [3, 2, 4, 1, 5]}));
        let planned = plan_single(
            approval(
                "a",
                vec![HandlerRule::ResourceOwnersManagers {
                    field: "tables".into(),
                }],
            ),
            "x",
            &values,
            &dir,
        );
        assert_eq!(who(&planned), vec!["boss.c", "boss.a"]);
        assert!(planned.notes.is_empty());
    }

    #[test]
    fn an_unknown_resource_or_an_empty_resource_field_is_unresolved() {
        let dir = Dir::default()
            .resource(1, "dw.orders", Some("owner.a"), true)
            .manager("owner.a", "boss.a");
        let rule = || {
            approval(
                "a",
                vec![HandlerRule::ResourceOwnersManagers {
                    field: "tables".into(),
                }],
            )
        };
        let planned = plan_single(rule(), "x", &values(json!({"tables": [99, 1]})), &dir);
        assert_eq!(who(&planned), vec!["boss.a"]);
        assert_eq!(planned.notes, vec![Note::Unresolved { rule_index: 0 }]);
        let planned = plan_single(rule(), "x", &values(json!({"tables": []})), &dir);
        assert_eq!(
            planned.notes,
            vec![Note::Unresolved { rule_index: 0 }, Note::NoneFound]
        );
    }

    #[test]
    fn rules_are_unioned_in_order_without_duplicates() {
        let dir =
            Dir::default()
                .manager("dev", "lead")
                .role("ops_lead", None, &["lead", "other.lead"]);
        let planned = plan_single(
            approval(
                "a",
                vec![
                    users(&["named", "lead"]),
                    HandlerRule::ApplicantManager,
                    role("ops_lead", false),
                    users(&["named"]),
                ],
            ),
            "dev",
            &no_values(),
            &dir,
        );
        assert_eq!(who(&planned), vec!["named", "lead", "other.lead"]);
    }

    // Modes.

    #[test]
    fn every_mode_is_copied_from_the_node() {
        let modes = [
            Mode::Any,
            Mode::All,
            Mode::Sequence,
            Mode::Quorum {
                count: Some(2),
                percent: None,
            },
            Mode::Quorum {
                count: None,
                percent: Some(60),
            },
        ];
        for mode in modes {
            let planned = plan_single(
                NodeDef {
                    mode,
                    ..approval("a", vec![users(&["u1", "u2", "u3"])])
                },
                "x",
                &no_values(),
                &Dir::default(),
            );
            assert_eq!(planned.mode, mode);
        }
    }

    #[test]
    fn a_sequence_keeps_the_rule_order() {
        let dir = Dir::default().manager("dev", "lead");
        let planned = plan_single(
            NodeDef {
                mode: Mode::Sequence,
                ..approval(
                    "a",
                    vec![
                        users(&["zed"]),
                        HandlerRule::ApplicantManager,
                        users(&["adam"]),
                    ],
                )
            },
            "dev",
            &no_values(),
            &dir,
        );
        assert_eq!(who(&planned), vec!["zed", "lead", "adam"]);
    }

    // Conditions.

    fn conditional(predicates: Vec<Predicate>) -> NodeDef {
        NodeDef {
            condition: Some(Condition::all_of(predicates)),
            ..approval("a", vec![users(&["approver"])])
        }
    }

    fn equals(field: &str, value: &str) -> Predicate {
        Predicate::FieldEquals {
            field: field.into(),
            value: value.into(),
        }
    }

    fn included(predicates: Vec<Predicate>, values: &Values, dir: &Dir) -> bool {
        let planned = plan_single(conditional(predicates), "x", values, dir);
        if planned.included {
            assert_eq!(planned.skip, None);
        } else {
            assert_eq!(planned.skip, Some(Skip::Condition));
            assert_eq!(planned.notes, vec![Note::ConditionFalse]);
            assert!(planned.assignees.is_empty());
        }
        planned.included
    }

    use crate::flow::Comparison;

    fn compare(field: &str, op: Comparison, value: &str) -> Predicate {
        Predicate::Compare {
            field: field.into(),
            op,
            value: value.into(),
        }
    }

    #[test]
    fn a_node_is_included_when_all_hold_and_one_of_each_either_or_group_holds() {
        let dir = Dir::default();
        let node = |all: Vec<Predicate>, any: Vec<Vec<Predicate>>| NodeDef {
            condition: Some(Condition { all, any }),
            ..approval("a", vec![users(&["approver"])])
        };
        let form = values(json!({"scope": "infrastructure", "hosts": 3, "urgent": false}));
        let included = |n: NodeDef| plan_single(n, "x", &form, &dir).included;
        // (scope = infrastructure) AND (urgent OR hosts > 2)
        assert!(included(node(
            vec![equals("scope", "infrastructure")],
            vec![vec![
                equals("urgent", "true"),
                compare("hosts", Comparison::Gt, "2")
            ]],
        )));
        // ... AND (urgent OR hosts > 5): neither holds.
        assert!(!included(node(
            vec![equals("scope", "infrastructure")],
            vec![vec![
                equals("urgent", "true"),
                compare("hosts", Comparison::Gt, "5")
            ]],
        )));
        // Two groups: each needs one.
        assert!(!included(node(
            vec![],
            vec![
                vec![compare("hosts", Comparison::Ge, "3")],
                vec![equals("urgent", "true"), equals("scope", "application")],
            ],
        )));
        assert!(included(node(
            vec![],
            vec![
                vec![compare("hosts", Comparison::Ge, "3")],
                vec![equals("urgent", "false")],
            ],
        )));
    }

    #[test]
    fn numbers_and_dates_compare_by_value_and_an_empty_field_never_does() {
        let dir = Dir::default();
        let form = values(json!({
            "hosts": 12, "when": "2027-03-01", "at": "2027-03-01T09:30", "text": "12"
        }));
        for (op, value, holds) in [
            (Comparison::Gt, "9", true),
            (Comparison::Gt, "12", false),
            (Comparison::Ge, "12", true),
            (Comparison::Lt, "100", true),
            (Comparison::Le, "11.5", false),
        ] {
            assert_eq!(
                included(vec![compare("hosts", op, value)], &form, &dir),
                holds,
                "hosts {op:?} {value}"
            );
        }
        assert!(included(
            vec![compare("when", Comparison::Gt, "2027-02-28")],
            &form,
            &dir
        ));
        assert!(!included(
            vec![compare("when", Comparison::Lt, "2027-03-01")],
            &form,
            &dir
        ));
        // A date is its midnight against a date-time.
        assert!(included(
            vec![compare("at", Comparison::Gt, "2027-03-01")],
            &form,
            &dir
        ));
        assert!(included(
            vec![compare("at", Comparison::Lt, "2027-03-01 10:00")],
            &form,
            &dir
        ));
        // A number against a date, or a field not filled: never.
        assert!(!included(
            vec![compare("when", Comparison::Gt, "5")],
            &form,
            &dir
        ));
        assert!(!included(
            vec![compare("missing", Comparison::Lt, "5")],
            &form,
            &dir
        ));
        let between = |field: &str, low: &str, high: &str| Predicate::Between {
            field: field.into(),
            low: low.into(),
            high: high.into(),
        };
        assert!(included(vec![between("hosts", "12", "20")], &form, &dir));
        assert!(included(vec![between("hosts", "1", "12")], &form, &dir));
        assert!(!included(vec![between("hosts", "13", "20")], &form, &dir));
        assert!(included(
            vec![between("when", "2027-03-01", "2027-03-31")],
            &form,
            &dir
        ));
        assert!(!included(vec![between("missing", "1", "2")], &form, &dir));
    }

    #[test]
    fn contains_reads_a_multi_select_people_and_text_whatever_the_case() {
        let dir = Dir::default();
        let form = values(json!({
            "tags": ["db", "network"], "members": ["alice", "bob"], "what": "Upgrade the DB cluster"
        }));
        let contains = |field: &str, value: &str| Predicate::Contains {
            field: field.into(),
            value: value.into(),
        };
        assert!(included(vec![contains("tags", "network")], &form, &dir));
        assert!(!included(vec![contains("tags", "net")], &form, &dir));
        assert!(included(vec![contains("members", "Bob")], &form, &dir));
        assert!(!included(vec![contains("members", "carol")], &form, &dir));
        assert!(included(vec![contains("what", "db cluster")], &form, &dir));
        assert!(!included(vec![contains("what", "network")], &form, &dir));
        assert!(!included(vec![contains("missing", "x")], &form, &dir));
    }

    #[test]
    fn the_applicant_is_in_a_business_when_they_hold_a_role_within_it() {
        let dir = Dir::default()
            .role("ops", Some("Payments"), &["alice"])
            .role("ops", None, &["bob"]);
        let in_payments = || {
            vec![Predicate::ApplicantInBusiness {
                business: "Payments".into(),
            }]
        };
        let planned =
            |who: &str| plan_single(conditional(in_payments()), who, &no_values(), &dir).included;
        assert!(planned("alice"));
        // A company-wide role is in no business in particular.
        assert!(!planned("bob"));
        assert!(!planned("carol"));
    }

    #[test]
    fn a_checked_checkbox_equals_true_and_an_unchecked_one_false() {
        let dir = Dir::default();
        let checked = values(json!({"urgent": true}));
        let unchecked = values(json!({"urgent": false}));
        assert!(included(vec![equals("urgent", "true")], &checked, &dir));
        assert!(!included(vec![equals("urgent", "true")], &unchecked, &dir));
        assert!(included(vec![equals("urgent", "false")], &unchecked, &dir));
        // A checkbox that was not stored is unchecked.
        assert!(included(
            vec![equals("urgent", "false")],
            &no_values(),
            &dir
        ));
        assert!(!included(
            vec![equals("urgent", "true")],
            &no_values(),
            &dir
        ));
    }

    #[test]
    fn a_multi_select_equals_any_value_it_contains() {
        let dir = Dir::default();
        let tags = values(json!({"tags": ["db", "network"]}));
        assert!(included(vec![equals("tags", "network")], &tags, &dir));
        assert!(!included(vec![equals("tags", "storage")], &tags, &dir));
    }

    #[test]
    fn selects_and_numbers_compare_by_their_string_form() {
        let dir = Dir::default();
        let form = values(json!({"scope": "infrastructure", "hosts": 3}));
        assert!(included(
            vec![equals("scope", "infrastructure")],
            &form,
            &dir
        ));
        assert!(!included(
            vec![equals("scope", "Infrastructure")],
            &form,
            &dir
        ));
        assert!(included(vec![equals("hosts", "3")], &form, &dir));
        assert!(!included(vec![equals("missing", "3")], &form, &dir));
    }

    #[test]
    fn field_not_empty_needs_a_stored_non_empty_value() {
        let dir = Dir::default();
        let not_empty = |f: &str| Predicate::FieldNotEmpty { field: f.into() };
        let form = values(json!({"member": "ops.li", "members": [], "scope": "", "urgent": false}));
        assert!(included(vec![not_empty("member")], &form, &dir));
        assert!(!included(vec![not_empty("members")], &form, &dir));
        assert!(!included(vec![not_empty("scope")], &form, &dir));
        assert!(!included(vec![not_empty("tags")], &form, &dir));
        assert!(included(vec![not_empty("urgent")], &form, &dir));
    }

    #[test]
    fn applicant_has_role_asks_the_directory() {
        let rd = Dir::default().role("rd", Some("Payments"), &["x"]);
        let has_rd = || vec![Predicate::ApplicantHasRole { role: "rd".into() }];
        assert!(included(has_rd(), &no_values(), &rd));
        assert!(!included(has_rd(), &no_values(), &Dir::default()));
    }

    #[test]
    fn resource_managed_holds_when_any_picked_resource_is_managed() {
        let dir = Dir::default()
            .resource(1, "dw.orders", None, true)
            .resource(2, "dw.clicks", None, false);
        let managed = || {
            vec![Predicate::ResourceManaged {
                field: "tables".into(),
            }]
        };
        assert!(included(
            managed(),
            &values(json!({"tables": [2, 1]})),
            &dir
        ));
        assert!(!included(managed(), &values(json!({"tables": [2]})), &dir));
        assert!(!included(managed(), &values(json!({"tables": [7]})), &dir));
        assert!(!included(managed(), &no_values(), &dir));
    }

    #[test]
    fn every_predicate_of_a_condition_must_hold() {
        let dir = Dir::default();
        let form = values(json!({"urgent": true, "scope": "environment"}));
        assert!(included(
            vec![equals("urgent", "true"), equals("scope", "environment")],
            &form,
            &dir
        ));
        assert!(!included(
            vec![equals("urgent", "true"), equals("scope", "application")],
            &form,
            &dir
        ));
        assert!(included(vec![], &form, &dir));
    }

    // Empty policies.

    #[test]
    fn a_node_whose_rules_find_nobody_is_skipped_by_default() {
        let planned = plan_single(
            approval("a", vec![role("nobody_has_it", false)]),
            "x",
            &no_values(),
            &Dir::default().admins(&["admin"]),
        );
        assert!(!planned.included);
        assert_eq!(planned.skip, Some(Skip::NoAssignees));
        assert_eq!(planned.notes, vec![Note::NoneFound]);
        assert!(planned.assignees.is_empty());
    }

    #[test]
    fn a_node_whose_rules_find_nobody_goes_to_the_admins_when_so_designed() {
        let node = || NodeDef {
            empty_assignees: EmptyPolicy::Admins,
            ..approval("a", vec![role("nobody_has_it", false)])
        };
        let dir = Dir::default().admins(&["admin.a", "admin.b"]);
        let planned = plan_single(node(), "x", &no_values(), &dir);
        assert!(planned.included);
        assert_eq!(who(&planned), vec!["admin.a", "admin.b"]);
        assert_eq!(planned.notes, vec![Note::RoutedToAdmins]);
        // No admins either: skipped.
        let planned = plan_single(node(), "x", &no_values(), &Dir::default());
        assert!(!planned.included);
        assert_eq!(planned.skip, Some(Skip::NoAssignees));
        assert_eq!(planned.notes, vec![Note::NoneFound]);
    }

    // Self-approval.

    fn self_node(kind: NodeKind, policy: SelfPolicy) -> NodeDef {
        NodeDef {
            self_approval: policy,
            ..node("a", kind, vec![users(&["dev", "peer"])])
        }
    }

    #[test]
    fn self_approval_allowed_keeps_the_applicant() {
        let planned = plan_single(
            self_node(NodeKind::Approval, SelfPolicy::Allow),
            "dev",
            &no_values(),
            &Dir::default(),
        );
        assert_eq!(who(&planned), vec!["dev", "peer"]);
        assert!(planned.notes.is_empty());
    }

    #[test]
    fn self_approval_by_manager_replaces_the_applicant_in_place() {
        let dir = Dir::default().manager("dev", "lead");
        let planned = plan_single(
            self_node(NodeKind::Approval, SelfPolicy::Manager),
            "dev",
            &no_values(),
            &dir,
        );
        assert_eq!(who(&planned), vec!["lead", "peer"]);
        assert_eq!(
            planned.notes,
            vec![Note::SelfReplaced {
                manager: "lead".into()
            }]
        );
    }

    #[test]
    fn a_person_asked_at_an_earlier_approval_is_noted_on_a_deduplicating_node() {
        let def = process(
            ProcessKind::Change,
            &[],
            vec![
                approval("first", vec![users(&["lead", "peer"])]),
                node("work", NodeKind::Task, vec![users(&["lead"])]),
                approval("second", vec![users(&["lead", "vp"])]),
            ],
        );
        let planned = plan(&input(&def, "dev", &no_values()), &Dir::default());
        let second = planned.node("second").unwrap();
        assert_eq!(
            second.notes,
            vec![Note::Deduplicated {
                user: "lead".into(),
                earlier: "first".into()
            }]
        );
        // Both are still asked: the note says what will happen, the store does it.
        assert_eq!(who(second), vec!["lead", "vp"]);
        assert!(planned.node("work").unwrap().notes.is_empty());
    }

    #[test]
    fn no_duplicate_is_noted_when_the_node_does_not_deduplicate_or_the_earlier_one_is_left_out() {
        let mut second = approval("second", vec![users(&["lead"])]);
        second.dedupe = false;
        let mut skipped = approval("skipped", vec![users(&["vp"])]);
        skipped.condition = Some(Condition {
            all: vec![Predicate::FieldNotEmpty {
                field: "missing".into(),
            }],
            any: Vec::new(),
        });
        let third = approval("third", vec![users(&["vp"])]);
        let def = process(
            ProcessKind::Change,
            &[],
            vec![
                approval("first", vec![users(&["lead"])]),
                second,
                skipped,
                third,
            ],
        );
        let planned = plan(&input(&def, "dev", &no_values()), &Dir::default());
        assert!(planned.node("second").unwrap().notes.is_empty());
        assert!(planned.node("third").unwrap().notes.is_empty());
    }

    #[test]
    fn self_approval_by_manager_dedupes_when_the_manager_is_already_there() {
        let dir = Dir::default().manager("dev", "peer");
        let planned = plan_single(
            self_node(NodeKind::Approval, SelfPolicy::Manager),
            "dev",
            &no_values(),
            &dir,
        );
        assert_eq!(who(&planned), vec!["peer"]);
    }

    #[test]
    fn self_approval_by_manager_without_a_manager_removes_the_applicant() {
        let planned = plan_single(
            self_node(NodeKind::Approval, SelfPolicy::Manager),
            "dev",
            &no_values(),
            &Dir::default(),
        );
        assert_eq!(who(&planned), vec!["peer"]);
        assert_eq!(planned.notes, vec![Note::SelfRemoved]);
    }

    #[test]
    fn self_approval_blocked_removes_the_applicant() {
        let planned = plan_single(
            self_node(NodeKind::Approval, SelfPolicy::Block),
            "dev",
            &no_values(),
            &Dir::default(),
        );
        assert_eq!(who(&planned), vec!["peer"]);
        assert_eq!(planned.notes, vec![Note::SelfRemoved]);
    }

    #[test]
    fn blocking_the_only_assignee_leaves_nobody_and_applies_the_empty_policy() {
        let planned = plan_single(
            NodeDef {
                self_approval: SelfPolicy::Block,
                ..approval("a", vec![HandlerRule::Applicant])
            },
            "dev",
            &no_values(),
            &Dir::default(),
        );
        assert!(!planned.included);
        assert_eq!(planned.notes, vec![Note::SelfRemoved, Note::NoneFound]);
    }

    #[test]
    fn self_policies_do_not_touch_tasks_and_reviews() {
        for kind in [NodeKind::Task, NodeKind::Review] {
            let planned = plan_single(
                self_node(kind, SelfPolicy::Block),
                "dev",
                &no_values(),
                &Dir::default(),
            );
            assert_eq!(who(&planned), vec!["dev", "peer"], "{kind:?}");
            assert!(planned.notes.is_empty());
        }
    }

    #[test]
    fn a_self_policy_does_nothing_when_the_applicant_is_not_assigned() {
        let planned = plan_single(
            self_node(NodeKind::Approval, SelfPolicy::Block),
            "outsider",
            &no_values(),
            &Dir::default(),
        );
        assert_eq!(who(&planned), vec!["dev", "peer"]);
        assert!(planned.notes.is_empty());
    }

    // Delegation.

    #[test]
    fn a_delegate_acts_for_an_assignee_for_processes_of_the_delegated_kind() {
        let dir = Dir::default()
            .delegate("peer", ProcessKind::Change, "peer.backup")
            .delegate("other", ProcessKind::Access, "other.backup");
        let planned = plan_single(
            approval("a", vec![users(&["peer", "other"])]),
            "dev",
            &no_values(),
            &dir,
        );
        assert_eq!(
            acting(&planned),
            vec![("peer", Some("peer.backup")), ("other", None)]
        );
        assert_eq!(
            planned.notes,
            vec![Note::Delegated {
                from: "peer".into(),
                to: "peer.backup".into()
            }]
        );
    }

    #[test]
    fn delegations_are_not_chained_and_a_self_delegation_is_ignored() {
        let dir = Dir::default()
            .delegate("peer", ProcessKind::Change, "backup")
            .delegate("backup", ProcessKind::Change, "backup.backup")
            .delegate("selfish", ProcessKind::Change, "selfish");
        let planned = plan_single(
            approval("a", vec![users(&["peer", "selfish"])]),
            "dev",
            &no_values(),
            &dir,
        );
        assert_eq!(
            acting(&planned),
            vec![("peer", Some("backup")), ("selfish", None)]
        );
    }

    #[test]
    fn an_inactive_delegate_does_not_act() {
        let dir = Dir::default()
            .delegate("peer", ProcessKind::Change, "backup")
            .inactive("backup");
        let planned = plan_single(
            approval("a", vec![users(&["peer"])]),
            "dev",
            &no_values(),
            &dir,
        );
        assert_eq!(acting(&planned), vec![("peer", None)]);
        assert!(planned.notes.is_empty());
    }

    #[test]
    fn a_delegation_to_the_applicant_never_lets_them_approve_for_someone_else() {
        let dir = Dir::default().delegate("peer", ProcessKind::Change, "dev");
        for policy in [SelfPolicy::Allow, SelfPolicy::Manager, SelfPolicy::Block] {
            let planned = plan_single(
                NodeDef {
                    self_approval: policy,
                    ..approval("a", vec![users(&["peer"])])
                },
                "dev",
                &no_values(),
                &dir,
            );
            assert_eq!(acting(&planned), vec![("peer", None)], "{policy:?}");
        }
        // A task is work, not a decision: the stand-in does it.
        let task = plan_single(
            node("t", NodeKind::Task, vec![users(&["peer"])]),
            "dev",
            &no_values(),
            &dir,
        );
        assert_eq!(acting(&task), vec![("peer", Some("dev"))]);
    }

    #[test]
    fn the_applicant_is_never_one_of_the_admins_an_approval_is_routed_to() {
        let dir = Dir::default().admins(&["admin", "dev"]);
        for policy in [SelfPolicy::Allow, SelfPolicy::Manager, SelfPolicy::Block] {
            let planned = plan_single(
                NodeDef {
                    empty_assignees: EmptyPolicy::Admins,
                    self_approval: policy,
                    ..approval("a", vec![])
                },
                "dev",
                &no_values(),
                &dir,
            );
            assert_eq!(who(&planned), vec!["admin"], "{policy:?}");
        }
        // The only administrator filed it: nobody is left to ask.
        let alone = plan_single(
            NodeDef {
                empty_assignees: EmptyPolicy::Admins,
                ..approval("a", vec![])
            },
            "dev",
            &no_values(),
            &Dir::default().admins(&["dev"]),
        );
        assert!(!alone.included);
        assert_eq!(alone.notes, vec![Note::NoneFound]);
    }

    #[test]
    fn a_new_node_asks_the_applicants_manager_instead_of_the_applicant() {
        let node = NodeDef::new("a", t("a"), NodeKind::Approval);
        assert_eq!(node.self_approval, SelfPolicy::Manager);
    }

    #[test]
    fn admins_routed_to_are_delegated_like_anyone() {
        let dir = Dir::default().admins(&["admin"]).delegate(
            "admin",
            ProcessKind::Change,
            "admin.deputy",
        );
        let planned = plan_single(
            NodeDef {
                empty_assignees: EmptyPolicy::Admins,
                ..approval("a", vec![])
            },
            "dev",
            &no_values(),
            &dir,
        );
        assert_eq!(acting(&planned), vec![("admin", Some("admin.deputy"))]);
        assert_eq!(
            planned.notes,
            vec![
                Note::RoutedToAdmins,
                Note::Delegated {
                    from: "admin".into(),
                    to: "admin.deputy".into()
                }
            ]
        );
    }

    // plan and plan_node.

    #[test]
    fn plan_node_replans_with_the_directory_as_it_is_now() {
        let def = process(
            ProcessKind::Change,
            &[],
            vec![approval("a", vec![HandlerRule::ApplicantManager])],
        );
        let values = no_values();
        let input = input(&def, "dev", &values);
        let before = Dir::default().manager("dev", "old.lead");
        let after = Dir::default().manager("dev", "new.lead");
        assert_eq!(who(&plan(&input, &before).nodes[1]), vec!["old.lead"]);
        let now = plan_node(&input, "a", &after).unwrap();
        assert_eq!(who(&now), vec!["new.lead"]);
        assert_eq!(plan(&input, &after).nodes[1], now);
        assert_eq!(plan_node(&input, "nope", &after), None);
    }

    #[test]
    fn a_plan_survives_json_with_notes_tagged_by_name() {
        let plan = Plan {
            nodes: vec![PlannedNode {
                key: "a".into(),
                kind: NodeKind::Approval,
                mode: Mode::Sequence,
                included: false,
                skip: Some(Skip::NoAssignees),
                assignees: vec![],
                notes: vec![
                    Note::Unresolved { rule_index: 2 },
                    Note::NoneFound,
                    Note::Delegated {
                        from: "a".into(),
                        to: "b".into(),
                    },
                ],
            }],
        };
        let json = serde_json::to_value(&plan).unwrap();
        assert_eq!(
            json["nodes"][0]["notes"],
            json!([
                {"note": "unresolved", "rule_index": 2},
                {"note": "none_found"},
                {"note": "delegated", "from": "a", "to": "b"}
            ])
        );
        assert_eq!(json["nodes"][0]["skip"], json!("no_assignees"));
        assert_eq!(serde_json::from_value::<Plan>(json).unwrap(), plan);
    }

    // Story: seed 004, an RD engineer's access request.

    fn access_request_rd() -> ProcessDef {
        let mut owners = NodeDef {
            mode: Mode::All,
            ..approval(
                "owners_managers",
                vec![HandlerRule::ResourceOwnersManagers {
                    field: "resources".into(),
                }],
            )
        };
        owners.condition = Some(Condition {
            all: vec![Predicate::ResourceManaged {
                field: "resources".into(),
            }],
            any: Vec::new(),
        });
        let mut vp = approval("vp", vec![role("vp", false)]);
        vp.condition = Some(Condition {
            all: vec![equals("special", "true")],
            any: Vec::new(),
        });
        process(
            ProcessKind::Access,
            &[
                ("resources", FieldKind::Resource),
                ("reason", FieldKind::Textarea),
                ("special", FieldKind::Checkbox),
            ],
            vec![
                approval("manager", vec![HandlerRule::ApplicantManager]),
                owners,
                vp,
                approval("authorisers", vec![users(&["grant.wu", "grant.zheng"])]),
            ],
        )
    }

    const ORDERS: i64 = 11;
    const CLICKS: i64 = 12;

    fn seed_004() -> Dir {
        Dir::default()
            .manager("rd.zhang", "rd.manager")
            .manager("owner.qian", "owner.manager")
            .role("rd", None, &["rd.zhang"])
            .role("vp", None, &["vp.zhou"])
            .resource(ORDERS, "dw.orders", Some("owner.qian"), true)
            .resource(CLICKS, "dw.clicks", Some("owner.qian"), false)
    }

    fn summary(plan: &Plan) -> Vec<(&str, bool, Vec<&str>)> {
        plan.nodes
            .iter()
            .map(|n| (n.key.as_str(), n.included, who(n)))
            .collect()
    }

    #[test]
    fn seed_004_a_special_request_for_a_managed_table_needs_every_approver() {
        let def = access_request_rd();
        let values = values(json!({
            "resources": [ORDERS, CLICKS],
            "reason": "monthly report",
            "special": true,
        }));
        let plan = plan(&input(&def, "rd.zhang", &values), &seed_004());
        assert_eq!(
            summary(&plan),
            vec![
                ("submit", true, vec!["rd.zhang"]),
                ("manager", true, vec!["rd.manager"]),
                ("owners_managers", true, vec!["owner.manager"]),
                ("vp", true, vec!["vp.zhou"]),
                ("authorisers", true, vec!["grant.wu", "grant.zheng"]),
            ]
        );
        let owners = plan.node("owners_managers").unwrap();
        assert_eq!(owners.mode, Mode::All);
        assert_eq!(plan.node("authorisers").unwrap().mode, Mode::Any);
        assert!(plan.nodes.iter().all(|n| n.notes.is_empty()));
    }

    #[test]
    fn seed_004_a_request_that_is_not_special_skips_the_vp() {
        let def = access_request_rd();
        let values = values(json!({"resources": [ORDERS, CLICKS], "special": false}));
        let plan = plan(&input(&def, "rd.zhang", &values), &seed_004());
        let vp = plan.node("vp").unwrap();
        assert!(!vp.included);
        assert_eq!(vp.skip, Some(Skip::Condition));
        assert_eq!(vp.notes, vec![Note::ConditionFalse]);
        assert!(plan.node("owners_managers").unwrap().included);
    }

    #[test]
    fn seed_004_a_request_for_an_unmanaged_table_only_skips_the_owners_managers() {
        let def = access_request_rd();
        let values = values(json!({"resources": [CLICKS], "special": false}));
        let plan = plan(&input(&def, "rd.zhang", &values), &seed_004());
        assert_eq!(
            summary(&plan),
            vec![
                ("submit", true, vec!["rd.zhang"]),
                ("manager", true, vec!["rd.manager"]),
                ("owners_managers", false, vec![]),
                ("vp", false, vec![]),
                ("authorisers", true, vec!["grant.wu", "grant.zheng"]),
            ]
        );
        let owners = plan.node("owners_managers").unwrap();
        assert_eq!(owners.notes, vec![Note::ConditionFalse]);
    }

    #[test]
    fn seed_004_a_delegating_owners_manager_keeps_the_seat_and_their_delegate_acts() {
        let def = access_request_rd();
        let dir = seed_004().delegate("owner.manager", ProcessKind::Access, "data.lin");
        let values = values(json!({"resources": [ORDERS, CLICKS], "special": true}));
        let plan = plan(&input(&def, "rd.zhang", &values), &dir);
        let owners = plan.node("owners_managers").unwrap();
        assert_eq!(acting(owners), vec![("owner.manager", Some("data.lin"))]);
        assert_eq!(
            owners.notes,
            vec![Note::Delegated {
                from: "owner.manager".into(),
                to: "data.lin".into()
            }]
        );
        // A delegation for another kind of process does not count.
        let dir = seed_004().delegate("owner.manager", ProcessKind::Change, "data.lin");
        let plan = super::plan(&input(&def, "rd.zhang", &values), &dir);
        assert_eq!(
            acting(plan.node("owners_managers").unwrap()),
            vec![("owner.manager", None)]
        );
    }

    // Story: the tutorial's environment change.

    fn environment_change() -> ProcessDef {
        let mut def = process(
            ProcessKind::Change,
            &[
                ("reason", FieldKind::Textarea),
                ("scope", FieldKind::Select),
            ],
            vec![
                approval("lead_review", vec![role("ops_lead", true)]),
                NodeDef {
                    self_approval: SelfPolicy::Block,
                    ..node("summary", NodeKind::Task, vec![HandlerRule::Applicant])
                },
                node("evaluation", NodeKind::Review, vec![role("qc", true)]),
            ],
        );
        def.business_required = true;
        def
    }

    #[test]
    fn tutorial_ops_wang_files_a_change_in_payments_and_each_node_finds_its_people() {
        let dir = Dir::default()
            .role("ops", Some("Payments"), &["ops.wang"])
            .role("ops_lead", Some("Payments"), &["lead.zhao"])
            .role("ops_lead", Some("Retail"), &["lead.sun"])
            .role("qc", Some("Payments"), &["qc.chen"])
            .role("qc", Some("Retail"), &["qc.zhou"]);
        let def = environment_change();
        let values = values(json!({"reason": "replace server", "scope": "environment"}));
        let input = PlanInput {
            business: Some("Payments"),
            ..input(&def, "ops.wang", &values)
        };
        let plan = plan(&input, &dir);
        assert_eq!(
            summary(&plan),
            vec![
                ("submit", true, vec!["ops.wang"]),
                ("lead_review", true, vec!["lead.zhao"]),
                ("summary", true, vec!["ops.wang"]),
                ("evaluation", true, vec!["qc.chen"]),
            ]
        );
        assert_eq!(plan.node("summary").unwrap().kind, NodeKind::Task);
        assert_eq!(plan.node("evaluation").unwrap().kind, NodeKind::Review);
        assert!(plan.nodes.iter().all(|n| n.notes.is_empty()));
    }

    /// submit (size: number) → an exclusive gateway: "big" when size > 10
    /// (two steps), "medium" when size > 3, and a default → after.
    fn exclusive() -> ProcessDef {
        use crate::flow::{BranchDef, BranchRef, GatewayDef, GatewayKind};
        let in_branch = |key: &str, branch: usize| NodeDef {
            branch: Some(BranchRef {
                gateway: "size".into(),
                branch,
            }),
            ..approval(key, vec![users(&["alice"])])
        };
        let mut def = process(
            ProcessKind::Change,
            &[("size", FieldKind::Number)],
            vec![
                in_branch("big", 0),
                in_branch("big_too", 0),
                in_branch("medium", 1),
                in_branch("small", 2),
                approval("after", vec![users(&["bob"])]),
            ],
        );
        let over = |n: &str| {
            Some(Condition::all_of(vec![Predicate::Compare {
                field: "size".into(),
                op: crate::flow::Comparison::Gt,
                value: n.into(),
            }]))
        };
        def.gateways.push(GatewayDef {
            key: "size".into(),
            name: t("Size"),
            kind: GatewayKind::Exclusive,
            branches: vec![
                BranchDef {
                    name: t("Big"),
                    condition: over("10"),
                },
                BranchDef {
                    name: t("Medium"),
                    condition: over("3"),
                },
                BranchDef::default(),
            ],
        });
        def
    }

    #[test]
    fn an_exclusive_gateway_takes_the_first_branch_that_holds_or_its_default() {
        let def = exclusive();
        let dir = Dir::default();
        let included = |size: serde_json::Value| {
            let values = values(serde_json::json!({ "size": size }));
            let plan = plan(&input(&def, "zoe", &values), &dir);
            plan.nodes
                .iter()
                .filter(|n| n.included)
                .map(|n| n.key.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(included(json!(20)), ["submit", "big", "big_too", "after"]);
        assert_eq!(included(json!(5)), ["submit", "medium", "after"]);
        assert_eq!(included(json!(1)), ["submit", "small", "after"]);
        assert_eq!(included(json!(null)), ["submit", "small", "after"]);
        let values = values(serde_json::json!({ "size": 5 }));
        let plan = plan(&input(&def, "zoe", &values), &dir);
        assert_eq!(
            plan.node("big").unwrap().notes,
            vec![Note::BranchNotTaken {
                gateway: "size".into(),
                taken: 1
            }]
        );
        assert_eq!(plan.node("big").unwrap().skip, Some(Skip::BranchNotTaken));
    }

    proptest::proptest! {
        /// Whatever the value, exactly one branch of an exclusive gateway
        /// is taken: its steps are planned and every other branch's are
        /// left out as not taken.
        #[test]
        fn an_exclusive_gateway_takes_exactly_one_branch(size in proptest::option::of(-50i64..50)) {
            let def = exclusive();
            let values = values(serde_json::json!({ "size": size }));
            let plan = plan(&input(&def, "zoe", &values), &Dir::default());
            let taken: std::collections::BTreeSet<usize> = def
                .nodes
                .iter()
                .zip(&plan.nodes)
                .filter_map(|(n, p)| n.branch.as_ref().map(|b| (b.branch, p)))
                .filter(|(_, p)| p.skip != Some(Skip::BranchNotTaken))
                .map(|(b, _)| b)
                .collect();
            proptest::prop_assert_eq!(taken.len(), 1);
            proptest::prop_assert!(plan.node("after").unwrap().included);
        }
    }
}
