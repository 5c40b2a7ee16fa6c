//! Admin: business calendars — a time zone, working hours per weekday,
//! holidays (typed, or imported from an `.ics` file) and extra working
//! days — that deadlines in working hours count in.

use std::collections::{BTreeMap, BTreeSet};

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{NaiveDate, NaiveTime};
use serde::Deserialize;

use crate::domain::Name;
use crate::flow::calendar::{Calendar, CalendarError, Period, ics_days};
use crate::store::calendars::{self, CalendarInput, CalendarRow};
use crate::web::csrf::CsrfForm;
use crate::web::ctx::{Ctx, FlashKind, see_other};
use crate::web::forms::FieldErrors;
use crate::web::{AppError, AppState, render, render_status};

/// The weekdays' inputs, Monday first.
pub const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

#[derive(Debug, Default, Deserialize)]
pub struct CalendarForm {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub name_en: String,
    #[serde(default)]
    pub name_zh: String,
    #[serde(default)]
    pub tz: String,
    #[serde(default)]
    pub mon: String,
    #[serde(default)]
    pub tue: String,
    #[serde(default)]
    pub wed: String,
    #[serde(default)]
    pub thu: String,
    #[serde(default)]
    pub fri: String,
    #[serde(default)]
    pub sat: String,
    #[serde(default)]
    pub sun: String,
    /// One date a line ("2026-10-01"), or a range ("2026-10-01..2026-10-07").
    #[serde(default)]
    pub holidays: String,
    /// One day a line: "2026-10-10 09:00-18:00".
    #[serde(default)]
    pub extra: String,
    /// An iCalendar file's text: its all-day events become holidays.
    #[serde(default)]
    pub ics: String,
    #[serde(default)]
    pub is_default: Option<String>,
}

impl CalendarForm {
    fn day(&self, i: usize) -> &str {
        [
            &self.mon, &self.tue, &self.wed, &self.thu, &self.fri, &self.sat, &self.sun,
        ][i]
    }

    /// The form of a stored calendar.
    fn of(row: &CalendarRow) -> Result<CalendarForm, AppError> {
        let cal = row.calendar()?;
        let day = |i: usize| periods_text(&cal.week[i]);
        Ok(CalendarForm {
            code: row.code.clone(),
            name_en: row.name_en.clone(),
            name_zh: row.name_zh.clone(),
            tz: row.tz.clone(),
            mon: day(0),
            tue: day(1),
            wed: day(2),
            thu: day(3),
            fri: day(4),
            sat: day(5),
            sun: day(6),
            holidays: cal
                .holidays
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("\n"),
            extra: cal
                .extra
                .iter()
                .map(|(d, p)| format!("{d} {}", periods_text(p)))
                .collect::<Vec<_>>()
                .join("\n"),
            ics: String::new(),
            is_default: row.is_default.then(|| "on".into()),
        })
    }

    /// The calendar as entered, every problem beside its input.
    fn parse(&self, errors: &mut FieldErrors) -> Option<CalendarInput> {
        let code = errors.check("code", calendar_code(&self.code));
        let name = errors.check("name_en", Name::parse(&self.name_en));
        let tz = errors.check(
            "tz",
            self.tz
                .trim()
                .parse::<chrono_tz::Tz>()
                .map_err(|_| "calendars.bad_tz"),
        );
        let mut week: [Vec<Period>; 7] = Default::default();
        let mut week_ok = true;
        for (i, field) in DAYS.iter().enumerate() {
            match periods(self.day(i)) {
                Ok(p) => week[i] = p,
                Err(key) => {
                    errors.add(field, key);
                    week_ok = false;
                }
            }
        }
        let mut holidays = BTreeSet::new();
        for line in self
            .holidays
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
        {
            match dates(line) {
                Some(days) => holidays.extend(days),
                None => {
                    errors.add("holidays", "calendars.bad_holiday");
                    break;
                }
            }
        }
        let imported = ics_days(&self.ics);
        if !self.ics.trim().is_empty() && imported.is_empty() {
            errors.add("ics", "calendars.bad_ics");
        }
        holidays.extend(imported);
        let mut extra = BTreeMap::new();
        for line in self.extra.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let parsed = line.split_once(' ').and_then(|(d, p)| {
                let date = NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").ok()?;
                Some((date, periods(p).ok().filter(|p| !p.is_empty())?))
            });
            match parsed {
                Some((date, p)) => {
                    extra.insert(date, p);
                }
                None => {
                    errors.add("extra", "calendars.bad_extra");
                    break;
                }
            }
        }
        let (code, name, tz) = (code?, name?, tz?);
        if !week_ok || errors.has("holidays") || errors.has("extra") || errors.has("ics") {
            return None;
        }
        let checked = Calendar {
            tz,
            week,
            holidays,
            extra,
        }
        .checked();
        let cal = match checked {
            Ok(cal) => cal,
            Err(CalendarError::Overlap(day)) => {
                let field = day
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| DAYS.get(i).copied())
                    .unwrap_or("extra");
                errors.add(field, "calendars.overlap");
                return None;
            }
            Err(CalendarError::NeverWorks) => {
                errors.add("mon", "calendars.never_works");
                return None;
            }
        };
        Some(CalendarInput {
            code,
            name_en: name.to_string(),
            name_zh: self.name_zh.trim().to_string(),
            tz: cal.tz,
            week: cal.week,
            holidays: cal.holidays,
            extra: cal.extra,
            is_default: self.is_default.is_some(),
        })
    }
}

/// A calendar's code: lowercase letters, digits and `_`, as node keys.
fn calendar_code(input: &str) -> Result<String, &'static str> {
    let code = input.trim();
    let ok = code.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && code.len() <= 40
        && code
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(code.to_string())
    } else {
        Err("calendars.bad_code")
    }
}

/// "09:00-12:00, 13:00-18:00" (empty: no working time that day).
fn periods(input: &str) -> Result<Vec<Period>, &'static str> {
    input
        .split([',', '，', ';'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (start, end) = p.split_once(['-', '–']).ok_or("calendars.bad_hours")?;
            let time = |t: &str| {
                let t = t.trim();
                if t == "24:00" {
                    return NaiveTime::from_hms_opt(23, 59, 59).ok_or("calendars.bad_hours");
                }
                NaiveTime::parse_from_str(t, "%H:%M").map_err(|_| "calendars.bad_hours")
            };
            Period::new(time(start)?, time(end)?).ok_or("calendars.bad_hours")
        })
        .collect()
}

fn periods_text(periods: &[Period]) -> String {
    periods
        .iter()
        .map(|p| {
            let end = if p.end == NaiveTime::from_hms_opt(23, 59, 59).expect("a time") {
                "24:00".to_string()
            } else {
                p.end.format("%H:%M").to_string()
            };
            format!("{}-{end}", p.start.format("%H:%M"))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A date, or a range of at most a year of them.
fn dates(line: &str) -> Option<Vec<NaiveDate>> {
    let day = |s: &str| NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok();
    match line.split_once("..") {
        Some((a, b)) => {
            let (a, b) = (day(a)?, day(b)?);
            if b < a || (b - a).num_days() > 366 {
                return None;
            }
            Some(a.iter_days().take_while(|d| *d <= b).collect())
        }
        None => Some(vec![day(line)?]),
    }
}

#[derive(Template)]
#[template(path = "admin/calendars.html")]
struct CalendarsPage {
    ctx: Ctx,
    calendars: Vec<CalendarRow>,
}

#[derive(Template)]
#[template(path = "admin/calendar_edit.html")]
struct CalendarEditPage {
    ctx: Ctx,
    /// The code of the calendar being edited; `None` for a new one.
    editing: Option<String>,
    form: CalendarForm,
    errors: FieldErrors,
}

impl CalendarEditPage {
    fn day_label(&self, day: &str) -> String {
        self.ctx.t(&format!("calendars.day.{day}")).into_owned()
    }

    fn day_value(&self, i: &usize) -> &str {
        self.form.day(*i)
    }
}

impl CalendarsPage {
    fn name(&self, row: &CalendarRow) -> String {
        if self.ctx.lang == crate::i18n::Lang::ZhCn && !row.name_zh.trim().is_empty() {
            row.name_zh.clone()
        } else {
            row.name_en.clone()
        }
    }
}

pub async fn list(ctx: Ctx, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let calendars = state.db.read(calendars::list).await?;
    render(&CalendarsPage { ctx, calendars })
}

pub async fn new_form(ctx: Ctx) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let errors = FieldErrors::new(ctx.lang);
    let form = CalendarForm {
        tz: "UTC".into(),
        mon: "09:00-12:00, 13:00-18:00".into(),
        tue: "09:00-12:00, 13:00-18:00".into(),
        wed: "09:00-12:00, 13:00-18:00".into(),
        thu: "09:00-12:00, 13:00-18:00".into(),
        fri: "09:00-12:00, 13:00-18:00".into(),
        ..Default::default()
    };
    render(&CalendarEditPage {
        ctx,
        editing: None,
        form,
        errors,
    })
}

pub async fn edit_form(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let code = path.into_inner();
    let wanted = code.clone();
    let row = state
        .db
        .read(move |c| calendars::find(c, &wanted))
        .await?
        .ok_or(AppError::NotFound)?;
    let errors = FieldErrors::new(ctx.lang);
    render(&CalendarEditPage {
        ctx,
        editing: Some(code),
        form: CalendarForm::of(&row)?,
        errors,
    })
}

/// Saves a new calendar (`POST /admin/calendars`) or an edited one
/// (`POST /admin/calendars/{code}`, whose code cannot change).
pub async fn save(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: Option<web::Path<String>>,
    CsrfForm(mut form): CsrfForm<CalendarForm>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let editing = path.map(|p| p.into_inner());
    if let Some(code) = &editing {
        form.code = code.clone();
    }
    let mut errors = FieldErrors::new(ctx.lang);
    if let Some(input) = form.parse(&mut errors) {
        let new = editing.is_none();
        let code = input.code.clone();
        let written = state
            .db
            .write(move |c| {
                if new && calendars::find(c, &input.code)?.is_some() {
                    return Err(crate::store::StoreError::rule("code", "errors.code_taken"));
                }
                calendars::save(c, &input)
            })
            .await;
        if errors.saved(written)?.is_some() {
            ctx.flash(FlashKind::Success, ctx.t("flash.saved").into_owned());
            return Ok(see_other(&format!("/admin/calendars/{code}")));
        }
    }
    render_status(
        StatusCode::UNPROCESSABLE_ENTITY,
        &CalendarEditPage {
            ctx,
            editing,
            form,
            errors,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn working_hours_are_read_as_typed_and_written_back_the_same() {
        let p = periods("09:00-12:00, 13:00 - 18:00").unwrap();
        assert_eq!(periods_text(&p), "09:00-12:00, 13:00-18:00");
        assert_eq!(
            periods_text(&periods("00:00-24:00").unwrap()),
            "00:00-24:00"
        );
        assert!(periods("").unwrap().is_empty());
        assert!(periods("18:00-09:00").is_err());
        assert!(periods("9 to 5").is_err());
    }

    #[test]
    fn holidays_are_days_or_ranges_of_days() {
        assert_eq!(dates("2026-10-01..2026-10-07").unwrap().len(), 7);
        assert_eq!(dates("2026-10-01").unwrap().len(), 1);
        assert!(dates("2026-10-07..2026-10-01").is_none());
        assert!(dates("National Day").is_none());
    }
}
