//! The change calendar: month, week and day views drawn on the server
//! (readable without script), changes in their windows coloured by
//! status, freezes shaded, narrowed by business, service, status and
//! affected item; each change links to its ticket.

use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime};
use serde::Deserialize;

use super::ctx::Ctx;
use super::forms::SelectOption;
use super::{AppError, AppState, render};
use crate::db::ids::{BusinessId, ServiceId};
use crate::db::states::TicketStatus;
use crate::flow::change::normalise_item;
use crate::flow::freeze::Strength;
use crate::i18n::Lang;
use crate::store::changes::{self, Entry, Filter};
use crate::store::freezes::Freeze;

/// How many changes a day of the month view lists before "N more".
const MONTH_CELL: usize = 4;

/// The query string: which view, around which day, narrowed how.
#[derive(Debug, Default, Deserialize)]
pub struct CalendarQuery {
    #[serde(default)]
    view: String,
    #[serde(default)]
    date: String,
    #[serde(default)]
    business: String,
    #[serde(default)]
    service: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    item: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Month,
    Week,
    Day,
}

impl View {
    fn parse(s: &str) -> View {
        match s {
            "week" => View::Week,
            "day" => View::Day,
            _ => View::Month,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            View::Month => "month",
            View::Week => "week",
            View::Day => "day",
        }
    }
}

/// One change as drawn.
pub struct EntryView {
    pub href: String,
    pub serial: String,
    pub title: String,
    /// Its window in the day's terms: "20:00–22:00", "20:00 →", "→ 02:00".
    pub time: String,
    /// The whole window, for the hover text and the day view.
    pub window: String,
    pub status: &'static str,
    pub status_label: String,
    pub emergency: bool,
    pub service: String,
    pub business: String,
}

/// A freeze on a day: its name, hard or soft, and when.
pub struct FreezeMark {
    pub name: String,
    pub hard: bool,
    pub when: String,
}

/// One day of a view.
pub struct DayCell {
    pub date: NaiveDate,
    pub label: String,
    pub href: String,
    pub in_range: bool,
    pub today: bool,
    pub entries: Vec<EntryView>,
    /// "N more", for changes beyond what the month view lists.
    pub more: Option<String>,
    pub freezes: Vec<FreezeMark>,
}

impl DayCell {
    /// The cell's shading: the strongest freeze on the day.
    pub fn shade(&self) -> &'static str {
        if self.freezes.iter().any(|f| f.hard) {
            "frozen-hard"
        } else if self.freezes.is_empty() {
            ""
        } else {
            "frozen-soft"
        }
    }
}

#[derive(Template)]
#[template(path = "calendar.html")]
struct CalendarPage {
    ctx: Ctx,
    view: View,
    heading: String,
    weekdays: Vec<String>,
    /// Rows of seven days (month, week), or one day.
    weeks: Vec<Vec<DayCell>>,
    prev: String,
    next: String,
    today: String,
    /// The same query in each view.
    views: Vec<(&'static str, String, String)>,
    businesses: Vec<SelectOption>,
    services: Vec<SelectOption>,
    statuses: Vec<SelectOption>,
    query: CalendarQuery,
    date: String,
    /// Said when the view was cut short.
    capped: Option<String>,
    /// The filters' inputs have no errors to show.
    no_errors: super::forms::FieldErrors,
}

fn month_start(d: NaiveDate) -> NaiveDate {
    d.with_day(1).unwrap_or(d)
}

fn next_month(d: NaiveDate) -> NaiveDate {
    month_start(d)
        .checked_add_months(chrono::Months::new(1))
        .unwrap_or(d)
}

fn prev_month(d: NaiveDate) -> NaiveDate {
    month_start(d)
        .checked_sub_months(chrono::Months::new(1))
        .unwrap_or(d)
}

fn monday_of(d: NaiveDate) -> NaiveDate {
    d - Duration::days(i64::from(d.weekday().num_days_from_monday()))
}

/// The days a view draws: [first, last], and the span it is about.
fn days_of(view: View, date: NaiveDate) -> (NaiveDate, NaiveDate) {
    match view {
        View::Month => {
            let first = monday_of(month_start(date));
            let last_of_month = next_month(date) - Duration::days(1);
            (first, monday_of(last_of_month) + Duration::days(6))
        }
        View::Week => (monday_of(date), monday_of(date) + Duration::days(6)),
        View::Day => (date, date),
    }
}

fn midnight(d: NaiveDate) -> NaiveDateTime {
    d.and_hms_opt(0, 0, 0).unwrap_or_default()
}

fn hm(t: NaiveDateTime) -> String {
    t.format("%H:%M").to_string()
}

/// A change's window as seen from day `d`.
fn time_on(d: NaiveDate, (from, to): (NaiveDateTime, NaiveDateTime)) -> String {
    let (day_start, day_end) = (midnight(d), midnight(d) + Duration::days(1));
    match (from >= day_start, to <= day_end) {
        (true, true) => format!("{}–{}", hm(from), hm(to)),
        (true, false) => format!("{} →", hm(from)),
        (false, true) => format!("→ {}", hm(to)),
        (false, false) => "→ →".into(),
    }
}

fn status_str(s: TicketStatus) -> &'static str {
    match s {
        TicketStatus::Running => "running",
        TicketStatus::Finished => "finished",
        TicketStatus::Rejected => "rejected",
        TicketStatus::Withdrawn => "withdrawn",
        TicketStatus::SentBack => "sent_back",
    }
}

/// The filter a query asks for; unknown values narrow nothing.
fn filter_of(q: &CalendarQuery) -> Filter {
    let item = q.item.trim();
    Filter {
        business: q.business.trim().parse().ok().map(BusinessId),
        service: q.service.trim().parse().ok().map(ServiceId),
        status: TicketStatus::parse(q.status.trim()),
        item: match item.strip_prefix('#') {
            Some(id) => normalise_item(&format!("resource:{id}")),
            None if item.is_empty() => None,
            None => normalise_item(item),
        },
    }
}

pub async fn show(
    ctx: Ctx,
    state: web::Data<AppState>,
    query: web::Query<CalendarQuery>,
) -> Result<HttpResponse, AppError> {
    ctx.require_user()?;
    let query = query.into_inner();
    let view = View::parse(query.view.trim());
    let now = state.db.now();
    let today = now.date();
    // A day the calendar can draw around (years 2 to 9998, so a week or
    // a month and its freezes' year back stay within chrono's range);
    // anything else is today.
    let date = NaiveDate::parse_from_str(query.date.trim(), "%Y-%m-%d")
        .ok()
        .filter(|d| (2..=9998).contains(&d.year()))
        .unwrap_or(today);
    let (first, last) = days_of(view, date);
    let range = (midnight(first), midnight(last) + Duration::days(1));
    let filter = filter_of(&query);
    // The month view lists a few changes a day: only those are read in
    // full, the rest counted in the database. A status filter reads every
    // change's status, an item filter the item's changes.
    let a_day = if view == View::Month {
        MONTH_CELL
    } else {
        usize::MAX
    };
    let (entries, counts, slots_read, freezes, services, businesses) = state
        .db
        .read(move |c| {
            let (entries, counts, slots_read) =
                if view == View::Month && filter.status.is_none() && filter.item.is_none() {
                    // An unnarrowed month, or a business's or service's, is
                    // counted and picked by the database.
                    let month = crate::store::month::month(c, (first, last), &filter, a_day)?;
                    let picked = drawn(month.slots.clone(), first, last, a_day, |s| s.window);
                    let read = picked.len();
                    (changes::entries_of(c, &picked)?, month.counts.clone(), read)
                } else {
                    let slots = changes::slots(c, range, &filter)?;
                    let slots_read = slots.len();
                    match filter.status {
                        Some(status) => {
                            let mut all = changes::entries_of(c, &slots)?;
                            all.retain(|e| e.status == status);
                            let counts = per_day(&all, first, last, |e| e.window);
                            let picked = drawn(all, first, last, a_day, |e| e.window);
                            (picked, counts, slots_read)
                        }
                        None => {
                            let counts = per_day(&slots, first, last, |s| s.window);
                            let picked = drawn(slots, first, last, a_day, |s| s.window);
                            (changes::entries_of(c, &picked)?, counts, slots_read)
                        }
                    }
                };
            Ok((
                entries,
                counts,
                slots_read,
                crate::store::freezes::shown(c)?,
                crate::store::services::names(c)?,
                crate::store::businesses::names(c)?,
            ))
        })
        .await?;
    let lang = ctx.lang;
    let zh = lang == Lang::ZhCn;
    let service_name = |id: ServiceId| {
        services
            .iter()
            .find(|(s, _, _)| *s == id)
            .map(|(_, en, zh_name)| {
                if zh && !zh_name.is_empty() {
                    zh_name
                } else {
                    en
                }
            })
            .cloned()
            .unwrap_or_default()
    };
    let business_name = |id: Option<BusinessId>| {
        id.and_then(|id| businesses.iter().find(|(b, _)| *b == id))
            .map(|(_, n)| n.clone())
            .unwrap_or_default()
    };
    let capped = (slots_read >= changes::VIEW_LIMIT as usize).then(|| {
        lang.tf(
            "calendar.capped",
            &[("n", &changes::VIEW_LIMIT.to_string())],
        )
    });
    let occurrences = freeze_marks(&freezes, range, zh);
    let entry_view = |e: &Entry, d: NaiveDate| EntryView {
        href: format!("/tickets/{}", e.apply.0),
        serial: e.serial.clone(),
        title: e.title.clone(),
        time: time_on(d, e.window),
        window: super::change_view::window_text(e.window),
        status: status_str(e.status),
        status_label: lang.t(&format!("ticket_status.{}", e.status)).into_owned(),
        emergency: e.emergency,
        service: service_name(e.service),
        business: business_name(e.business),
    };
    let mut days = Vec::new();
    let mut d = first;
    while d <= last {
        let (day_start, day_end) = (midnight(d), midnight(d) + Duration::days(1));
        let count = counts[(d - first).num_days() as usize];
        let in_range = view != View::Month || d.month() == date.month();
        days.push(DayCell {
            date: d,
            label: if view == View::Month {
                d.day().to_string()
            } else {
                day_label(lang, d)
            },
            href: link(&query, "day", d),
            in_range,
            today: d == today,
            more: Some(count.saturating_sub(a_day))
                .filter(|n| *n > 0)
                .map(|n| lang.tf("calendar.more", &[("n", &n.to_string())])),
            entries: entries
                .iter()
                .filter(|e| on(d, e.window))
                .take(a_day)
                .map(|e| entry_view(e, d))
                .collect(),
            freezes: occurrences
                .iter()
                .filter(|(window, _)| window.0 < day_end && window.1 > day_start)
                .map(|(_, mark)| FreezeMark {
                    name: mark.name.clone(),
                    hard: mark.hard,
                    when: mark.when.clone(),
                })
                .collect(),
        });
        d += Duration::days(1);
    }
    let weeks: Vec<Vec<DayCell>> = if view == View::Day {
        vec![days]
    } else {
        let mut weeks = Vec::new();
        let mut days = days.into_iter().peekable();
        while days.peek().is_some() {
            weeks.push(days.by_ref().take(7).collect());
        }
        weeks
    };
    let (prev, next) = match view {
        View::Month => (prev_month(date), next_month(date)),
        View::Week => (date - Duration::days(7), date + Duration::days(7)),
        View::Day => (date - Duration::days(1), date + Duration::days(1)),
    };
    let heading = match view {
        View::Month => lang.tf(
            "calendar.month_title",
            &[
                ("year", &date.year().to_string()),
                (
                    "month",
                    &lang.t(&format!("calendar.months.m{}", date.month())),
                ),
            ],
        ),
        View::Week => format!("{} – {}", first.format("%Y-%m-%d"), last.format("%Y-%m-%d")),
        View::Day => day_label(lang, date),
    };
    let views = [View::Month, View::Week, View::Day]
        .into_iter()
        .map(|v| {
            (
                v.as_str(),
                lang.t(&format!("calendar.view_{}", v.as_str()))
                    .into_owned(),
                link(&query, v.as_str(), date),
            )
        })
        .collect();
    let weekdays = (1..=7)
        .map(|i| lang.t(&format!("calendar.weekdays.d{i}")).into_owned())
        .collect();
    let mut business_options = vec![SelectOption::new("", ctx.t("calendar.all_businesses"))];
    business_options.extend(
        businesses
            .iter()
            .map(|(id, n)| SelectOption::new(id.0, n.clone())),
    );
    let mut service_options = vec![SelectOption::new("", ctx.t("calendar.all_services"))];
    service_options.extend(services.iter().map(|(id, en, zh_name)| {
        SelectOption::new(
            id.0,
            if zh && !zh_name.is_empty() {
                zh_name.clone()
            } else {
                en.clone()
            },
        )
    }));
    let mut statuses = vec![SelectOption::new("", ctx.t("calendar.all_statuses"))];
    statuses.extend(
        ["running", "sent_back", "finished", "rejected", "withdrawn"]
            .into_iter()
            .map(|s| SelectOption::new(s, ctx.t(&format!("ticket_status.{s}")))),
    );
    render(&CalendarPage {
        heading,
        weekdays,
        weeks,
        prev: link(&query, view.as_str(), prev),
        next: link(&query, view.as_str(), next),
        today: link(&query, view.as_str(), today),
        views,
        businesses: business_options,
        services: service_options,
        statuses,
        date: date.format("%Y-%m-%d").to_string(),
        capped,
        no_errors: super::forms::FieldErrors::new(lang),
        view,
        query,
        ctx,
    })
}

/// Whether `window` touches day `d`.
fn on(d: NaiveDate, window: (NaiveDateTime, NaiveDateTime)) -> bool {
    window.0 < midnight(d) + Duration::days(1) && window.1 > midnight(d)
}

/// How many of `items` touch each day from `first` to `last`.
fn per_day<T>(
    items: &[T],
    first: NaiveDate,
    last: NaiveDate,
    window: impl Fn(&T) -> (NaiveDateTime, NaiveDateTime),
) -> Vec<usize> {
    let days = (last - first).num_days() + 1;
    let mut counts = vec![0; days as usize];
    for item in items {
        let (from_day, end_day) = crate::flow::change::days(window(item));
        let start = (from_day - first).num_days().max(0);
        let end = (end_day - first).num_days().min(days - 1);
        for day in start..=end {
            counts[day as usize] += 1;
        }
    }
    counts
}

/// The `items` some day draws (each day's first `a_day`), in order.
fn drawn<T>(
    items: Vec<T>,
    first: NaiveDate,
    last: NaiveDate,
    a_day: usize,
    window: impl Fn(&T) -> (NaiveDateTime, NaiveDateTime),
) -> Vec<T> {
    let days = (last - first).num_days() + 1;
    let mut taken = vec![0usize; days as usize];
    items
        .into_iter()
        .filter(|item| {
            let (from, to) = window(item);
            let mut wanted = false;
            let mut d = from.date().max(first);
            while d <= last && on(d, (from, to)) {
                let slot = &mut taken[(d - first).num_days() as usize];
                if *slot < a_day {
                    *slot += 1;
                    wanted = true;
                }
                d += Duration::days(1);
            }
            wanted
        })
        .collect()
}

/// "Mon 2027-11-08" / "11月8日 周一".
fn day_label(lang: Lang, d: NaiveDate) -> String {
    let weekday = lang
        .t(&format!(
            "calendar.weekdays.d{}",
            d.weekday().number_from_monday()
        ))
        .into_owned();
    if lang == Lang::ZhCn {
        format!("{}月{}日 {weekday}", d.month(), d.day())
    } else {
        format!("{weekday} {}", d.format("%Y-%m-%d"))
    }
}

/// The calendar's address for `view` around `date`, keeping the filters.
fn link(q: &CalendarQuery, view: &str, date: NaiveDate) -> String {
    let mut pairs = vec![
        ("view", view.to_string()),
        ("date", date.format("%Y-%m-%d").to_string()),
    ];
    for (key, value) in [
        ("business", &q.business),
        ("service", &q.service),
        ("status", &q.status),
        ("item", &q.item),
    ] {
        if !value.trim().is_empty() {
            pairs.push((key, value.trim().to_string()));
        }
    }
    format!(
        "/calendar?{}",
        serde_html_form::to_string(&pairs).unwrap_or_default()
    )
}

/// Every freeze occurrence within `range`, with how it is marked.
fn freeze_marks(
    freezes: &[Freeze],
    range: (NaiveDateTime, NaiveDateTime),
    zh: bool,
) -> Vec<((NaiveDateTime, NaiveDateTime), FreezeMark)> {
    let mut out = Vec::new();
    for f in freezes {
        for occurrence in f.time.occurrences(range.0, range.1) {
            out.push((
                occurrence,
                FreezeMark {
                    name: f.name.text(zh).to_string(),
                    hard: f.strength == Strength::Hard,
                    when: super::change_view::window_text(occurrence),
                },
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn a_month_is_drawn_in_whole_weeks_from_monday_to_sunday() {
        assert_eq!(
            days_of(View::Month, day("2027-11-18")),
            (day("2027-11-01"), day("2027-12-05"))
        );
        assert_eq!(
            days_of(View::Month, day("2027-02-10")),
            (day("2027-02-01"), day("2027-02-28"))
        );
        assert_eq!(
            days_of(View::Week, day("2027-11-18")),
            (day("2027-11-15"), day("2027-11-21"))
        );
    }

    #[test]
    fn each_day_counts_every_change_touching_it_and_draws_its_first_few() {
        let at = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        let windows = vec![
            (at("2027-10-31 22:00"), at("2027-11-01 02:00")),
            (at("2027-11-01 09:00"), at("2027-11-01 10:00")),
            (at("2027-11-01 11:00"), at("2027-11-02 00:00")),
            (at("2027-11-02 09:00"), at("2027-11-03 09:00")),
        ];
        let (first, last) = (day("2027-11-01"), day("2027-11-03"));
        assert_eq!(per_day(&windows, first, last, |w| *w), [3, 1, 1]);
        let kept = drawn(windows.clone(), first, last, 2, |w| *w);
        assert_eq!(kept, [windows[0], windows[1], windows[3]]);
    }

    #[test]
    fn days_at_the_ends_of_the_calendar_are_drawn_without_overflowing() {
        for date in ["0002-01-01", "9998-12-31"] {
            let (first, last) = days_of(View::Month, day(date));
            assert!(
                midnight(last)
                    .checked_add_signed(Duration::days(367))
                    .is_some()
            );
            assert!(
                midnight(first)
                    .checked_sub_signed(Duration::days(367))
                    .is_some()
            );
        }
    }

    #[test]
    fn a_window_reads_from_the_day_it_is_drawn_on() {
        let at = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        let window = (at("2027-11-18 22:00"), at("2027-11-19 02:00"));
        assert_eq!(time_on(day("2027-11-18"), window), "22:00 →");
        assert_eq!(time_on(day("2027-11-19"), window), "→ 02:00");
        let inside = (at("2027-11-18 20:00"), at("2027-11-18 21:30"));
        assert_eq!(time_on(day("2027-11-18"), inside), "20:00–21:30");
    }
}
