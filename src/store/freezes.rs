//! Freeze windows as stored: listed, saved and removed by administrators,
//! and matched against a change's window and items. Filing, the gate and
//! flagging read them afresh (a handful of rows), so a freeze made on one
//! instance refuses a change filed on another at once; pages show them
//! from a cache of a minute.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{StoreError, StoreResult, now};
use crate::db::DbConn;
use crate::db::ids::UserId;
use crate::db::schema::freezes as fz;
use crate::db::stamp::At;
use crate::flow::LocalText;
use crate::flow::change::ChangeFacts;
use crate::flow::freeze::{FreezeTime, Repeat, Strength};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = fz)]
struct FreezeRow {
    id: i32,
    name_en: String,
    name_zh: String,
    reason_en: String,
    reason_zh: String,
    starts_local: NaiveDateTime,
    ends_local: NaiveDateTime,
    repeat: String,
    tz: String,
    strength: String,
    role_code: Option<String>,
    scope: String,
    updated_at: NaiveDateTime,
}

/// A freeze window.
#[derive(Debug, Clone, PartialEq)]
pub struct Freeze {
    pub id: i32,
    pub name: LocalText,
    pub reason: LocalText,
    pub time: FreezeTime,
    pub strength: Strength,
    /// Who approves a change inside a soft freeze.
    pub role: Option<String>,
    /// Normalised items ("business:2", "resource:7", "host:db01"); empty:
    /// everywhere.
    pub scope: Vec<String>,
    pub updated_at: NaiveDateTime,
}

impl FreezeRow {
    fn freeze(self) -> StoreResult<Freeze> {
        let bad =
            |what: &str| StoreError::Unexpected(anyhow::anyhow!("freeze {}: bad {what}", self.id));
        Ok(Freeze {
            id: self.id,
            time: FreezeTime {
                starts: self.starts_local,
                ends: self.ends_local,
                repeat: Repeat::parse(&self.repeat).ok_or_else(|| bad("repeat"))?,
                zone: self.tz.parse().map_err(|_| bad("time zone"))?,
            },
            strength: Strength::parse(&self.strength).ok_or_else(|| bad("strength"))?,
            scope: serde_json::from_str(&self.scope).map_err(|_| bad("scope"))?,
            name: LocalText {
                en: self.name_en,
                zh: self.name_zh,
            },
            reason: LocalText {
                en: self.reason_en,
                zh: self.reason_zh,
            },
            role: self.role_code,
            updated_at: self.updated_at,
        })
    }
}

impl Freeze {
    /// A UTC instant as the freeze's own wall clock reads it.
    pub fn local(&self, t: NaiveDateTime) -> String {
        t.and_utc()
            .with_timezone(&self.time.zone)
            .format("%Y-%m-%d %H:%M")
            .to_string()
    }

    /// An occurrence (UTC) in the freeze's own zone:
    /// "2027-11-10 00:00 – 2027-11-17 00:00 Asia/Shanghai".
    pub fn when(&self, (from, to): (NaiveDateTime, NaiveDateTime)) -> String {
        format!(
            "{} – {} {}",
            self.local(from),
            self.local(to),
            self.time.zone.name()
        )
    }

    /// Whether the freeze covers a change with `items` filed for
    /// `business`: it is everywhere, or names one of its items or its
    /// business.
    pub fn covers(&self, items: &[String], business: Option<i32>) -> bool {
        self.scope.is_empty()
            || self.scope.iter().any(|s| {
                items.contains(s) || business.is_some_and(|b| *s == format!("business:{b}"))
            })
    }
}

/// Every freeze, in the order they start.
pub fn list(conn: &mut DbConn) -> StoreResult<Vec<Freeze>> {
    let rows: Vec<FreezeRow> = crate::direct!(conn, |c| fz::table
        .order((fz::starts_local, fz::id))
        .select(FreezeRow::as_select())
        .load(c))?;
    rows.into_iter().map(FreezeRow::freeze).collect()
}

/// Freezes as pages show them: kept for a minute (another instance's
/// change shows here within it), forgotten at once when one is saved
/// here. What refuses or shuts a gate reads [`list`] afresh.
static SHOWN: super::cache::ShortCache<Vec<Freeze>> =
    super::cache::ShortCache::new(std::time::Duration::from_secs(60));

pub fn shown(conn: &mut DbConn) -> StoreResult<std::sync::Arc<Vec<Freeze>>> {
    SHOWN.get(|| list(conn))
}

/// Forgets the pages' freezes again once a change to them has committed
/// (a page read between the change and its commit kept the old ones);
/// called in a unit of work of the same database.
pub fn forget_shown() {
    SHOWN.forget();
}

pub fn find(conn: &mut DbConn, id: i32) -> StoreResult<Freeze> {
    fz::table
        .find(id)
        .select(FreezeRow::as_select())
        .first(conn)?
        .freeze()
}

/// A freeze touching a change: which, and the occurrence it touches (UTC).
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub freeze: Freeze,
    pub occurrence: (NaiveDateTime, NaiveDateTime),
}

/// The freezes among `freezes` whose occurrences overlap the change's
/// window and that cover its items or business, hard ones first.
pub fn touching(freezes: &[Freeze], facts: &ChangeFacts, business: Option<i32>) -> Vec<Hit> {
    let mut hits: Vec<Hit> = freezes
        .iter()
        .filter(|f| f.covers(&facts.items, business))
        .filter_map(|f| {
            let occurrence = f.time.first_overlap(facts.window.0, facts.window.1)?;
            Some(Hit {
                freeze: f.clone(),
                occurrence,
            })
        })
        .collect();
    hits.sort_by_key(|h| (h.freeze.strength != Strength::Hard, h.occurrence.0));
    hits
}

/// A freeze as an administrator entered it, checked.
pub struct FreezeInput {
    pub name: LocalText,
    pub reason: LocalText,
    pub time: FreezeTime,
    pub strength: Strength,
    pub role: Option<String>,
    pub scope: Vec<String>,
}

/// Saves a freeze: a new one (`id` `None`) or changes to one; its id.
pub fn save(
    conn: &mut DbConn,
    id: Option<i32>,
    input: &FreezeInput,
    by: UserId,
) -> StoreResult<i32> {
    let values = (
        fz::name_en.eq(&input.name.en),
        fz::name_zh.eq(&input.name.zh),
        fz::reason_en.eq(&input.reason.en),
        fz::reason_zh.eq(&input.reason.zh),
        fz::starts_local.eq(At(input.time.starts)),
        fz::ends_local.eq(At(input.time.ends)),
        fz::repeat.eq(input.time.repeat.as_str()),
        fz::tz.eq(input.time.zone.name()),
        fz::strength.eq(input.strength.as_str()),
        fz::role_code.eq(&input.role),
        fz::scope.eq(serde_json::to_string(&input.scope).expect("plain data")),
        fz::updated_at.eq(At(now())),
    );
    SHOWN.forget();
    match id {
        Some(id) => {
            let updated = diesel::update(fz::table.find(id))
                .set(values)
                .execute(conn)?;
            if updated == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(id)
        }
        None => Ok(diesel::insert_into(fz::table)
            .values((values, fz::created_by.eq(by)))
            .returning(fz::id)
            .get_result(conn)?),
    }
}

pub fn delete(conn: &mut DbConn, id: i32) -> StoreResult<()> {
    let gone = diesel::delete(fz::table.find(id)).execute(conn)?;
    if gone == 0 {
        return Err(StoreError::NotFound);
    }
    SHOWN.forget();
    Ok(())
}
