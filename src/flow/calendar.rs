//! Business calendars and working-time arithmetic: a time zone, working
//! periods per weekday, holidays and extra working days — the moment N
//! working hours after another (a deadline), and the working time
//! between two moments. Pure: times in, times out, in UTC; each day's
//! periods are read in the calendar's own zone, daylight saving included.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// A stretch of working time within one local day: `start` to `end`,
/// `start` before `end` (no period crosses midnight).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Period {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl Period {
    /// `None` unless `start` comes before `end`.
    pub fn new(start: NaiveTime, end: NaiveTime) -> Option<Period> {
        (start < end).then_some(Period { start, end })
    }
}

/// What is wrong with a calendar as entered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CalendarError {
    /// Two periods of one day overlap (the weekday, Monday = 0, or the date).
    Overlap(String),
    /// No working time in any week and no extra working day: no deadline
    /// could ever fall.
    NeverWorks,
}

/// A business calendar.
#[derive(Debug, Clone)]
pub struct Calendar {
    pub tz: Tz,
    /// Monday first: each weekday's working periods, in order.
    pub week: [Vec<Period>; 7],
    /// Days off, whatever their weekday.
    pub holidays: BTreeSet<NaiveDate>,
    /// Days worked whatever their weekday or a holiday (a Saturday worked
    /// to make up for a long holiday), with their periods.
    pub extra: BTreeMap<NaiveDate, Vec<Period>>,
}

/// How far ahead a deadline is looked for before there is taken to be
/// none: ten years of days.
const HORIZON_DAYS: i64 = 3660;

impl Calendar {
    /// The usual office: Monday to Friday, 09:00–12:00 and 13:00–18:00.
    pub fn office(tz: Tz) -> Calendar {
        let day = vec![
            Period::new(hm(9, 0), hm(12, 0)).expect("ordered"),
            Period::new(hm(13, 0), hm(18, 0)).expect("ordered"),
        ];
        Calendar {
            tz,
            week: [
                day.clone(),
                day.clone(),
                day.clone(),
                day.clone(),
                day,
                Vec::new(),
                Vec::new(),
            ],
            holidays: BTreeSet::new(),
            extra: BTreeMap::new(),
        }
    }

    /// Around the clock, every day (wall-clock time).
    pub fn always() -> Calendar {
        let all = vec![Period::new(NaiveTime::MIN, last_moment()).expect("ordered")];
        Calendar {
            tz: Tz::UTC,
            week: std::array::from_fn(|_| all.clone()),
            holidays: BTreeSet::new(),
            extra: BTreeMap::new(),
        }
    }

    /// Sorts each day's periods and refuses overlapping ones and a
    /// calendar that never works.
    pub fn checked(mut self) -> Result<Calendar, CalendarError> {
        // Sorted, whether any two periods of `day` overlap.
        let overlaps = |day: &mut Vec<Period>| {
            day.sort();
            day.windows(2).any(|w| w[0].end > w[1].start)
        };
        for (i, day) in self.week.iter_mut().enumerate() {
            if overlaps(day) {
                return Err(CalendarError::Overlap(i.to_string()));
            }
        }
        for (date, day) in self.extra.iter_mut() {
            if overlaps(day) {
                return Err(CalendarError::Overlap(date.to_string()));
            }
        }
        if self.week.iter().all(Vec::is_empty) && self.extra.values().all(Vec::is_empty) {
            return Err(CalendarError::NeverWorks);
        }
        Ok(self)
    }

    /// The working periods of local day `date`: an extra working day's,
    /// none on a holiday, else its weekday's.
    pub fn periods_on(&self, date: NaiveDate) -> &[Period] {
        if let Some(day) = self.extra.get(&date) {
            return day;
        }
        if self.holidays.contains(&date) {
            return &[];
        }
        &self.week[date.weekday().num_days_from_monday() as usize]
    }

    /// Local day `date`'s working time as UTC intervals, in order.
    fn intervals_on(
        &self,
        date: NaiveDate,
    ) -> impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)> + '_ {
        self.periods_on(date).iter().filter_map(move |p| {
            let start = self.instant(date.and_time(p.start));
            // The end of a period that runs to the day's last moment is
            // the next midnight.
            let end = if p.end == last_moment() {
                self.instant(date.and_time(NaiveTime::MIN) + Duration::days(1))
            } else {
                self.instant(date.and_time(p.end))
            };
            (start < end).then_some((start, end))
        })
    }

    /// The instant a local time names. An hour that happens twice (the
    /// clocks go back) is its first; one that never happens (they go
    /// forward) is read with the offset before the jump, so it lands as
    /// far after the jump as it was meant to be after its start.
    fn instant(&self, local: NaiveDateTime) -> DateTime<Utc> {
        match self.tz.from_local_datetime(&local) {
            chrono::LocalResult::Single(t) => t.with_timezone(&Utc),
            chrono::LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
            chrono::LocalResult::None => {
                let before = self
                    .tz
                    .from_local_datetime(&(local - Duration::hours(6)))
                    .earliest()
                    .map(|t| chrono::Offset::fix(t.offset()))
                    .unwrap_or_else(|| chrono::FixedOffset::east_opt(0).expect("zero"));
                (local - Duration::seconds(i64::from(before.local_minus_utc()))).and_utc()
            }
        }
    }

    /// The local day `t` falls on.
    fn local_date(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.tz).date_naive()
    }

    /// Whether `t` is working time.
    pub fn is_working(&self, t: DateTime<Utc>) -> bool {
        let date = self.local_date(t);
        // A day's periods lie within it, but look at the day before too:
        // a period ending at midnight.
        [date.pred_opt(), Some(date)]
            .into_iter()
            .flatten()
            .any(|d| self.intervals_on(d).any(|(s, e)| s <= t && t < e))
    }

    /// The moment `work` of working time after `from` has passed — a
    /// deadline. Zero is the first working moment from `from` on. `None`
    /// when none comes within ten years (a calendar of holidays only).
    /// For positive `work` it falls in working time: after a period's
    /// start, at most at its end.
    pub fn add(&self, from: DateTime<Utc>, work: Duration) -> Option<DateTime<Utc>> {
        let mut left = work.max(Duration::zero());
        let first = self.local_date(from).pred_opt()?;
        for n in 0..HORIZON_DAYS {
            let date = first + Duration::days(n);
            for (s, e) in self.intervals_on(date) {
                if e <= from {
                    continue;
                }
                let start = s.max(from);
                let here = e - start;
                if left <= here {
                    return Some(start + left);
                }
                left -= here;
            }
        }
        None
    }

    /// The working time between `from` and `to` (zero if `to` is not
    /// after `from`).
    pub fn between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
        if to <= from {
            return Duration::zero();
        }
        let (first, last) = (self.local_date(from).pred_opt(), self.local_date(to));
        let Some(mut date) = first else {
            return Duration::zero();
        };
        let mut sum = Duration::zero();
        while date <= last {
            for (s, e) in self.intervals_on(date) {
                let (s, e) = (s.max(from), e.min(to));
                if s < e {
                    sum += e - s;
                }
            }
            let Some(next) = date.succ_opt() else { break };
            date = next;
        }
        sum
    }
}

fn hm(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).expect("a time of day")
}

/// The last moment of a day, standing for "until midnight".
fn last_moment() -> NaiveTime {
    NaiveTime::from_hms_opt(23, 59, 59).expect("a time of day")
}

/// The days an iCalendar file names as all-day events (`DTSTART` with a
/// date, `DTEND` the day after the last, or one day without it) — the
/// holidays of a published calendar. Timed events and lines it does not
/// know are passed over; a line folded onto the next (RFC 5545) is read
/// whole.
pub fn ics_days(text: &str) -> Vec<NaiveDate> {
    let mut lines: Vec<String> = Vec::new();
    for raw in text.lines() {
        let raw = raw.trim_end_matches('\r');
        match (
            raw.strip_prefix(' ').or_else(|| raw.strip_prefix('\t')),
            lines.last_mut(),
        ) {
            (Some(rest), Some(last)) => last.push_str(rest),
            _ => lines.push(raw.to_string()),
        }
    }
    let date_of = |line: &str| {
        let (name, value) = line.split_once(':')?;
        // An all-day value: `;VALUE=DATE`, or eight digits and nothing more.
        let value = value.trim();
        ((name.contains("VALUE=DATE") && !name.contains("VALUE=DATE-TIME")) || value.len() == 8)
            .then(|| NaiveDate::parse_from_str(value, "%Y%m%d").ok())
            .flatten()
    };
    let mut days = BTreeSet::new();
    let (mut start, mut end) = (None, None);
    let mut inside = false;
    for line in &lines {
        let upper = line.to_ascii_uppercase();
        if upper == "BEGIN:VEVENT" {
            (inside, start, end) = (true, None, None);
        } else if upper == "END:VEVENT" {
            if let Some(first) = start {
                let stop: NaiveDate = end
                    .filter(|e| *e > first)
                    .unwrap_or(first + Duration::days(1));
                let mut d = first;
                // At most a year from one event.
                while d < stop && d < first + Duration::days(366) {
                    days.insert(d);
                    d += Duration::days(1);
                }
            }
            inside = false;
        } else if inside && upper.starts_with("DTSTART") {
            start = date_of(line);
        } else if inside && upper.starts_with("DTEND") {
            end = date_of(line);
        }
    }
    days.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::{America::New_York, Asia::Shanghai, Europe::Berlin};
    use proptest::prelude::*;

    fn at(tz: Tz, y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        tz.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .earliest()
            .expect("a local time")
            .with_timezone(&Utc)
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// Shanghai office hours with the 2026 National Day holiday
    /// (1–7 October, Thursday to Wednesday) and the Saturday worked
    /// after it (10 October).
    fn shanghai() -> Calendar {
        let mut c = Calendar::office(Shanghai);
        for d in 1..=7 {
            c.holidays.insert(date(2026, 10, d));
        }
        c.extra.insert(date(2026, 10, 10), c.week[0].clone());
        c.checked().unwrap()
    }

    #[test]
    fn eight_working_hours_from_a_friday_afternoon_end_on_monday_afternoon() {
        let c = Calendar::office(Shanghai);
        // Friday 2026-12-04 16:00: 2 h on Friday, 3 h Monday morning,
        // 3 h after lunch.
        let due = c
            .add(at(Shanghai, 2026, 12, 4, 16, 0), Duration::hours(8))
            .unwrap();
        assert_eq!(due, at(Shanghai, 2026, 12, 7, 16, 0));
        assert_eq!(
            c.between(at(Shanghai, 2026, 12, 4, 16, 0), due),
            Duration::hours(8)
        );
    }

    #[test]
    fn time_asked_in_the_lunch_break_or_at_night_starts_at_the_next_period() {
        let c = Calendar::office(Shanghai);
        let lunch = at(Shanghai, 2026, 12, 3, 12, 30);
        assert!(!c.is_working(lunch));
        assert_eq!(
            c.add(lunch, Duration::hours(1)),
            Some(at(Shanghai, 2026, 12, 3, 14, 0))
        );
        let night = at(Shanghai, 2026, 12, 3, 23, 0);
        assert_eq!(
            c.add(night, Duration::zero()),
            Some(at(Shanghai, 2026, 12, 4, 9, 0))
        );
        assert!(c.is_working(at(Shanghai, 2026, 12, 4, 9, 0)));
    }

    #[test]
    fn a_deadline_over_national_day_skips_the_holiday_and_counts_the_saturday_worked() {
        let c = shanghai();
        // Wednesday 30 September 17:00: 1 h that day, 8 h on Thursday 8
        // October, 8 h on Friday 9 October, then Saturday 10 October.
        let due = c
            .add(at(Shanghai, 2026, 9, 30, 17, 0), Duration::hours(18))
            .unwrap();
        assert_eq!(due, at(Shanghai, 2026, 10, 10, 10, 0));
        assert_eq!(c.periods_on(date(2026, 10, 5)), &[]);
        assert_eq!(c.periods_on(date(2026, 10, 10)).len(), 2);
    }

    #[test]
    fn working_hours_keep_to_the_local_clock_across_daylight_saving() {
        // Berlin moves its clocks forward on 29 March 2026 and back on 25
        // October: the office still opens at 09:00 local time.
        let c = Calendar::office(Berlin);
        let due = c
            .add(at(Berlin, 2026, 3, 27, 17, 0), Duration::hours(2))
            .unwrap();
        assert_eq!(due, at(Berlin, 2026, 3, 30, 10, 0));
        assert_eq!(
            due.format("%H:%M").to_string(),
            "08:00",
            "UTC+2 after the change"
        );
        let due = c
            .add(at(Berlin, 2026, 10, 23, 17, 0), Duration::hours(2))
            .unwrap();
        assert_eq!(
            due.format("%H:%M").to_string(),
            "09:00",
            "UTC+1 after the change"
        );
    }

    #[test]
    fn wall_clock_hours_across_the_spring_change_are_real_hours() {
        // Around the clock in New York: 24 h from Saturday noon before the
        // change (8 March 2026) is Sunday 13:00 local, one hour later on
        // the clock.
        let mut c = Calendar::always();
        c.tz = New_York;
        let from = at(New_York, 2026, 3, 7, 12, 0);
        let due = c.add(from, Duration::hours(24)).unwrap();
        assert_eq!(due - from, Duration::hours(24));
        assert_eq!(
            due.with_timezone(&New_York).format("%d %H:%M").to_string(),
            "08 13:00"
        );
    }

    #[test]
    fn a_period_starting_in_the_hour_that_never_happens_starts_after_the_jump() {
        // 02:30 does not happen in Berlin on 29 March 2026.
        let mut c = Calendar::office(Berlin);
        c.extra.insert(
            date(2026, 3, 29),
            vec![Period::new(hm(2, 30), hm(4, 0)).unwrap()],
        );
        let due = c
            .add(at(Berlin, 2026, 3, 29, 0, 0), Duration::minutes(10))
            .unwrap();
        assert_eq!(
            due.with_timezone(&Berlin).format("%H:%M").to_string(),
            "03:40"
        );
    }

    #[test]
    fn a_calendar_of_holidays_only_gives_no_deadline_and_is_refused() {
        let c = Calendar {
            week: Default::default(),
            ..Calendar::office(Shanghai)
        };
        assert_eq!(
            c.add(at(Shanghai, 2026, 1, 1, 9, 0), Duration::hours(1)),
            None
        );
        assert_eq!(c.checked().unwrap_err(), CalendarError::NeverWorks);
        let mut overlapping = Calendar::office(Shanghai);
        overlapping.week[2].push(Period::new(hm(11, 0), hm(14, 0)).unwrap());
        assert_eq!(
            overlapping.checked().unwrap_err(),
            CalendarError::Overlap("2".into())
        );
        assert!(
            Period::new(hm(18, 0), hm(9, 0)).is_none(),
            "no period crosses midnight"
        );
    }

    #[test]
    fn an_ics_file_gives_its_all_day_events_as_days() {
        let ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nSUMMARY:国庆节\r\nDTSTART;VALUE=DATE:20261001\r\nDTEND;VALUE=DATE:20261008\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nSUMMARY:New Year\r\nDTSTART;VALUE=DATE:2027\r\n 0101\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nSUMMARY:A meeting\r\nDTSTART:20261012T090000Z\r\nDTEND:20261012T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let days = ics_days(ics);
        assert_eq!(days.len(), 8, "{days:?}");
        assert_eq!(days[0], date(2026, 10, 1));
        assert_eq!(days[6], date(2026, 10, 7));
        assert_eq!(days[7], date(2027, 1, 1));
    }

    fn calendars() -> impl Strategy<Value = Calendar> {
        prop_oneof![
            Just(shanghai()),
            Just(Calendar::office(Berlin)),
            Just(Calendar::office(New_York)),
            Just({
                let mut c = Calendar::always();
                c.tz = Berlin;
                c
            }),
        ]
    }

    /// Moments from 2026 to the end of 2027, to the second.
    fn moments() -> impl Strategy<Value = DateTime<Utc>> {
        (1_767_225_600i64..1_830_297_600).prop_map(|s| DateTime::from_timestamp(s, 0).unwrap())
    }

    proptest! {
        #[test]
        fn a_deadline_falls_in_working_time_and_the_working_time_to_it_is_what_was_asked(
            c in calendars(), from in moments(), minutes in 1i64..(60 * 200),
        ) {
            let work = Duration::minutes(minutes);
            let due = c.add(from, work).unwrap();
            prop_assert!(due > from);
            // Just before it is working time: it never falls in a gap.
            prop_assert!(c.is_working(due - Duration::seconds(1)));
            prop_assert_eq!(c.between(from, due), work);
        }

        #[test]
        fn working_time_adds_up_over_any_moment_between(
            c in calendars(), a in moments(), b in moments(), m in moments(),
        ) {
            let (from, to) = (a.min(b), a.max(b));
            let mid = m.clamp(from, to);
            prop_assert_eq!(c.between(from, mid) + c.between(mid, to), c.between(from, to));
        }

        #[test]
        fn more_work_or_a_later_start_never_gives_an_earlier_deadline(
            c in calendars(), from in moments(), a in 0i64..(60 * 100), b in 0i64..(60 * 100), later in 0i64..(3600 * 72),
        ) {
            let (less, more) = (a.min(b), a.max(b));
            prop_assert!(c.add(from, Duration::minutes(less)) <= c.add(from, Duration::minutes(more)));
            let start = from + Duration::seconds(later);
            prop_assert!(c.add(from, Duration::minutes(a)) <= c.add(start, Duration::minutes(a)));
        }
    }
}
