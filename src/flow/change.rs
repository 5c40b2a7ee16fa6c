//! A ticket as a change on the calendar, pure: its window, the items it
//! affects (normalised so that two forms naming the same host or resource
//! meet), whether it was filed as an emergency, whether its process's
//! marks make sense, and the approval steps a freeze or a conflict adds.

use chrono::NaiveDateTime;
use serde_json::Value;

use super::definition::{
    ChangeDef, EmptyPolicy, FieldKind, HandlerRule, LocalText, Mode, NodeDef, NodeKind, ProcessDef,
};
use super::form::{Values, first_range};

/// At most this many items are kept of one ticket: a pasted inventory
/// does not become thousands of rows.
pub const MAX_ITEMS: usize = 200;

/// A window longer than this is stored as long and looked up apart, so
/// that an overlap query reads only starts within this span before it.
pub const LONG_WINDOW_DAYS: i64 = 1;

/// No change window is longer than this (filing refuses one), so a long
/// window is looked for only among starts this long before a range.
pub const LONGEST_WINDOW_DAYS: i64 = 366;

/// What a change ticket puts on the calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeFacts {
    pub window: (NaiveDateTime, NaiveDateTime),
    /// Normalised, sorted, without duplicates.
    pub items: Vec<String>,
    pub emergency: bool,
}

/// The calendar facts of `values` filed under `def` for `business` (its
/// id), or `None` when the process is not on the calendar or the window
/// was left empty.
pub fn facts(def: &ProcessDef, values: &Values, business: Option<i32>) -> Option<ChangeFacts> {
    let change = def.change.as_ref()?;
    let field = def
        .submit_fields()
        .into_iter()
        .find(|f| f.key == change.window)?;
    let window = first_range(&[field], values)?;
    let mut items = Vec::new();
    for key in &change.items {
        if key == ChangeDef::BUSINESS {
            items.extend(business.map(|b| format!("business:{b}")));
            continue;
        }
        let Some(field) = def.submit_fields().into_iter().find(|f| &f.key == key) else {
            continue;
        };
        match (field.kind, values.get(key)) {
            (FieldKind::Resource, Some(Value::Array(ids))) => items.extend(
                ids.iter()
                    .filter_map(Value::as_i64)
                    .map(|id| format!("resource:{id}")),
            ),
            (FieldKind::Text | FieldKind::Textarea, Some(Value::String(text))) => {
                items.extend(hosts(text).map(|h| format!("host:{h}")))
            }
            (FieldKind::Select | FieldKind::Radio, Some(Value::String(choice))) => {
                items.push(format!("item:{}", choice.trim()))
            }
            (FieldKind::MultiSelect, Some(Value::Array(choices))) => items.extend(
                choices
                    .iter()
                    .filter_map(Value::as_str)
                    .map(|c| format!("item:{}", c.trim())),
            ),
            _ => {}
        }
    }
    items.sort();
    items.dedup();
    items.truncate(MAX_ITEMS);
    let emergency = change
        .emergency
        .as_ref()
        .is_some_and(|key| values.get(key) == Some(&Value::Bool(true)));
    Some(ChangeFacts {
        window,
        items,
        emergency,
    })
}

/// Host names in free text: split at spaces, commas and semicolons,
/// lower-cased, a trailing dot dropped.
pub fn hosts(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| c.is_whitespace() || c == ',' || c == ';' || c == '，' || c == '；')
        .map(|h| h.trim().trim_end_matches('.').to_lowercase())
        .filter(|h| !h.is_empty() && h.chars().count() <= 253)
}

/// Normalises one item typed by an administrator (a freeze's scope):
/// `resource:7`, `business:2`, `item:x` as they are, anything else a host.
pub fn normalise_item(typed: &str) -> Option<String> {
    let typed = typed.trim();
    for prefix in ["resource:", "business:"] {
        if let Some(id) = typed.strip_prefix(prefix) {
            return id
                .trim()
                .parse::<i32>()
                .ok()
                .map(|id| format!("{prefix}{id}"));
        }
    }
    if let Some(choice) = typed.strip_prefix("item:") {
        let choice = choice.trim();
        return (!choice.is_empty()).then(|| format!("item:{choice}"));
    }
    let host = typed.strip_prefix("host:").unwrap_or(typed);
    hosts(host).next().map(|h| format!("host:{h}"))
}

/// Whether two windows overlap (touching ends do not).
pub fn overlaps(a: (NaiveDateTime, NaiveDateTime), b: (NaiveDateTime, NaiveDateTime)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

/// The first and last day a window touches: a window ending at midnight
/// does not touch the day it ends on, and an empty one touches the day
/// it starts.
pub fn days(window: (NaiveDateTime, NaiveDateTime)) -> (chrono::NaiveDate, chrono::NaiveDate) {
    let (from, to) = window;
    let last = if to.time() == chrono::NaiveTime::MIN {
        to.date() - chrono::Duration::days(1)
    } else {
        to.date()
    };
    (from.date(), last.max(from.date()))
}

/// Whether a window is long (see [`LONG_WINDOW_DAYS`]).
pub fn is_long(window: (NaiveDateTime, NaiveDateTime)) -> bool {
    window.1 - window.0 > chrono::Duration::days(LONG_WINDOW_DAYS)
}

/// Why a process's change marks do not hold, as catalog keys with the
/// field they are about.
pub fn problems(def: &ProcessDef) -> Vec<(&'static str, String)> {
    let Some(change) = &def.change else {
        return Vec::new();
    };
    let submit = def.submit_fields();
    let field = |key: &str| submit.iter().find(|f| f.key == key);
    let mut problems = Vec::new();
    match field(&change.window) {
        Some(f) if f.kind == FieldKind::DatetimeRange => {}
        _ => problems.push(("design.problem.change_window", change.window.clone())),
    }
    for key in &change.items {
        let fits = if key == ChangeDef::BUSINESS {
            def.business_required
        } else {
            field(key).is_some_and(|f| {
                matches!(
                    f.kind,
                    FieldKind::Resource
                        | FieldKind::Text
                        | FieldKind::Textarea
                        | FieldKind::Select
                        | FieldKind::Radio
                        | FieldKind::MultiSelect
                )
            })
        };
        if !fits {
            problems.push(("design.problem.change_items", key.clone()));
        }
    }
    if let Some(key) = &change.emergency
        && !field(key).is_some_and(|f| f.kind == FieldKind::Checkbox)
    {
        problems.push(("design.problem.change_emergency", key.clone()));
    }
    problems
}

/// The key of the approval step a freeze adds.
pub fn freeze_node_key(freeze: i32) -> String {
    format!("freeze-{freeze}")
}

/// The key of the approval step a conflict adds.
pub const CONFLICT_NODE_KEY: &str = "conflict-review";

/// An approval step by holders of `role` anywhere, which goes to the
/// administrators when nobody holds it: a freeze or conflict is never
/// waved through for want of an approver.
pub fn added_approval(key: &str, name: LocalText, role: &str) -> NodeDef {
    NodeDef {
        handlers: vec![HandlerRule::Role {
            role: role.to_string(),
            in_business: false,
        }],
        mode: Mode::Any,
        empty_assignees: EmptyPolicy::Admins,
        ..NodeDef::new(key, name, NodeKind::Approval)
    }
}

/// `def` with `extra` steps placed right after its submit step.
pub fn with_extra(def: &ProcessDef, extra: &[NodeDef]) -> ProcessDef {
    let mut merged = def.clone();
    let at = usize::from(!merged.nodes.is_empty());
    for (i, node) in extra.iter().enumerate() {
        merged.nodes.insert(at + i, node.clone());
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::definition::{FieldDef, ProcessKind};
    use serde_json::json;

    #[test]
    fn a_window_touches_the_days_from_its_start_to_its_last_moment() {
        let at = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        let day = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        for (from, to, first, last) in [
            (
                "2027-12-01 23:00",
                "2027-12-02 01:00",
                "2027-12-01",
                "2027-12-02",
            ),
            (
                "2027-12-02 22:00",
                "2027-12-03 00:00",
                "2027-12-02",
                "2027-12-02",
            ),
            (
                "2027-12-03 00:00",
                "2027-12-04 00:00",
                "2027-12-03",
                "2027-12-03",
            ),
            (
                "2027-12-05 12:00",
                "2027-12-08 12:00",
                "2027-12-05",
                "2027-12-08",
            ),
            (
                "2027-12-09 00:00",
                "2027-12-09 00:00",
                "2027-12-09",
                "2027-12-09",
            ),
        ] {
            assert_eq!(days((at(from), at(to))), (day(first), day(last)), "{from}");
        }
        assert_eq!(day("1970-01-02").to_epoch_days(), 1);
    }

    fn def() -> ProcessDef {
        let mut def = ProcessDef::new(LocalText::new("Change", "变更"), ProcessKind::Change);
        def.business_required = true;
        def.nodes[0].fields = vec![
            FieldDef::new(
                "window",
                LocalText::new("Window", "窗口"),
                FieldKind::DatetimeRange,
            ),
            FieldDef::new(
                "hosts",
                LocalText::new("Hosts", "主机"),
                FieldKind::Textarea,
            ),
            FieldDef::new(
                "servers",
                LocalText::new("Servers", "服务器"),
                FieldKind::Resource,
            ),
            FieldDef::new(
                "urgent",
                LocalText::new("Urgent", "紧急"),
                FieldKind::Checkbox,
            ),
        ];
        def.change = Some(ChangeDef {
            window: "window".into(),
            items: vec!["hosts".into(), "servers".into(), ChangeDef::BUSINESS.into()],
            emergency: Some("urgent".into()),
            conflict_role: None,
        });
        def
    }

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M").unwrap()
    }

    #[test]
    fn a_changes_items_are_its_hosts_resources_and_business_normalised() {
        let values: Values = [
            (
                "window".to_string(),
                json!({"start": "2027-01-05T20:00", "end": "2027-01-05T22:00"}),
            ),
            (
                "hosts".to_string(),
                json!("DB01.example.com.\n web02 , db01.example.com；cache1"),
            ),
            ("servers".to_string(), json!([7, 3])),
            ("urgent".to_string(), json!(true)),
        ]
        .into_iter()
        .collect();
        let facts = facts(&def(), &values, Some(2)).unwrap();
        assert_eq!(
            facts.window,
            (at("2027-01-05T20:00"), at("2027-01-05T22:00"))
        );
        assert_eq!(
            facts.items,
            [
                "business:2",
                "host:cache1",
                "host:db01.example.com",
                "host:web02",
                "resource:3",
                "resource:7"
            ]
        );
        assert!(facts.emergency);
    }

    #[test]
    fn a_process_without_change_marks_or_a_form_without_a_window_is_not_on_the_calendar() {
        let mut plain = def();
        plain.change = None;
        assert_eq!(facts(&plain, &Values::new(), None), None);
        assert_eq!(facts(&def(), &Values::new(), None), None);
    }

    #[test]
    fn typed_items_are_normalised_like_filed_ones() {
        assert_eq!(normalise_item(" DB01. ").as_deref(), Some("host:db01"));
        assert_eq!(normalise_item("host:Web02").as_deref(), Some("host:web02"));
        assert_eq!(normalise_item("resource: 7").as_deref(), Some("resource:7"));
        assert_eq!(normalise_item("business:x"), None);
        assert_eq!(normalise_item("  "), None);
    }

    #[test]
    fn marks_that_name_the_wrong_kind_of_field_are_problems() {
        let mut wrong = def();
        wrong.change = Some(ChangeDef {
            window: "hosts".into(),
            items: vec!["urgent".into(), "nowhere".into()],
            emergency: Some("window".into()),
            conflict_role: None,
        });
        wrong.business_required = false;
        let keys: Vec<&str> = problems(&wrong).into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                "design.problem.change_window",
                "design.problem.change_items",
                "design.problem.change_items",
                "design.problem.change_emergency"
            ]
        );
        assert!(problems(&def()).is_empty());
    }

    #[test]
    fn extra_steps_come_right_after_the_submit_step() {
        let mut base = def();
        base.nodes.push(NodeDef::new(
            "lead",
            LocalText::new("Lead", "组长"),
            NodeKind::Approval,
        ));
        let merged = with_extra(
            &base,
            &[added_approval(
                &freeze_node_key(4),
                LocalText::new("Freeze", "封网"),
                "vp",
            )],
        );
        let keys: Vec<&str> = merged.nodes.iter().map(|n| n.key.as_str()).collect();
        assert_eq!(keys, ["submit", "freeze-4", "lead"]);
        assert_eq!(merged.nodes[1].empty_assignees, EmptyPolicy::Admins);
    }

    #[test]
    fn windows_that_only_touch_do_not_overlap() {
        let a = (at("2027-01-05T20:00"), at("2027-01-05T22:00"));
        assert!(!overlaps(
            a,
            (at("2027-01-05T22:00"), at("2027-01-05T23:00"))
        ));
        assert!(overlaps(
            a,
            (at("2027-01-05T21:59"), at("2027-01-05T23:00"))
        ));
        assert!(!is_long(a));
        assert!(is_long((at("2027-01-01T00:00"), at("2027-01-02T00:01"))));
        assert!(!is_long((at("2027-01-01T22:00"), at("2027-01-02T06:00"))));
    }
}
