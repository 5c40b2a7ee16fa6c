//! Changes on the calendar as stored: each change ticket's window and
//! affected items, written as it is filed or resubmitted; the changes
//! that overlap a window (the calendar's views, conflicts); and the check
//! a filing makes against freezes and other changes.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use super::freezes::{self, Hit};
use super::{StoreError, StoreResult, now};
use crate::db::DbConn;
use crate::db::ids::{ApplyId, BusinessId, ServiceId};
use crate::db::schema::{applies as a, change_items as ci, changes as ch};
use crate::db::stamp::At;
use crate::db::states::TicketStatus;
use crate::flow::change::{self, ChangeFacts, LONG_WINDOW_DAYS, LONGEST_WINDOW_DAYS};
use crate::flow::freeze::Strength;
use crate::flow::{LocalText, NodeDef, ProcessDef};

/// Statuses of a change that another may collide with: open or approved.
const LIVE: [TicketStatus; 3] = [
    TicketStatus::Running,
    TicketStatus::SentBack,
    TicketStatus::Finished,
];

/// Writes the calendar rows of ticket `apply`; `fresh`: it has none yet
/// (filing), otherwise they are replaced.
pub fn record(
    conn: &mut DbConn,
    apply: ApplyId,
    service: ServiceId,
    business: Option<BusinessId>,
    facts: &ChangeFacts,
    fresh: bool,
) -> StoreResult<()> {
    let (starts, ends) = facts.window;
    let long = change::is_long(facts.window);
    let (first_day, last_day) = change::days(facts.window);
    crate::db::after_commit(super::month::changed);
    if !fresh {
        forget(conn, apply)?;
    }
    crate::direct!(conn, |c| diesel::insert_into(ch::table)
        .values((
            ch::apply_id.eq(apply),
            ch::starts_at.eq(At(starts)),
            ch::ends_at.eq(At(ends)),
            ch::long_window.eq(long),
            ch::emergency.eq(facts.emergency),
            ch::service_id.eq(service),
            ch::business_id.eq(business),
            ch::items.eq(serde_json::to_string(&facts.items).expect("plain data")),
            ch::first_day.eq(first_day.to_epoch_days()),
            ch::last_day.eq(last_day.to_epoch_days()),
        ))
        .execute(c))?;
    let rows: Vec<_> = facts
        .items
        .iter()
        .map(|item| {
            (
                ci::apply_id.eq(apply),
                ci::item.eq(item),
                ci::starts_at.eq(At(starts)),
                ci::ends_at.eq(At(ends)),
                ci::long_window.eq(long),
            )
        })
        .collect();
    for chunk in rows.chunks(super::held::CHUNK) {
        crate::direct!(conn, |c| diesel::insert_into(ci::table)
            .values(chunk)
            .execute(c))?;
    }
    Ok(())
}

/// Another change whose window overlaps, on an item both affect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub apply: ApplyId,
    pub serial: String,
    pub title: String,
    pub status: TicketStatus,
    pub item: String,
    pub window: (NaiveDateTime, NaiveDateTime),
}

/// The earliest start a window overlapping one from `from` may have,
/// unless it is long.
fn short_since(from: NaiveDateTime) -> NaiveDateTime {
    from - Duration::days(LONG_WINDOW_DAYS)
}

/// The earliest start any window overlapping one from `from` may have.
fn long_since(from: NaiveDateTime) -> NaiveDateTime {
    from - Duration::days(LONGEST_WINDOW_DAYS)
}

/// Open or approved changes other than `except` whose windows overlap
/// `facts`'s on one of its items, by start.
pub fn conflicts(
    conn: &mut DbConn,
    facts: &ChangeFacts,
    except: Option<ApplyId>,
) -> StoreResult<Vec<Conflict>> {
    if facts.items.is_empty() {
        return Ok(Vec::new());
    }
    let (from, to) = facts.window;
    let except = except.unwrap_or(ApplyId(0));
    type Row = (
        ApplyId,
        String,
        String,
        TicketStatus,
        String,
        NaiveDateTime,
        NaiveDateTime,
    );
    let select = (
        a::id,
        a::serial,
        a::title,
        a::status,
        ci::item,
        ci::starts_at,
        ci::ends_at,
    );
    // Short windows by a range of their starts, long ones apart: both
    // read the index on (item, long_window, starts_at) in place.
    let mut rows: Vec<Row> = crate::direct!(conn, |c| ci::table
        .inner_join(a::table.on(a::id.eq(ci::apply_id)))
        .filter(ci::item.eq_any(&facts.items))
        .filter(ci::long_window.eq(false))
        .filter(ci::starts_at.ge(At(short_since(from))))
        .filter(ci::starts_at.lt(At(to)))
        .filter(ci::ends_at.gt(At(from)))
        .filter(ci::apply_id.ne(except))
        .filter(a::status.eq_any(LIVE))
        .select(select)
        .load(c))?;
    rows.extend(crate::direct!(conn, |c| ci::table
        .inner_join(a::table.on(a::id.eq(ci::apply_id)))
        .filter(ci::item.eq_any(&facts.items))
        .filter(ci::long_window.eq(true))
        .filter(ci::starts_at.ge(At(long_since(from))))
        .filter(ci::starts_at.lt(At(to)))
        .filter(ci::ends_at.gt(At(from)))
        .filter(ci::apply_id.ne(except))
        .filter(a::status.eq_any(LIVE))
        .select(select)
        .load::<Row>(c))?);
    rows.sort_by(|x, y| {
        x.5.cmp(&y.5)
            .then_with(|| x.1.cmp(&y.1))
            .then_with(|| x.4.cmp(&y.4))
    });
    Ok(rows
        .into_iter()
        .map(
            |(apply, serial, title, status, item, starts, ends)| Conflict {
                apply,
                serial,
                title,
                status,
                item,
                window: (starts, ends),
            },
        )
        .collect())
}

/// What the calendar says of a change about to be filed (or of one
/// filed): its facts, the freezes it touches and the changes it overlaps.
#[derive(Debug, Clone, Default)]
pub struct Check {
    pub facts: Option<ChangeFacts>,
    /// Hard freezes first.
    pub freezes: Vec<Hit>,
    pub conflicts: Vec<Conflict>,
}

impl Check {
    /// The hard freeze that refuses the change, if any: one it touches,
    /// unless it is filed as an emergency.
    pub fn refused_by(&self) -> Option<&Hit> {
        let emergency = self.facts.as_ref().is_some_and(|f| f.emergency);
        self.freezes
            .iter()
            .find(|h| h.freeze.strength == Strength::Hard && !emergency)
    }

    /// The approval steps the change gains: one for each soft freeze it
    /// touches (by holders of the freeze's role), and one for a conflict
    /// when its process asks for it.
    pub fn extra_nodes(&self, def: &ProcessDef) -> Vec<NodeDef> {
        let mut nodes: Vec<NodeDef> = self
            .freezes
            .iter()
            .filter(|h| h.freeze.strength == Strength::Soft)
            .filter_map(|h| {
                let role = h.freeze.role.as_deref()?;
                let name = LocalText {
                    en: format!("Freeze approval: {}", h.freeze.name.en),
                    zh: format!("封网审批：{}", h.freeze.name.text(true)),
                };
                Some(change::added_approval(
                    &change::freeze_node_key(h.freeze.id),
                    name,
                    role,
                ))
            })
            .collect();
        let role = def.change.as_ref().and_then(|c| c.conflict_role.as_deref());
        if let (Some(role), false) = (role, self.conflicts.is_empty()) {
            nodes.push(change::added_approval(
                change::CONFLICT_NODE_KEY,
                LocalText::new("Conflict review", "冲突审核"),
                role,
            ));
        }
        nodes
    }
}

/// Checks a change about to be filed (or refiled: `except` is itself)
/// against the freezes and the changes on the calendar.
pub fn check(
    conn: &mut DbConn,
    def: &ProcessDef,
    values: &crate::flow::form::Values,
    business: Option<BusinessId>,
    except: Option<ApplyId>,
) -> StoreResult<Check> {
    let Some(facts) = change::facts(def, values, business.map(|b| b.0)) else {
        return Ok(Check::default());
    };
    let all = freezes::list(conn)?;
    let freezes = freezes::touching(&all, &facts, business.map(|b| b.0));
    let conflicts = conflicts(conn, &facts, except)?;
    Ok(Check {
        facts: Some(facts),
        freezes,
        conflicts,
    })
}

/// One change on the calendar.
#[derive(Debug, Clone)]
pub struct Entry {
    pub apply: ApplyId,
    pub serial: String,
    pub title: String,
    pub status: TicketStatus,
    pub window: (NaiveDateTime, NaiveDateTime),
    pub emergency: bool,
    pub service: ServiceId,
    pub business: Option<BusinessId>,
}

/// What the calendar's views narrow to.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub business: Option<BusinessId>,
    pub service: Option<ServiceId>,
    pub status: Option<TicketStatus>,
    /// A normalised item.
    pub item: Option<String>,
}

/// At most this many changes are drawn in one view.
pub const VIEW_LIMIT: i64 = 2000;

/// A change's place on the calendar, as the index on windows holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub apply: ApplyId,
    pub window: (NaiveDateTime, NaiveDateTime),
    pub emergency: bool,
}

/// The changes whose windows overlap [from, to), by start, narrowed by
/// `filter` but for its status (which [`entries_of`] reads), at most
/// [`VIEW_LIMIT`]. Unnarrowed, both reads are answered from the index on
/// `(long_window, first_day, starts_at, apply_id, last_day, ends_at,
/// emergency)` alone: a week of a busy calendar is a short run of index
/// entries, whatever the history before it.
pub fn slots(
    conn: &mut DbConn,
    range: (NaiveDateTime, NaiveDateTime),
    filter: &Filter,
) -> StoreResult<Vec<Slot>> {
    slots_of(conn, range, filter, &[false, true])
}

/// [`slots`] of the short windows, the long ones, or both.
pub(super) fn slots_of(
    conn: &mut DbConn,
    (from, to): (NaiveDateTime, NaiveDateTime),
    filter: &Filter,
    kinds: &[bool],
) -> StoreResult<Vec<Slot>> {
    type Row = (ApplyId, NaiveDateTime, NaiveDateTime, bool);
    let mut rows: Vec<Row> = Vec::new();
    for &long in kinds {
        let since = if long {
            long_since(from)
        } else {
            short_since(from)
        };
        let mut query = ch::table
            .filter(ch::long_window.eq(long))
            .filter(ch::first_day.ge(since.date().to_epoch_days()))
            .filter(ch::first_day.le(to.date().to_epoch_days()))
            .filter(ch::starts_at.lt(At(to)))
            .filter(ch::ends_at.gt(At(from)))
            .select((ch::apply_id, ch::starts_at, ch::ends_at, ch::emergency))
            .order((ch::long_window, ch::first_day, ch::starts_at, ch::apply_id))
            .limit(VIEW_LIMIT)
            .into_boxed();
        if let Some(b) = filter.business {
            query = query.filter(ch::business_id.eq(b));
        }
        if let Some(s) = filter.service {
            query = query.filter(ch::service_id.eq(s));
        }
        if let Some(item) = &filter.item {
            query = query.filter(
                ch::apply_id.eq_any(ci::table.filter(ci::item.eq(item)).select(ci::apply_id)),
            );
        }
        rows.extend(query.load::<Row>(conn)?);
    }
    rows.sort_by_key(|r| (r.1, r.0));
    rows.truncate(VIEW_LIMIT as usize);
    Ok(rows
        .into_iter()
        .map(|(apply, starts, ends, emergency)| Slot {
            apply,
            window: (starts, ends),
            emergency,
        })
        .collect())
}

/// The tickets of `slots` as the calendar draws them, by start.
pub fn entries_of(conn: &mut DbConn, slots: &[Slot]) -> StoreResult<Vec<Entry>> {
    let ids: Vec<ApplyId> = slots.iter().map(|s| s.apply).collect();
    let mut found: std::collections::HashMap<
        ApplyId,
        (String, String, TicketStatus, ServiceId, Option<BusinessId>),
    > = std::collections::HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let rows: Vec<(
            ApplyId,
            String,
            String,
            TicketStatus,
            ServiceId,
            Option<BusinessId>,
        )> = a::table
            .filter(a::id.eq_any(chunk))
            .select((
                a::id,
                a::serial,
                a::title,
                a::status,
                a::service_id,
                a::business_id,
            ))
            .load(conn)?;
        found.extend(
            rows.into_iter()
                .map(|(id, serial, title, status, service, business)| {
                    (id, (serial, title, status, service, business))
                }),
        );
    }
    Ok(slots
        .iter()
        .filter_map(|slot| {
            let (serial, title, status, service, business) = found.remove(&slot.apply)?;
            Some(Entry {
                apply: slot.apply,
                serial,
                title,
                status,
                window: slot.window,
                emergency: slot.emergency,
                service,
                business,
            })
        })
        .collect())
}

/// The calendar facts of one ticket as stored, if it is a change.
pub fn of_ticket(conn: &mut DbConn, apply: ApplyId) -> StoreResult<Option<ChangeFacts>> {
    let row: Option<(NaiveDateTime, NaiveDateTime, bool, String)> =
        crate::direct!(conn, |c| ch::table
            .find(apply)
            .select((ch::starts_at, ch::ends_at, ch::emergency, ch::items))
            .first(c)
            .optional())?;
    let Some((starts, ends, emergency, items)) = row else {
        return Ok(None);
    };
    Ok(Some(ChangeFacts {
        window: (starts, ends),
        items: serde_json::from_str(&items).map_err(|e| StoreError::Unexpected(e.into()))?,
        emergency,
    }))
}

/// A live change as flagging a freeze reads it.
struct Live {
    apply: ApplyId,
    facts: ChangeFacts,
    business: Option<i32>,
    /// The keys of the steps it gained on filing.
    added: Vec<String>,
}

/// Live changes (open or approved) whose windows are not over at `now`,
/// for flagging them when a freeze is made.
fn upcoming(conn: &mut DbConn) -> StoreResult<Vec<Live>> {
    type Row = (
        ApplyId,
        NaiveDateTime,
        NaiveDateTime,
        bool,
        Option<BusinessId>,
        String,
        Option<String>,
    );
    let at = now();
    let rows: Vec<Row> = crate::direct!(conn, |c| ch::table
        .inner_join(a::table.on(a::id.eq(ch::apply_id)))
        .filter(ch::ends_at.gt(At(at)))
        .filter(a::status.eq_any(LIVE))
        .select((
            ch::apply_id,
            ch::starts_at,
            ch::ends_at,
            ch::emergency,
            ch::business_id,
            ch::items,
            a::extra_nodes,
        ))
        .load(c))?;
    let unexpected = |e: serde_json::Error| StoreError::Unexpected(e.into());
    rows.into_iter()
        .map(|(apply, starts, ends, emergency, business, items, extra)| {
            let added: Vec<NodeDef> = match extra {
                Some(extra) => serde_json::from_str(&extra).map_err(unexpected)?,
                None => Vec::new(),
            };
            Ok(Live {
                apply,
                facts: ChangeFacts {
                    window: (starts, ends),
                    items: serde_json::from_str(&items).map_err(unexpected)?,
                    emergency,
                },
                business: business.map(|b| b.0),
                added: added.into_iter().map(|n| n.key).collect(),
            })
        })
        .collect()
}

/// What each of `items` is called: a resource's or business's name, a
/// host or choice as typed.
pub fn labels(
    conn: &mut DbConn,
    items: &[&str],
) -> StoreResult<std::collections::HashMap<String, String>> {
    use crate::db::schema::{businesses as b, resources as r};
    let ids = |prefix: &str| -> Vec<i32> {
        items
            .iter()
            .filter_map(|i| i.strip_prefix(prefix)?.parse().ok())
            .collect()
    };
    let mut out = std::collections::HashMap::new();
    let resources = ids("resource:");
    if !resources.is_empty() {
        let found: Vec<(i32, String)> = r::table
            .filter(r::id.eq_any(&resources))
            .select((r::id, r::name))
            .load(conn)?;
        out.extend(
            found
                .into_iter()
                .map(|(id, n)| (format!("resource:{id}"), n)),
        );
    }
    let businesses = ids("business:");
    if !businesses.is_empty() {
        let found: Vec<(i32, String)> = b::table
            .filter(b::id.eq_any(&businesses))
            .select((b::id, b::name))
            .load(conn)?;
        out.extend(
            found
                .into_iter()
                .map(|(id, n)| (format!("business:{id}"), n)),
        );
    }
    for item in items {
        if !out.contains_key(*item) {
            let shown = item.split_once(':').map_or(*item, |(_, rest)| rest);
            out.insert(item.to_string(), shown.to_string());
        }
    }
    Ok(out)
}

/// The labels of every item a check names (its own and its conflicts').
pub fn item_labels(
    conn: &mut DbConn,
    check: &Check,
) -> StoreResult<std::collections::HashMap<String, String>> {
    let items: Vec<&str> = check
        .facts
        .iter()
        .flat_map(|f| f.items.iter())
        .chain(check.conflicts.iter().map(|c| &c.item))
        .map(String::as_str)
        .collect();
    labels(conn, &items)
}

/// What the calendar says now of ticket `apply` with `facts` as filed:
/// the freezes its window touches (a freeze made since is among them;
/// another instance's within a minute, as pages read them) and the live
/// changes it overlaps.
pub fn check_filed(
    conn: &mut DbConn,
    apply: ApplyId,
    facts: &ChangeFacts,
    business: Option<BusinessId>,
) -> StoreResult<Check> {
    let all = freezes::shown(conn)?;
    let freezes = freezes::touching(&all, facts, business.map(|b| b.0));
    let conflicts = conflicts(conn, facts, Some(apply))?;
    Ok(Check {
        facts: Some(facts.clone()),
        freezes,
        conflicts,
    })
}

/// Takes ticket `apply` off the calendar (its window was cleared).
pub fn forget(conn: &mut DbConn, apply: ApplyId) -> StoreResult<()> {
    crate::direct!(conn, |c| diesel::delete(
        ci::table.filter(ci::apply_id.eq(apply))
    )
    .execute(c))?;
    crate::direct!(conn, |c| diesel::delete(ch::table.find(apply)).execute(c))?;
    crate::db::after_commit(super::month::changed);
    Ok(())
}

/// Flags the live changes whose windows freeze `freeze` (just made or
/// changed) now touches: an event on each ticket, seen in its timeline
/// and by webhooks. Returns how many.
pub fn flag_frozen(
    conn: &mut DbConn,
    freeze: i32,
    by: crate::db::ids::UserId,
) -> StoreResult<usize> {
    let f = freezes::find(conn, freeze)?;
    let mut flagged = 0;
    let step = change::freeze_node_key(f.id);
    for Live {
        apply,
        facts,
        business,
        added,
    } in upcoming(conn)?
    {
        if !f.covers(&facts.items, business) {
            continue;
        }
        // An emergency is not held by a hard freeze; a change that already
        // has this freeze's approval step was filed knowing of it.
        if (facts.emergency && f.strength == Strength::Hard) || added.contains(&step) {
            continue;
        }
        let Some(occurrence) = f.time.first_overlap(facts.window.0, facts.window.1) else {
            continue;
        };
        super::audit::record(
            conn,
            super::tickets::ticket_event(
                Some(by),
                crate::db::states::TicketEvent::Frozen,
                apply,
                serde_json::json!({
                    "freeze": f.id,
                    "freeze_en": f.name.en,
                    "freeze_zh": f.name.text(true),
                    "strength": f.strength.as_str(),
                    "start": occurrence.0,
                    "end": occurrence.1,
                }),
            ),
        )?;
        let names = if f.name.zh.trim().is_empty() || f.name.zh == f.name.en {
            f.name.en.clone()
        } else {
            format!("{} / {}", f.name.en, f.name.zh)
        };
        let comment = format!("{names}: {}", f.when(occurrence));
        super::tickets::tell_frozen(conn, apply, &comment)?;
        flagged += 1;
    }
    Ok(flagged)
}
