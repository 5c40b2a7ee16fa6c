//! Business calendars as stored: read into `flow::calendar::Calendar` for
//! deadline arithmetic, listed and saved by administrators.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{NaiveDate, NaiveTime};
use diesel::prelude::*;

use super::{StoreError, StoreResult, now};
use crate::db::DbConn;
use crate::db::schema::calendars as cal;
use crate::db::stamp::At;
use crate::flow::calendar::{Calendar, Period};

/// A calendar's row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = cal)]
pub struct CalendarRow {
    pub id: i32,
    pub code: String,
    pub name_en: String,
    pub name_zh: String,
    pub tz: String,
    pub week: String,
    pub holidays: String,
    pub extra: String,
    pub is_default: bool,
    pub updated_at: chrono::NaiveDateTime,
}

/// A day's periods as stored: `[["09:00","12:00"],["13:00","18:00"]]`.
type StoredDay = Vec<[String; 2]>;

fn period(p: &[String; 2]) -> Option<Period> {
    let t = |s: &str| NaiveTime::parse_from_str(s, "%H:%M").ok();
    Period::new(t(&p[0])?, t(&p[1])?)
}

fn day(stored: &StoredDay) -> Vec<Period> {
    stored.iter().filter_map(period).collect()
}

impl CalendarRow {
    /// The calendar the row describes. A row that does not read (edited
    /// by hand) is an error, never a calendar with no working time.
    pub fn calendar(&self) -> StoreResult<Calendar> {
        let bad = |what: &str| {
            StoreError::Unexpected(anyhow::anyhow!("calendar {}: bad {what}", self.code))
        };
        let tz: chrono_tz::Tz = self.tz.parse().map_err(|_| bad("time zone"))?;
        let week: Vec<StoredDay> = serde_json::from_str(&self.week).map_err(|_| bad("week"))?;
        let week: [Vec<Period>; 7] =
            std::array::from_fn(|i| week.get(i).map(day).unwrap_or_default());
        let holidays: BTreeSet<NaiveDate> =
            serde_json::from_str(&self.holidays).map_err(|_| bad("holidays"))?;
        let extra: BTreeMap<NaiveDate, StoredDay> =
            serde_json::from_str(&self.extra).map_err(|_| bad("extra days"))?;
        Calendar {
            tz,
            week,
            holidays,
            extra: extra.iter().map(|(d, p)| (*d, day(p))).collect(),
        }
        .checked()
        .map_err(|_| bad("working time"))
    }
}

/// The calendars as read, by code, with the default one's code.
struct Known {
    by_code: std::collections::HashMap<String, std::sync::Arc<Calendar>>,
    default: Option<String>,
}

/// Every calendar, kept a minute: a step starting, or a timer firing,
/// reads none. An edit made here is seen at once; one made through
/// another instance within the minute.
static KNOWN: super::cache::ShortCache<Known> =
    super::cache::ShortCache::new(std::time::Duration::from_secs(60));

/// The calendar named `code`, or the default one (`None`, or a code no
/// calendar has any more). With no calendar at all, office hours in UTC.
pub fn for_process(conn: &mut DbConn, code: Option<&str>) -> StoreResult<std::sync::Arc<Calendar>> {
    let known = KNOWN.get(|| {
        let rows: Vec<CalendarRow> = cal::table.select(CalendarRow::as_select()).load(conn)?;
        Ok(Known {
            default: rows.iter().find(|r| r.is_default).map(|r| r.code.clone()),
            by_code: rows
                .iter()
                .map(|r| Ok((r.code.clone(), std::sync::Arc::new(r.calendar()?))))
                .collect::<StoreResult<_>>()?,
        })
    })?;
    let found = code
        .and_then(|c| known.by_code.get(c))
        .or_else(|| known.default.as_ref().and_then(|d| known.by_code.get(d)));
    Ok(match found {
        Some(cal) => cal.clone(),
        None => std::sync::Arc::new(Calendar::office(chrono_tz::Tz::UTC)),
    })
}

/// Every calendar, the default first.
pub fn list(conn: &mut DbConn) -> StoreResult<Vec<CalendarRow>> {
    Ok(cal::table
        .order((cal::is_default.desc(), cal::code))
        .select(CalendarRow::as_select())
        .load(conn)?)
}

/// One calendar by code.
pub fn find(conn: &mut DbConn, code: &str) -> StoreResult<Option<CalendarRow>> {
    Ok(cal::table
        .filter(cal::code.eq(code))
        .select(CalendarRow::as_select())
        .first(conn)
        .optional()?)
}

/// A calendar as an administrator entered it, checked.
pub struct CalendarInput {
    pub code: String,
    pub name_en: String,
    pub name_zh: String,
    pub tz: chrono_tz::Tz,
    pub week: [Vec<Period>; 7],
    pub holidays: BTreeSet<NaiveDate>,
    pub extra: BTreeMap<NaiveDate, Vec<Period>>,
    pub is_default: bool,
}

fn stored_day(periods: &[Period]) -> StoredDay {
    periods
        .iter()
        .map(|p| {
            [
                p.start.format("%H:%M").to_string(),
                p.end.format("%H:%M").to_string(),
            ]
        })
        .collect()
}

/// Saves a calendar (new, or the one with its code); made the default,
/// it is the only default.
pub fn save(conn: &mut DbConn, input: &CalendarInput) -> StoreResult<()> {
    let at = now();
    let week: Vec<StoredDay> = input.week.iter().map(|d| stored_day(d)).collect();
    let extra: BTreeMap<String, StoredDay> = input
        .extra
        .iter()
        .map(|(d, p)| (d.to_string(), stored_day(p)))
        .collect();
    let values = (
        cal::name_en.eq(&input.name_en),
        cal::name_zh.eq(&input.name_zh),
        cal::tz.eq(input.tz.name()),
        cal::week.eq(serde_json::to_string(&week).expect("plain data")),
        cal::holidays.eq(serde_json::to_string(&input.holidays).expect("plain data")),
        cal::extra.eq(serde_json::to_string(&extra).expect("plain data")),
        cal::updated_at.eq(At(at)),
    );
    if input.is_default {
        diesel::update(cal::table.filter(cal::code.ne(&input.code)))
            .set(cal::is_default.eq(false))
            .execute(conn)?;
    }
    let updated = diesel::update(cal::table.filter(cal::code.eq(&input.code)))
        .set(values.clone())
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(cal::table)
            .values((cal::code.eq(&input.code), values))
            .execute(conn)
            .map_err(|e| StoreError::unique_as(e, "code", "errors.code_taken"))?;
    }
    if input.is_default {
        diesel::update(cal::table.filter(cal::code.eq(&input.code)))
            .set(cal::is_default.eq(true))
            .execute(conn)?;
    }
    KNOWN.forget();
    Ok(())
}
