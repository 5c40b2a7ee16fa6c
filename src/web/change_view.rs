//! The change calendar's words on the preview and the ticket page: the
//! window, the freezes a change touches and the changes it overlaps, in
//! the reader's language.

use std::collections::HashMap;

use chrono::NaiveDateTime;

use crate::flow::change::{CONFLICT_NODE_KEY, freeze_node_key};
use crate::flow::freeze::Strength;
use crate::i18n::Lang;
use crate::store::changes::{Check, Conflict};
use crate::store::freezes::Hit;

/// A freeze a change touches.
pub struct FreezeView {
    pub name: String,
    pub hard: bool,
    pub strength: String,
    /// Its occurrence, in its own zone.
    pub when: String,
    pub reason: String,
}

/// Another change this one overlaps.
pub struct ConflictView {
    pub href: String,
    pub serial: String,
    /// "overlaps CHG-… (window) on item X", in words.
    pub text: String,
}

/// What a page says of a change on the calendar.
pub struct ChangePanel {
    pub window: String,
    pub emergency: bool,
    pub items: Vec<String>,
    pub freezes: Vec<FreezeView>,
    pub conflicts: Vec<ConflictView>,
    /// How its monitoring silence stands, when Alertmanager keeps one.
    pub silence: Option<String>,
}

/// A UTC window as "2027-01-05 20:00 – 22:00 UTC" (the date once when
/// both ends fall on one day).
pub fn window_text((from, to): (NaiveDateTime, NaiveDateTime)) -> String {
    let end = if from.date() == to.date() {
        to.format("%H:%M").to_string()
    } else {
        to.format("%Y-%m-%d %H:%M").to_string()
    };
    format!("{} – {end} UTC", from.format("%Y-%m-%d %H:%M"))
}

fn freeze_when(hit: &Hit) -> String {
    hit.freeze.when(hit.occurrence)
}

pub fn freezes(lang: Lang, hits: &[Hit]) -> Vec<FreezeView> {
    let zh = lang == Lang::ZhCn;
    hits.iter()
        .map(|h| FreezeView {
            name: h.freeze.name.text(zh).to_string(),
            hard: h.freeze.strength == Strength::Hard,
            strength: lang
                .t(&format!("freezes.strength.{}", h.freeze.strength.as_str()))
                .into_owned(),
            when: freeze_when(h),
            reason: h.freeze.reason.text(zh).to_string(),
        })
        .collect()
}

fn conflict_text(lang: Lang, c: &Conflict, labels: &HashMap<String, String>) -> String {
    let item = labels
        .get(&c.item)
        .cloned()
        .unwrap_or_else(|| c.item.clone());
    lang.tf(
        "changes.overlaps",
        &[
            ("serial", &c.serial),
            ("window", &window_text(c.window)),
            ("item", &item),
        ],
    )
}

pub fn conflicts(
    lang: Lang,
    conflicts: &[Conflict],
    labels: &HashMap<String, String>,
) -> Vec<ConflictView> {
    conflicts
        .iter()
        .map(|c| ConflictView {
            href: format!("/tickets/{}", c.apply.0),
            serial: c.serial.clone(),
            text: conflict_text(lang, c, labels),
        })
        .collect()
}

/// The panel of a checked change; `None` when it is not on the calendar.
pub fn panel(lang: Lang, check: &Check, labels: &HashMap<String, String>) -> Option<ChangePanel> {
    let facts = check.facts.as_ref()?;
    Some(ChangePanel {
        window: window_text(facts.window),
        emergency: facts.emergency,
        items: facts
            .items
            .iter()
            .map(|i| labels.get(i).cloned().unwrap_or_else(|| i.clone()))
            .collect(),
        freezes: freezes(lang, &check.freezes),
        conflicts: conflicts(lang, &check.conflicts, labels),
        silence: None,
    })
}

/// How a ticket's monitoring silence stands at `now`, in words; `version`
/// is the ticket's `row_version`.
pub fn silence_text(
    lang: Lang,
    row: &crate::store::silences::SilenceRow,
    version: i32,
    now: NaiveDateTime,
) -> String {
    let at = |t: NaiveDateTime| format!("{} UTC", t.format("%Y-%m-%d %H:%M"));
    if let Some(error) = &row.last_error {
        return lang.tf("silences.failed", &[("error", error)]);
    }
    if row.synced_version != version {
        return lang.t("silences.waiting").into_owned();
    }
    match (&row.silence_id, row.window) {
        (Some(id), Some((start, end))) if row.live(now) => format!(
            "{} ({}: {id})",
            lang.tf(
                "silences.active",
                &[
                    ("matchers", &row.matchers.join(", ")),
                    ("start", &at(start)),
                    ("end", &at(end)),
                ]
            ),
            lang.t("silences.silence_id")
        ),
        (Some(_), Some((_, end))) => lang.tf("silences.expired", &[("end", &at(end))]),
        _ => lang.t("silences.none").into_owned(),
    }
}

/// Why a step the calendar added is there, for the step keyed `key`: the
/// soft freeze and its reason, or the changes it overlaps.
pub fn added_step_notes(
    lang: Lang,
    check: &Check,
    labels: &HashMap<String, String>,
    key: &str,
) -> Vec<String> {
    let zh = lang == Lang::ZhCn;
    if key == CONFLICT_NODE_KEY {
        return check
            .conflicts
            .iter()
            .map(|c| conflict_text(lang, c, labels))
            .collect();
    }
    check
        .freezes
        .iter()
        .filter(|h| freeze_node_key(h.freeze.id) == key)
        .map(|h| {
            let reason = h.freeze.reason.text(zh);
            lang.tf(
                "changes.soft_freeze_note",
                &[
                    ("freeze", h.freeze.name.text(zh)),
                    ("when", &freeze_when(h)),
                    ("reason", if reason.is_empty() { "—" } else { reason }),
                ],
            )
        })
        .collect()
}
