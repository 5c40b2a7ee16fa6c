//! Design-time validation of a process: every problem, with where it is,
//! so the designer can show them all at once and deploy can refuse.

use std::collections::HashSet;

use super::branches::GatewayKind;
use super::definition::*;
use super::form::check_default;

/// A value inside a problem message: literal text, or a catalog key to translate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arg {
    Text(String),
    Key(&'static str),
}

/// One problem: `key` is a catalog key; `node` the 1-based position of the
/// node it is in; `field` the field key it is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub node: Option<usize>,
    pub field: Option<String>,
    pub key: &'static str,
    pub args: Vec<(&'static str, Arg)>,
}

/// What validation needs to know from outside the definition.
pub struct Known<'a> {
    /// Codes of the roles that exist.
    pub roles: &'a [String],
    /// Names of the businesses that exist (empty: not checked).
    pub businesses: &'a [String],
}

fn is_key(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && s.len() <= 40
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

struct Collector {
    problems: Vec<Problem>,
}

impl Collector {
    fn add(
        &mut self,
        node: Option<usize>,
        field: Option<&str>,
        key: &'static str,
        args: Vec<(&'static str, Arg)>,
    ) {
        self.problems.push(Problem {
            node,
            field: field.map(str::to_string),
            key,
            args,
        });
    }
}

fn text(s: &str) -> Arg {
    Arg::Text(s.to_string())
}

/// Checks one field on its own (used when the designer saves a field, and by `validate`).
pub fn field_problems(field: &FieldDef) -> Vec<Problem> {
    let mut c = Collector {
        problems: Vec::new(),
    };
    check_field(&mut c, None, field);
    c.problems
}

fn check_field(c: &mut Collector, node: Option<usize>, f: &FieldDef) {
    let at = Some(f.key.as_str());
    if !is_key(&f.key) {
        c.add(
            node,
            at,
            "design.problem.field_key_format",
            vec![("field", text(&f.key))],
        );
    }
    if f.label.en.trim().is_empty() {
        c.add(
            node,
            at,
            "design.problem.field_label_required",
            vec![("field", text(&f.key))],
        );
    }
    if f.kind.has_choices() {
        if f.choices.is_empty() {
            c.add(
                node,
                at,
                "design.problem.no_choices",
                vec![("field", text(&f.key))],
            );
        }
        let mut seen = HashSet::new();
        for choice in &f.choices {
            if choice.value.trim().is_empty() {
                c.add(
                    node,
                    at,
                    "design.problem.choice_empty",
                    vec![("field", text(&f.key))],
                );
            } else if !seen.insert(choice.value.as_str()) {
                c.add(
                    node,
                    at,
                    "design.problem.choice_duplicate",
                    vec![("field", text(&f.key)), ("value", text(&choice.value))],
                );
            }
        }
    }
    if let (Some(min), Some(max)) = (f.min, f.max)
        && min > max
    {
        c.add(
            node,
            at,
            "design.problem.min_over_max",
            vec![("field", text(&f.key))],
        );
    }
    if f.max_length == Some(0) {
        c.add(
            node,
            at,
            "design.problem.max_length_zero",
            vec![("field", text(&f.key))],
        );
    }
    if let Some(pattern) = f.pattern.as_deref().filter(|p| !p.is_empty())
        && regex::Regex::new(pattern).is_err()
    {
        c.add(
            node,
            at,
            "design.problem.bad_pattern",
            vec![("field", text(&f.key))],
        );
    }
    if f.default.as_deref().is_some_and(|d| !d.trim().is_empty())
        && let Err(e) = check_default(f)
    {
        c.add(
            node,
            at,
            "design.problem.bad_default",
            vec![("field", text(&f.key)), ("why", Arg::Key(e.key))],
        );
    }
}

/// Every problem of the process, in the order of the nodes.
pub fn validate(def: &ProcessDef, known: &Known) -> Vec<Problem> {
    let mut c = Collector {
        problems: Vec::new(),
    };
    if def.name.en.trim().is_empty() {
        c.add(None, None, "design.problem.name_required", vec![]);
    }
    match def.nodes.first() {
        None => c.add(None, None, "design.problem.no_nodes", vec![]),
        Some(first) if first.kind != NodeKind::Submit => {
            c.add(Some(1), None, "design.problem.first_not_submit", vec![])
        }
        Some(_) if def.nodes.len() == 1 => c.add(None, None, "design.problem.only_submit", vec![]),
        Some(_) => {}
    }
    if def
        .deadline
        .is_some_and(|d| d.hours == 0 || d.hours > MAX_DEADLINE_HOURS)
    {
        c.add(None, None, "design.problem.deadline_hours", vec![]);
    }
    for (key, field) in super::change::problems(def) {
        c.add(None, None, key, vec![("field", text(&field))]);
    }
    if let Some(role) = def.change.as_ref().and_then(|c| c.conflict_role.as_ref())
        && !known.roles.contains(role)
    {
        c.add(
            None,
            None,
            "design.problem.unknown_role",
            vec![("role", text(role))],
        );
    }
    let mut node_keys = HashSet::new();
    let mut field_keys = HashSet::new();
    for (i, node) in def.nodes.iter().enumerate() {
        let at = Some(i + 1);
        if !is_key(&node.key) {
            c.add(
                at,
                None,
                "design.problem.node_key_format",
                vec![("key", text(&node.key))],
            );
        } else if !node_keys.insert(node.key.as_str()) {
            c.add(
                at,
                None,
                "design.problem.node_key_duplicate",
                vec![("key", text(&node.key))],
            );
        }
        if node.name.en.trim().is_empty() {
            c.add(at, None, "design.problem.node_name_required", vec![]);
        }
        if node.kind == NodeKind::Submit && i > 0 {
            c.add(at, None, "design.problem.extra_submit", vec![]);
        }
        for f in &node.fields {
            if is_key(&f.key) && !field_keys.insert(f.key.as_str()) {
                c.add(
                    at,
                    Some(&f.key),
                    "design.problem.field_key_duplicate",
                    vec![("field", text(&f.key))],
                );
            }
            check_field(&mut c, at, f);
        }
        let earlier = def.fields_before(&node.key);
        let earlier_or_own: Vec<&FieldDef> =
            earlier.iter().copied().chain(node.fields.iter()).collect();
        check_handlers(&mut c, def, node, at, &earlier_or_own, known);
        check_copies(&mut c, def, &node.cc, at, &earlier_or_own, known);
        check_mode(&mut c, node, at);
        if let Some(deadline) = &node.deadline {
            deadline_problems(node.kind, node.mode, deadline)
                .into_iter()
                .for_each(|(field, key)| c.add(at, Some(field), key, vec![]));
        }
        if let Some(condition) = &node.condition {
            if node.kind == NodeKind::Submit {
                c.add(at, None, "design.problem.submit_condition", vec![]);
            }
            for p in condition.predicates() {
                check_predicate(&mut c, def, p, at, &earlier, known);
            }
        }
        for field in node.field_access.keys() {
            if !earlier.iter().any(|f| &f.key == field) {
                c.add(
                    at,
                    Some(field),
                    "design.problem.access_unknown_field",
                    vec![("field", text(field))],
                );
            }
        }
    }
    let every_field: Vec<&FieldDef> = def.fields().map(|(_, f)| f).collect();
    check_copies(&mut c, def, &def.cc, None, &every_field, known);
    check_gateways(&mut c, def, known, &node_keys);
    c.problems
}

/// Gateways: well named, with two branches or more, none empty; their
/// nodes together, branch by branch; an exclusive gateway's branches
/// each with a condition on fields filled before it, but its one default
/// branch, last; a parallel gateway's with none.
fn check_gateways(c: &mut Collector, def: &ProcessDef, known: &Known, node_keys: &HashSet<&str>) {
    let mut keys = HashSet::new();
    for node in &def.nodes {
        if let Some(at) = &node.branch
            && def
                .gateway(&at.gateway)
                .is_none_or(|g| at.branch >= g.branches.len())
        {
            c.add(
                position(def, &node.key),
                None,
                "design.problem.unknown_branch",
                vec![("gateway", text(&at.gateway))],
            );
        }
    }
    for gateway in &def.gateways {
        let name = || ("gateway", text(&gateway.key));
        if !is_key(&gateway.key) {
            c.add(
                None,
                None,
                "design.problem.gateway_key_format",
                vec![name()],
            );
        } else if !keys.insert(gateway.key.as_str()) || node_keys.contains(gateway.key.as_str()) {
            c.add(
                None,
                None,
                "design.problem.gateway_key_duplicate",
                vec![name()],
            );
        }
        if gateway.name.en.trim().is_empty() {
            c.add(
                None,
                None,
                "design.problem.gateway_name_required",
                vec![name()],
            );
        }
        if gateway.branches.len() < 2 {
            c.add(None, None, "design.problem.gateway_branches", vec![name()]);
        }
        // Where its nodes stand, each with its branch.
        let members: Vec<(usize, usize)> = def
            .nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| {
                n.branch
                    .as_ref()
                    .filter(|b| b.gateway == gateway.key)
                    .map(|b| (i, b.branch))
            })
            .collect();
        for (i, branch) in gateway.branches.iter().enumerate() {
            if !members.iter().any(|(_, b)| *b == i) {
                c.add(
                    None,
                    None,
                    "design.problem.branch_empty",
                    vec![name(), ("branch", text(&(i + 1).to_string()))],
                );
            }
            let at = members.first().map(|(i, _)| i + 1);
            match (gateway.kind, &branch.condition) {
                (GatewayKind::Parallel, Some(_)) => c.add(
                    at,
                    None,
                    "design.problem.parallel_condition",
                    vec![name(), ("branch", text(&(i + 1).to_string()))],
                ),
                (GatewayKind::Exclusive, Some(condition)) => {
                    let before = members
                        .first()
                        .and_then(|(i, _)| def.nodes.get(*i))
                        .map(|n| def.fields_before(&n.key))
                        .unwrap_or_default();
                    for p in condition.predicates() {
                        check_predicate(c, def, p, at, &before, known);
                    }
                }
                _ => {}
            }
        }
        let together = members
            .windows(2)
            .all(|w| w[1].0 == w[0].0 + 1 && w[1].1 >= w[0].1);
        if !together {
            c.add(None, None, "design.problem.gateway_apart", vec![name()]);
        }
        // A review's outcome is the ticket's: two reviews side by side
        // would write over each other's.
        if gateway.kind == GatewayKind::Parallel
            && members
                .iter()
                .any(|(i, _)| def.nodes[*i].kind == NodeKind::Review)
        {
            c.add(
                None,
                None,
                "design.problem.review_in_parallel",
                vec![name()],
            );
        }
        if members
            .iter()
            .any(|(i, _)| def.nodes[*i].kind == NodeKind::Submit)
        {
            c.add(
                Some(1),
                None,
                "design.problem.submit_in_branch",
                vec![name()],
            );
        }
        if gateway.kind == GatewayKind::Exclusive {
            let defaults: Vec<usize> = gateway
                .branches
                .iter()
                .enumerate()
                .filter(|(_, b)| b.condition.as_ref().is_none_or(Condition::is_empty))
                .map(|(i, _)| i)
                .collect();
            match defaults.as_slice() {
                [] => c.add(None, None, "design.problem.no_default_branch", vec![name()]),
                [only] if *only + 1 == gateway.branches.len() => {}
                // A branch that always holds before others: they are never taken.
                _ => c.add(
                    None,
                    None,
                    "design.problem.branch_unreachable",
                    vec![name(), ("branch", text(&(defaults[0] + 2).to_string()))],
                ),
            }
        }
    }
}

/// The 1-based position of the node `key`, as problems name it.
fn position(def: &ProcessDef, key: &str) -> Option<usize> {
    def.nodes.iter().position(|n| n.key == key).map(|i| i + 1)
}

/// What is wrong with a node's deadline, each with the designer's input
/// it is about: a deadline on the submit node, no time, a reminder at or
/// after the deadline or out of order, reminders after it every zero
/// hours, an escalation that votes on a step that takes no vote, a
/// manager added where one more person only makes the step harder to
/// decide (everyone's vote counts, in turn or as a share).
pub fn deadline_problems(
    kind: NodeKind,
    mode: Mode,
    d: &Deadline,
) -> Vec<(&'static str, &'static str)> {
    let mut out = Vec::new();
    if kind == NodeKind::Submit {
        out.push(("deadline_hours", "design.problem.deadline_on_submit"));
    }
    if d.hours == 0 || d.hours > MAX_DEADLINE_HOURS {
        out.push(("deadline_hours", "design.problem.deadline_hours"));
    }
    if d.remind_at.iter().any(|p| *p == 0 || *p >= 100) {
        out.push(("remind_at", "design.problem.remind_after_deadline"));
    } else if d.remind_at.windows(2).any(|w| w[0] >= w[1]) {
        out.push(("remind_at", "design.problem.remind_order"));
    }
    if d.repeat_hours
        .is_some_and(|h| h == 0 || h > MAX_DEADLINE_HOURS)
    {
        out.push(("repeat_hours", "design.problem.repeat_hours"));
    }
    if d.on_breach.approval_only() && kind != NodeKind::Approval {
        out.push(("on_breach", "design.problem.breach_needs_approval"));
    } else if d.on_breach == Escalation::AddManager
        && !matches!(mode, Mode::Any | Mode::Quorum { percent: None, .. })
    {
        out.push(("on_breach", "design.problem.add_manager_mode"));
    }
    out
}

/// The longest deadline or repeat a node may have: a year of hours.
pub const MAX_DEADLINE_HOURS: u32 = 8760;

fn check_handlers(
    c: &mut Collector,
    def: &ProcessDef,
    node: &NodeDef,
    at: Option<usize>,
    fields: &[&FieldDef],
    known: &Known,
) {
    if node.kind == NodeKind::Submit {
        return;
    }
    if node.handlers.is_empty() {
        let kind = match node.kind {
            NodeKind::Approval => "design.kind_article.approval",
            NodeKind::Task => "design.kind_article.task",
            _ => "design.kind_article.review",
        };
        c.add(
            at,
            None,
            "design.problem.no_handlers",
            vec![("kind", Arg::Key(kind))],
        );
    }
    check_rules(c, def, &node.handlers, at, fields, known);
}

/// Whom a node or the process copies (抄送): the same checks as a node's
/// handlers, and the applicant is no one to copy (they hear anyway).
fn check_copies(
    c: &mut Collector,
    def: &ProcessDef,
    rules: &[HandlerRule],
    at: Option<usize>,
    fields: &[&FieldDef],
    known: &Known,
) {
    if rules.contains(&HandlerRule::Applicant) {
        c.add(at, None, "design.problem.copy_applicant", vec![]);
    }
    check_rules(c, def, rules, at, fields, known);
}

/// What is wrong with each rule that finds people.
fn check_rules(
    c: &mut Collector,
    def: &ProcessDef,
    rules: &[HandlerRule],
    at: Option<usize>,
    fields: &[&FieldDef],
    known: &Known,
) {
    for rule in rules {
        match rule {
            HandlerRule::Users { usernames } if usernames.iter().all(|u| u.trim().is_empty()) => {
                c.add(at, None, "design.problem.no_users", vec![]);
            }
            HandlerRule::Role { role, in_business } => {
                if !known.roles.iter().any(|r| r == role) {
                    c.add(
                        at,
                        None,
                        "design.problem.unknown_role",
                        vec![("role", text(role))],
                    );
                }
                if *in_business && !def.business_required {
                    c.add(
                        at,
                        None,
                        "design.problem.role_needs_business",
                        vec![("role", text(role))],
                    );
                }
            }
            HandlerRule::ManagerChain { levels } if !(1..=10).contains(levels) => {
                c.add(at, None, "design.problem.chain_levels", vec![]);
            }
            HandlerRule::MemberField { field } => match fields.iter().find(|f| &f.key == field) {
                None => c.add(
                    at,
                    Some(field),
                    "design.problem.unknown_field",
                    vec![("field", text(field))],
                ),
                Some(f) if !f.kind.is_people() => c.add(
                    at,
                    Some(field),
                    "design.problem.not_member_field",
                    vec![("field", text(field))],
                ),
                Some(_) => {}
            },
            HandlerRule::ResourceOwnersManagers { field } => {
                match fields.iter().find(|f| &f.key == field) {
                    None => c.add(
                        at,
                        Some(field),
                        "design.problem.unknown_field",
                        vec![("field", text(field))],
                    ),
                    Some(f) if f.kind != FieldKind::Resource => c.add(
                        at,
                        Some(field),
                        "design.problem.not_resource_field",
                        vec![("field", text(field))],
                    ),
                    Some(_) => {}
                }
            }
            _ => {}
        }
    }
}

fn check_mode(c: &mut Collector, node: &NodeDef, at: Option<usize>) {
    if let Mode::Quorum { count, percent } = node.mode {
        match (count, percent) {
            (Some(_), Some(_)) | (None, None) => {
                c.add(at, None, "design.problem.quorum_needs_one", vec![])
            }
            (Some(0), None) => c.add(at, None, "design.problem.quorum_count", vec![]),
            (None, Some(p)) if p == 0 || p > 100 => {
                c.add(at, None, "design.problem.quorum_percent", vec![])
            }
            _ => {}
        }
    }
}

fn check_predicate(
    c: &mut Collector,
    def: &ProcessDef,
    p: &Predicate,
    at: Option<usize>,
    earlier: &[&FieldDef],
    known: &Known,
) {
    if let Predicate::ApplicantHasRole { role } = p
        && !known.roles.iter().any(|r| r == role)
    {
        c.add(
            at,
            None,
            "design.problem.unknown_role",
            vec![("role", text(role))],
        );
    }
    if let Predicate::ApplicantInBusiness { business } = p
        && !known.businesses.is_empty()
        && !known.businesses.iter().any(|b| b == business)
    {
        c.add(
            at,
            None,
            "design.problem.unknown_business",
            vec![("business", text(business))],
        );
    }
    let Some(field) = p.field() else { return };
    match earlier.iter().find(|f| f.key == field) {
        Some(f) => {
            check_field_predicate(c, p, f, at);
            if matches!(p, Predicate::ResourceManaged { .. }) && f.kind != FieldKind::Resource {
                c.add(
                    at,
                    Some(field),
                    "design.problem.not_resource_field",
                    vec![("field", text(field))],
                );
            }
            if let Predicate::FieldEquals { value, .. } = p
                && f.kind.has_choices()
                && !f.choices.iter().any(|ch| &ch.value == value)
            {
                c.add(
                    at,
                    Some(field),
                    "design.problem.condition_unknown_choice",
                    vec![("field", text(field)), ("value", text(value))],
                );
            }
        }
        None if def.field(field).is_some() => {
            c.add(
                at,
                Some(field),
                "design.problem.condition_field_not_earlier",
                vec![("field", text(field))],
            );
        }
        None => c.add(
            at,
            Some(field),
            "design.problem.condition_unknown_field",
            vec![("field", text(field))],
        ),
    }
}

/// Whether a comparison, range or "contains" suits its field's kind and
/// its values mean something to it.
fn check_field_predicate(c: &mut Collector, p: &Predicate, f: &FieldDef, at: Option<usize>) {
    use super::plan::Comparable;
    let field = f.key.as_str();
    let is_time = matches!(f.kind, FieldKind::Date | FieldKind::Datetime);
    let fits = |value: &str| match Comparable::parse(value) {
        Some(Comparable::Number(_)) => f.kind == FieldKind::Number,
        Some(Comparable::At(_)) => is_time,
        None => false,
    };
    let values: Vec<&str> = match p {
        Predicate::Compare { value, .. } => vec![value],
        Predicate::Between { low, high, .. } => vec![low, high],
        Predicate::Contains { value, .. } => {
            if !matches!(
                f.kind,
                FieldKind::MultiSelect | FieldKind::Members | FieldKind::Text | FieldKind::Textarea
            ) {
                c.add(
                    at,
                    Some(field),
                    "design.problem.not_contains_field",
                    vec![("field", text(field))],
                );
            } else if f.kind == FieldKind::MultiSelect
                && !f.choices.iter().any(|ch| &ch.value == value)
            {
                c.add(
                    at,
                    Some(field),
                    "design.problem.condition_unknown_choice",
                    vec![("field", text(field)), ("value", text(value))],
                );
            }
            return;
        }
        _ => return,
    };
    if f.kind != FieldKind::Number && !is_time {
        c.add(
            at,
            Some(field),
            "design.problem.not_comparable_field",
            vec![("field", text(field))],
        );
        return;
    }
    for value in values {
        if !fits(value) {
            c.add(
                at,
                Some(field),
                "design.problem.condition_bad_value",
                vec![("field", text(field)), ("value", text(value))],
            );
        }
    }
    if let Predicate::Between { low, high, .. } = p
        && let (Some(low), Some(high)) = (Comparable::parse(low), Comparable::parse(high))
        && low > high
    {
        c.add(
            at,
            Some(field),
            "design.problem.condition_empty_range",
            vec![("field", text(field))],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles() -> Vec<String> {
        ["ops", "ops_lead", "qc", "vp"].map(String::from).to_vec()
    }

    fn keys(def: &ProcessDef) -> Vec<(Option<usize>, &'static str)> {
        let roles = roles();
        validate(
            def,
            &Known {
                roles: &roles,
                businesses: &[],
            },
        )
        .into_iter()
        .map(|p| (p.node, p.key))
        .collect()
    }

    fn change() -> ProcessDef {
        let mut def = ProcessDef::new(
            LocalText::new("Environment change", "环境变更"),
            ProcessKind::Change,
        );
        def.business_required = true;
        let mut scope = FieldDef::new("scope", LocalText::new("Scope", "范围"), FieldKind::Select);
        scope.choices = vec![Choice {
            value: "prod".into(),
            label: LocalText::new("Production", "生产"),
        }];
        def.nodes[0].fields.push(scope);
        let mut approve = NodeDef::new(
            "approve",
            LocalText::new("Ops lead approval", "运维负责人审批"),
            NodeKind::Approval,
        );
        approve.handlers.push(HandlerRule::Role {
            role: "ops_lead".into(),
            in_business: true,
        });
        def.nodes.push(approve);
        def
    }

    #[test]
    fn a_complete_process_has_no_problems() {
        assert_eq!(keys(&change()), vec![]);
    }

    #[test]
    fn an_approval_node_without_handlers_is_reported_at_its_position() {
        let mut def = change();
        def.nodes.push(NodeDef::new(
            "check",
            LocalText::new("Check", "检查"),
            NodeKind::Approval,
        ));
        assert_eq!(keys(&def), vec![(Some(3), "design.problem.no_handlers")]);
    }

    #[test]
    fn comparisons_ranges_and_contains_are_checked_against_their_fields() {
        let mut def = change();
        def.nodes[0].fields.push(FieldDef::new(
            "budget",
            LocalText::new("Budget", "预算"),
            FieldKind::Number,
        ));
        let compare = |field: &str, value: &str| Predicate::Compare {
            field: field.into(),
            op: Comparison::Gt,
            value: value.into(),
        };
        let cases: Vec<(Predicate, Vec<&str>)> = vec![
            (compare("budget", "100"), vec![]),
            (
                compare("budget", "2027-01-01"),
                vec!["design.problem.condition_bad_value"],
            ),
            (
                compare("scope", "1"),
                vec!["design.problem.not_comparable_field"],
            ),
            (
                Predicate::Between {
                    field: "budget".into(),
                    low: "10".into(),
                    high: "5".into(),
                },
                vec!["design.problem.condition_empty_range"],
            ),
            (
                Predicate::Contains {
                    field: "budget".into(),
                    value: "1".into(),
                },
                vec!["design.problem.not_contains_field"],
            ),
            (
                Predicate::ApplicantInBusiness {
                    business: "Nowhere".into(),
                },
                vec!["design.problem.unknown_business"],
            ),
        ];
        for (predicate, wanted) in cases {
            // In an either-or group, checked like any other.
            def.nodes[1].condition = Some(Condition {
                all: Vec::new(),
                any: vec![vec![predicate.clone()]],
            });
            let found: Vec<&str> = validate(
                &def,
                &Known {
                    roles: &roles(),
                    businesses: &["Payments".to_string()],
                },
            )
            .into_iter()
            .map(|p| p.key)
            .collect();
            assert_eq!(found, wanted, "{predicate:?}");
        }
    }

    #[test]
    fn a_condition_on_an_unknown_field_is_reported() {
        let mut def = change();
        def.nodes[1].condition = Some(Condition {
            all: vec![Predicate::FieldEquals {
                field: "scop".into(),
                value: "prod".into(),
            }],
            any: Vec::new(),
        });
        assert_eq!(
            keys(&def),
            vec![(Some(2), "design.problem.condition_unknown_field")]
        );
    }

    #[test]
    fn a_condition_on_a_later_field_is_reported_as_not_yet_filled() {
        let mut def = change();
        def.nodes[1].condition = Some(Condition {
            all: vec![Predicate::FieldNotEmpty {
                field: "summary".into(),
            }],
            any: Vec::new(),
        });
        let mut task = NodeDef::new(
            "summary_task",
            LocalText::new("Summary", "总结"),
            NodeKind::Task,
        );
        task.handlers.push(HandlerRule::Applicant);
        task.fields.push(FieldDef::new(
            "summary",
            LocalText::new("Summary", "总结"),
            FieldKind::Textarea,
        ));
        def.nodes.push(task);
        assert_eq!(
            keys(&def),
            vec![(Some(2), "design.problem.condition_field_not_earlier")]
        );
    }

    #[test]
    fn a_select_without_options_is_reported() {
        let mut def = change();
        def.nodes[0].fields[0].choices.clear();
        assert_eq!(keys(&def), vec![(Some(1), "design.problem.no_choices")]);
    }

    #[test]
    fn duplicate_keys_of_nodes_and_fields_are_reported() {
        let mut def = change();
        let mut again = def.nodes[1].clone();
        again.fields.push(FieldDef::new(
            "scope",
            LocalText::new("Scope", ""),
            FieldKind::Text,
        ));
        def.nodes.push(again);
        assert_eq!(
            keys(&def),
            vec![
                (Some(3), "design.problem.node_key_duplicate"),
                (Some(3), "design.problem.field_key_duplicate")
            ]
        );
    }

    #[test]
    fn a_business_scoped_role_needs_a_process_with_a_business() {
        let mut def = change();
        def.business_required = false;
        assert_eq!(
            keys(&def),
            vec![(Some(2), "design.problem.role_needs_business")]
        );
    }

    #[test]
    fn unknown_roles_and_bad_quorums_are_reported() {
        let mut def = change();
        def.nodes[1].handlers.push(HandlerRule::Role {
            role: "cto".into(),
            in_business: true,
        });
        def.nodes[1].mode = Mode::Quorum {
            count: None,
            percent: Some(150),
        };
        assert_eq!(
            keys(&def),
            vec![
                (Some(2), "design.problem.unknown_role"),
                (Some(2), "design.problem.quorum_percent")
            ]
        );
    }

    #[test]
    fn member_and_resource_rules_need_fields_of_the_right_kind() {
        let mut def = change();
        def.nodes[1].handlers.push(HandlerRule::MemberField {
            field: "scope".into(),
        });
        def.nodes[1]
            .handlers
            .push(HandlerRule::ResourceOwnersManagers {
                field: "tables".into(),
            });
        assert_eq!(
            keys(&def),
            vec![
                (Some(2), "design.problem.not_member_field"),
                (Some(2), "design.problem.unknown_field")
            ]
        );
    }

    #[test]
    fn the_first_node_must_be_the_only_submit_node() {
        let mut def = change();
        def.nodes.swap(0, 1);
        let found = keys(&def);
        assert!(found.contains(&(Some(1), "design.problem.first_not_submit")));
        assert!(found.contains(&(Some(2), "design.problem.extra_submit")));
    }

    #[test]
    fn field_options_that_contradict_each_other_are_reported() {
        let mut f = FieldDef::new("hosts", LocalText::new("Hosts", ""), FieldKind::Number);
        f.min = Some(10.0);
        f.max = Some(1.0);
        let mut t = FieldDef::new("ticket", LocalText::new("", ""), FieldKind::Text);
        t.pattern = Some("([".into());
        let found: Vec<_> = field_problems(&f)
            .into_iter()
            .chain(field_problems(&t))
            .map(|p| p.key)
            .collect();
        assert_eq!(
            found,
            vec![
                "design.problem.min_over_max",
                "design.problem.field_label_required",
                "design.problem.bad_pattern"
            ]
        );
    }

    /// `change()` with a gateway of `kind` whose branches hold the nodes
    /// `branches` names (each a list of keys), after the approval.
    fn with_gateway(kind: GatewayKind, branches: &[&[&str]]) -> ProcessDef {
        use crate::flow::{BranchDef, BranchRef, GatewayDef};
        let mut def = change();
        for (i, keys) in branches.iter().enumerate() {
            for key in *keys {
                let mut node = NodeDef::new(key, LocalText::new(key, key), NodeKind::Approval);
                node.handlers.push(HandlerRule::Applicant);
                node.branch = Some(BranchRef {
                    gateway: "split".into(),
                    branch: i,
                });
                def.nodes.push(node);
            }
        }
        def.gateways.push(GatewayDef {
            key: "split".into(),
            name: LocalText::new("Split", "分支"),
            kind,
            branches: vec![BranchDef::default(); branches.len()],
        });
        def
    }

    #[test]
    fn a_parallel_gateway_with_a_step_in_each_branch_has_no_problems() {
        let def = with_gateway(GatewayKind::Parallel, &[&["a"], &["b", "c"]]);
        assert_eq!(keys(&def), vec![]);
    }

    #[test]
    fn an_empty_branch_a_lone_branch_and_steps_standing_apart_are_reported() {
        let empty = with_gateway(GatewayKind::Parallel, &[&["a"], &[]]);
        assert_eq!(keys(&empty), vec![(None, "design.problem.branch_empty")]);
        let lone = with_gateway(GatewayKind::Parallel, &[&["a"]]);
        assert_eq!(keys(&lone), vec![(None, "design.problem.gateway_branches")]);
        let mut apart = with_gateway(GatewayKind::Parallel, &[&["a"], &["b"]]);
        let a = apart.nodes.remove(2);
        apart.nodes.push(a);
        assert_eq!(keys(&apart), vec![(None, "design.problem.gateway_apart")]);
        let mut unknown = with_gateway(GatewayKind::Parallel, &[&["a"], &["b"]]);
        unknown.nodes[1].branch = Some(crate::flow::BranchRef {
            gateway: "split".into(),
            branch: 7,
        });
        assert!(keys(&unknown).contains(&(Some(2), "design.problem.unknown_branch")));
    }

    #[test]
    fn an_exclusive_gateway_needs_conditions_before_one_default_last() {
        let holds = || {
            Some(Condition::all_of(vec![Predicate::FieldNotEmpty {
                field: "scope".into(),
            }]))
        };
        // No condition anywhere: the first branch always holds.
        let def = with_gateway(GatewayKind::Exclusive, &[&["a"], &["b"]]);
        assert_eq!(
            keys(&def),
            vec![(None, "design.problem.branch_unreachable")]
        );
        let mut fine = def.clone();
        fine.gateways[0].branches[0].condition = holds();
        assert_eq!(keys(&fine), vec![]);
        let mut no_default = fine.clone();
        no_default.gateways[0].branches[1].condition = holds();
        assert_eq!(
            keys(&no_default),
            vec![(None, "design.problem.no_default_branch")]
        );
        // A condition on a field nobody has filled yet.
        let mut later = fine.clone();
        later.gateways[0].branches[0].condition =
            Some(Condition::all_of(vec![Predicate::FieldNotEmpty {
                field: "nothing".into(),
            }]));
        assert_eq!(
            keys(&later),
            vec![(Some(3), "design.problem.condition_unknown_field")]
        );
        // A parallel gateway's branches take no condition.
        let mut parallel = with_gateway(GatewayKind::Parallel, &[&["a"], &["b"]]);
        parallel.gateways[0].branches[0].condition = holds();
        assert_eq!(
            keys(&parallel),
            vec![(Some(3), "design.problem.parallel_condition")]
        );
    }
}
