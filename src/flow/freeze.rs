//! Change freezes in time: when a freeze holds — once, every week or
//! every year, in the local wall time of its zone — as UTC intervals, and
//! which of them a stretch of time runs into. Pure: times in, times out,
//! in UTC as stored; each occurrence is read on the local clock, daylight
//! saving included.

use chrono::{Datelike, Duration, LocalResult, Months, NaiveDateTime, Offset, TimeZone};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// How often a freeze comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Repeat {
    /// Just the once.
    Once,
    /// Every week, at the same local times.
    Weekly,
    /// Every year, on the same local dates and times.
    Yearly,
}

impl Repeat {
    pub const ALL: [Repeat; 3] = [Repeat::Once, Repeat::Weekly, Repeat::Yearly];

    pub fn as_str(self) -> &'static str {
        match self {
            Repeat::Once => "once",
            Repeat::Weekly => "weekly",
            Repeat::Yearly => "yearly",
        }
    }

    pub fn parse(s: &str) -> Option<Repeat> {
        Repeat::ALL.into_iter().find(|r| r.as_str() == s.trim())
    }
}

/// What a freeze does to a change that falls in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strength {
    /// Refused (but for an emergency path).
    Hard,
    /// Allowed with an extra approval.
    Soft,
}

impl Strength {
    pub const ALL: [Strength; 2] = [Strength::Hard, Strength::Soft];

    pub fn as_str(self) -> &'static str {
        match self {
            Strength::Hard => "hard",
            Strength::Soft => "soft",
        }
    }

    pub fn parse(s: &str) -> Option<Strength> {
        Strength::ALL.into_iter().find(|k| k.as_str() == s.trim())
    }
}

/// When a freeze holds: its first occurrence in local wall time of `zone`, repeated.
#[derive(Debug, Clone, PartialEq)]
pub struct FreezeTime {
    pub starts: NaiveDateTime,
    pub ends: NaiveDateTime,
    pub repeat: Repeat,
    pub zone: Tz,
}

/// What is wrong with a freeze's time as entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreezeTimeError {
    /// The end is not after the start.
    EndNotAfterStart,
    /// A weekly freeze spans more than seven days: it would overlap itself.
    LongerThanAWeek,
    /// A yearly freeze spans 365 days or more: it would overlap itself.
    LongerThanAYear,
}

impl FreezeTimeError {
    /// The message-catalog key.
    pub fn key(self) -> &'static str {
        match self {
            FreezeTimeError::EndNotAfterStart => "freezes.end_before_start",
            FreezeTimeError::LongerThanAWeek => "freezes.longer_than_week",
            FreezeTimeError::LongerThanAYear => "freezes.longer_than_year",
        }
    }
}

/// The most occurrences one call gives: a weekly freeze asked about over
/// twenty years stops after the first thousand (about nineteen years of
/// weeks), in order.
pub const MAX_OCCURRENCES: usize = 1000;

impl FreezeTime {
    /// Refuses an end not after the start, and a repeating freeze long
    /// enough to run into its own next occurrence. The span is local wall
    /// time: a weekly freeze of exactly seven days holds without a break.
    pub fn check(&self) -> Result<(), FreezeTimeError> {
        if self.ends <= self.starts {
            return Err(FreezeTimeError::EndNotAfterStart);
        }
        let span = self.ends - self.starts;
        match self.repeat {
            Repeat::Weekly if span > Duration::days(7) => Err(FreezeTimeError::LongerThanAWeek),
            Repeat::Yearly if span >= Duration::days(365) => Err(FreezeTimeError::LongerThanAYear),
            _ => Ok(()),
        }
    }

    /// The UTC intervals [start, end) of the occurrences that overlap [from, to) (UTC), in order. Occurrences never start before `starts`. An empty or reversed [from,to) gives none.
    ///
    /// Each occurrence's start and end are read on the local clock
    /// separately (an hour that happens twice is its first; one that
    /// never happens is read with the offset before the jump), so a
    /// weekly freeze keeps its local hours across daylight saving and its
    /// length in UTC changes by the hour those weeks. An occurrence that
    /// a clock change would make start before the previous one ends
    /// starts where it ends, and one that a clock change leaves empty is
    /// passed over. At most [`MAX_OCCURRENCES`], the first ones.
    pub fn occurrences(
        &self,
        from: NaiveDateTime,
        to: NaiveDateTime,
    ) -> Vec<(NaiveDateTime, NaiveDateTime)> {
        self.overlapping(from, to).take(MAX_OCCURRENCES).collect()
    }

    /// The first occurrence overlapping [from, to), if any.
    pub fn first_overlap(
        &self,
        from: NaiveDateTime,
        to: NaiveDateTime,
    ) -> Option<(NaiveDateTime, NaiveDateTime)> {
        self.overlapping(from, to).next()
    }

    /// The occurrences overlapping [from, to), in order, as UTC
    /// intervals. It looks at a few occurrences before the range at most
    /// (see `first_index`) and stops at the first starting at `to` or
    /// later.
    fn overlapping(
        &self,
        from: NaiveDateTime,
        to: NaiveDateTime,
    ) -> impl Iterator<Item = (NaiveDateTime, NaiveDateTime)> + '_ {
        let indices = if from < to {
            self.first_index(from)..i64::MAX
        } else {
            0..0
        };
        // The latest end so far: an occurrence starts no earlier.
        let mut previous: Option<NaiveDateTime> = None;
        indices
            .map_while(move |n| {
                let (start, end) = self.local(n)?;
                Some((instant(self.zone, start)?, instant(self.zone, end)?))
            })
            .take_while(move |&(start, _)| start < to)
            .filter_map(move |(start, end)| {
                let start = previous.map_or(start, |p| start.max(p));
                previous = Some(previous.map_or(end, |p| end.max(p)));
                (start < end).then_some((start, end))
            })
            .filter(move |&(start, end)| start < to && end > from)
    }

    /// Occurrence `n` (0 the first) in local wall time; `None` past the
    /// only one of a freeze held once, or past the end of the calendar.
    fn local(&self, n: i64) -> Option<(NaiveDateTime, NaiveDateTime)> {
        match self.repeat {
            Repeat::Once => (n == 0).then_some((self.starts, self.ends)),
            Repeat::Weekly => {
                let shift = Duration::try_days(n.checked_mul(7)?)?;
                Some((
                    self.starts.checked_add_signed(shift)?,
                    self.ends.checked_add_signed(shift)?,
                ))
            }
            Repeat::Yearly => {
                // 29 February becomes 28 February in a year without it.
                let shift = Months::new(u32::try_from(n.checked_mul(12)?).ok()?);
                Some((
                    self.starts.checked_add_months(shift)?,
                    self.ends.checked_add_months(shift)?,
                ))
            }
        }
    }

    /// The first occurrence worth looking at for a range from `from`,
    /// counted rather than walked to: one that ends (local time) at least
    /// two days before `from` — no zone is a day from UTC, so it ends
    /// before `from` in UTC too, and every later one that overlaps the
    /// range is looked at, with the one before it to start after.
    fn first_index(&self, from: NaiveDateTime) -> i64 {
        match self.repeat {
            Repeat::Once => 0,
            Repeat::Weekly => {
                let ahead = from.signed_duration_since(self.ends) - Duration::days(2);
                ahead
                    .num_seconds()
                    .div_euclid(Duration::days(7).num_seconds())
                    .max(0)
            }
            // Occurrence n ends in local year `ends.year() + n`: one ending
            // two years before `from`'s ends before `from`.
            Repeat::Yearly => i64::from(from.year() - 2 - self.ends.year()).max(0),
        }
    }
}

/// The UTC instant a local time in `zone` names, as the business
/// calendars read it: an hour that happens twice (the clocks go back) is
/// its first; one that never happens (they go forward) is read with the
/// offset before the jump, so it lands as far after the jump as it was
/// meant to be after its start. `None` only at the ends of the calendar.
fn instant(zone: Tz, local: NaiveDateTime) -> Option<NaiveDateTime> {
    match zone.from_local_datetime(&local) {
        LocalResult::Single(t) => Some(t.naive_utc()),
        LocalResult::Ambiguous(first, _) => Some(first.naive_utc()),
        LocalResult::None => {
            let before = local
                .checked_sub_signed(Duration::hours(6))
                .and_then(|earlier| zone.from_local_datetime(&earlier).earliest())
                .map_or(0, |t| t.offset().fix().local_minus_utc());
            local.checked_sub_signed(Duration::seconds(i64::from(before)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use chrono_tz::{America::New_York, Asia::Shanghai, Australia::Lord_Howe, Europe::Berlin};
    use proptest::prelude::*;

    fn t(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, mo, d)
            .and_then(|d| d.and_hms_opt(h, mi, 0))
            .expect("a date and time")
    }

    /// The local time in `zone` of UTC instant `utc`, as text.
    fn local(zone: Tz, utc: NaiveDateTime) -> String {
        utc.and_utc()
            .with_timezone(&zone)
            .format("%a %Y-%m-%d %H:%M")
            .to_string()
    }

    /// Every Friday 18:00 to Monday 08:00 in Berlin, from 6 March 2026.
    fn weekend() -> FreezeTime {
        FreezeTime {
            starts: t(2026, 3, 6, 18, 0),
            ends: t(2026, 3, 9, 8, 0),
            repeat: Repeat::Weekly,
            zone: Berlin,
        }
    }

    #[test]
    fn repeats_and_strengths_read_back_from_their_names() {
        for r in Repeat::ALL {
            assert_eq!(Repeat::parse(r.as_str()), Some(r));
            assert_eq!(
                serde_json::to_string(&r).unwrap(),
                format!("\"{}\"", r.as_str())
            );
        }
        for s in Strength::ALL {
            assert_eq!(Strength::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        assert_eq!(Repeat::parse("daily"), None);
        assert_eq!(Strength::parse("Hard"), None);
    }

    #[test]
    fn a_freeze_held_once_is_its_local_times_in_utc() {
        let f = FreezeTime {
            starts: t(2026, 10, 1, 0, 0),
            ends: t(2026, 10, 8, 0, 0),
            repeat: Repeat::Once,
            zone: Shanghai,
        };
        let golden_week = (t(2026, 9, 30, 16, 0), t(2026, 10, 7, 16, 0));
        assert_eq!(
            f.occurrences(t(2026, 1, 1, 0, 0), t(2027, 1, 1, 0, 0)),
            vec![golden_week]
        );
        assert_eq!(
            f.first_overlap(t(2026, 10, 7, 15, 59), t(2026, 10, 7, 16, 0)),
            Some(golden_week)
        );
        // Ranges that only touch it, before or after, do not overlap it.
        assert_eq!(
            f.first_overlap(t(2026, 9, 30, 0, 0), t(2026, 9, 30, 16, 0)),
            None
        );
        assert_eq!(
            f.first_overlap(t(2026, 10, 7, 16, 0), t(2027, 10, 1, 0, 0)),
            None
        );
    }

    #[test]
    fn a_weekend_freeze_keeps_its_local_hours_across_both_daylight_saving_changes() {
        // Berlin moves its clocks forward on Sunday 29 March 2026 and back
        // on Sunday 25 October.
        let f = weekend();
        assert_eq!(
            f.occurrences(t(2026, 3, 18, 0, 0), t(2026, 4, 1, 0, 0)),
            vec![
                // CET throughout: UTC+1.
                (t(2026, 3, 20, 17, 0), t(2026, 3, 23, 7, 0)),
                // Starts at 18:00 CET, ends at 08:00 CEST (UTC+2): an
                // hour shorter.
                (t(2026, 3, 27, 17, 0), t(2026, 3, 30, 6, 0)),
            ]
        );
        assert_eq!(
            f.occurrences(t(2026, 10, 14, 0, 0), t(2026, 10, 28, 0, 0)),
            vec![
                // CEST throughout.
                (t(2026, 10, 16, 16, 0), t(2026, 10, 19, 6, 0)),
                // Starts at 18:00 CEST, ends at 08:00 CET: an hour longer.
                (t(2026, 10, 23, 16, 0), t(2026, 10, 26, 7, 0)),
            ]
        );
        for (start, end) in f.occurrences(t(2026, 3, 1, 0, 0), t(2027, 3, 1, 0, 0)) {
            assert!(local(Berlin, start).starts_with("Fri"), "{start}");
            assert!(local(Berlin, start).ends_with("18:00"), "{start}");
            assert!(local(Berlin, end).starts_with("Mon"), "{end}");
            assert!(local(Berlin, end).ends_with("08:00"), "{end}");
        }
    }

    #[test]
    fn a_weekly_freeze_years_after_its_start_is_counted_to_not_walked_to() {
        let f = weekend();
        let (from, to) = (t(2046, 7, 1, 0, 0), t(2046, 7, 15, 0, 0));
        // The first week looked at is at most three before the range.
        let first = f.first_index(from);
        let (_, first_end) = f.local(first).unwrap();
        assert!(first_end < from && from - first_end < Duration::days(22));
        let found = f.occurrences(from, to);
        assert_eq!(
            found
                .iter()
                .map(|&(s, e)| (local(Berlin, s), local(Berlin, e)))
                .collect::<Vec<_>>(),
            vec![
                (
                    "Fri 2046-06-29 18:00".to_string(),
                    "Mon 2046-07-02 08:00".to_string()
                ),
                (
                    "Fri 2046-07-06 18:00".to_string(),
                    "Mon 2046-07-09 08:00".to_string()
                ),
                (
                    "Fri 2046-07-13 18:00".to_string(),
                    "Mon 2046-07-16 08:00".to_string()
                ),
            ]
        );
        // Thousands of years ahead, still at once.
        let far = t(9000, 1, 1, 0, 0);
        let (s, e) = f.first_overlap(far, far + Duration::days(7)).unwrap();
        assert!(s < far + Duration::days(7) && e > far);
    }

    #[test]
    fn a_range_of_many_years_gives_at_most_a_thousand_weeks() {
        let f = weekend();
        let found = f.occurrences(t(2026, 1, 1, 0, 0), t(2066, 1, 1, 0, 0));
        assert_eq!(found.len(), MAX_OCCURRENCES);
        assert_eq!(found[0], (t(2026, 3, 6, 17, 0), t(2026, 3, 9, 7, 0)));
    }

    #[test]
    fn singles_day_week_in_shanghai_comes_back_every_year() {
        let f = FreezeTime {
            starts: t(2026, 11, 10, 0, 0),
            ends: t(2026, 11, 17, 0, 0),
            repeat: Repeat::Yearly,
            zone: Shanghai,
        };
        assert_eq!(f.check(), Ok(()));
        assert_eq!(
            f.occurrences(t(2027, 1, 1, 0, 0), t(2028, 1, 1, 0, 0)),
            vec![(t(2027, 11, 9, 16, 0), t(2027, 11, 16, 16, 0))]
        );
        assert_eq!(
            f.first_overlap(t(2031, 11, 11, 3, 0), t(2031, 11, 11, 4, 0)),
            Some((t(2031, 11, 9, 16, 0), t(2031, 11, 16, 16, 0)))
        );
        assert_eq!(
            f.occurrences(t(2027, 1, 1, 0, 0), t(2032, 1, 1, 0, 0))
                .len(),
            5
        );
    }

    #[test]
    fn a_yearly_freeze_across_the_new_year_is_found_in_early_january() {
        let f = FreezeTime {
            starts: t(2026, 12, 24, 0, 0),
            ends: t(2027, 1, 2, 0, 0),
            repeat: Repeat::Yearly,
            zone: Berlin,
        };
        assert_eq!(
            f.first_overlap(t(2031, 1, 1, 10, 0), t(2031, 1, 1, 11, 0)),
            Some((t(2030, 12, 23, 23, 0), t(2031, 1, 1, 23, 0)))
        );
        assert_eq!(
            f.first_overlap(t(2031, 1, 2, 0, 0), t(2031, 12, 23, 23, 0)),
            None
        );
    }

    #[test]
    fn a_freeze_on_29_february_falls_on_28_february_without_a_leap_day() {
        let f = FreezeTime {
            starts: t(2028, 2, 29, 0, 0),
            ends: t(2028, 3, 1, 0, 0),
            repeat: Repeat::Yearly,
            zone: Tz::UTC,
        };
        assert_eq!(
            f.occurrences(t(2029, 1, 1, 0, 0), t(2033, 1, 1, 0, 0)),
            vec![
                (t(2029, 2, 28, 0, 0), t(2029, 3, 1, 0, 0)),
                (t(2030, 2, 28, 0, 0), t(2030, 3, 1, 0, 0)),
                (t(2031, 2, 28, 0, 0), t(2031, 3, 1, 0, 0)),
                (t(2032, 2, 29, 0, 0), t(2032, 3, 1, 0, 0)),
            ]
        );
    }

    #[test]
    fn nothing_is_frozen_before_the_first_start() {
        let before = (t(2020, 1, 1, 0, 0), t(2026, 3, 6, 17, 0));
        let f = weekend();
        assert_eq!(f.occurrences(before.0, before.1), vec![]);
        assert_eq!(
            f.first_overlap(before.0, before.1 + Duration::minutes(1)),
            Some((t(2026, 3, 6, 17, 0), t(2026, 3, 9, 7, 0)))
        );
        let yearly = FreezeTime {
            repeat: Repeat::Yearly,
            ..weekend()
        };
        assert_eq!(yearly.occurrences(before.0, before.1), vec![]);
        let once = FreezeTime {
            repeat: Repeat::Once,
            ..weekend()
        };
        assert_eq!(once.occurrences(before.0, before.1), vec![]);
    }

    #[test]
    fn an_empty_or_reversed_range_finds_nothing() {
        let f = weekend();
        let inside = t(2026, 3, 7, 12, 0);
        assert_eq!(f.occurrences(inside, inside), vec![]);
        assert_eq!(f.first_overlap(inside + Duration::hours(1), inside), None);
    }

    #[test]
    fn a_freeze_starting_in_the_hour_that_never_happens_starts_after_the_jump() {
        // 02:30 does not happen in Berlin on 29 March 2026: it is read as
        // 03:30 CEST; 02:30 on 25 October happens twice and is the first.
        let f = FreezeTime {
            starts: t(2026, 3, 29, 2, 30),
            ends: t(2026, 3, 29, 4, 0),
            repeat: Repeat::Once,
            zone: Berlin,
        };
        let (s, e) = f.occurrences(t(2026, 3, 1, 0, 0), t(2026, 4, 1, 0, 0))[0];
        assert_eq!((s, e), (t(2026, 3, 29, 1, 30), t(2026, 3, 29, 2, 0)));
        assert_eq!(local(Berlin, s), "Sun 2026-03-29 03:30");
        let f = FreezeTime {
            starts: t(2026, 10, 25, 2, 30),
            ends: t(2026, 10, 25, 4, 0),
            ..f
        };
        assert_eq!(
            f.occurrences(t(2026, 10, 1, 0, 0), t(2026, 11, 1, 0, 0)),
            vec![(t(2026, 10, 25, 0, 30), t(2026, 10, 25, 3, 0))]
        );
    }

    #[test]
    fn a_week_ending_in_the_hour_that_never_happens_does_not_overlap_the_next() {
        // Sunday 03:15 to the next Sunday 02:30 in Berlin: on 29 March 2026
        // 02:30 is read as 03:30 CEST, after the next week's 03:15 start;
        // that week starts where the one before ends.
        let f = FreezeTime {
            starts: t(2026, 3, 22, 3, 15),
            ends: t(2026, 3, 29, 2, 30),
            repeat: Repeat::Weekly,
            zone: Berlin,
        };
        assert_eq!(f.check(), Ok(()));
        assert_eq!(
            f.occurrences(t(2026, 3, 22, 0, 0), t(2026, 4, 1, 0, 0)),
            vec![
                (t(2026, 3, 22, 2, 15), t(2026, 3, 29, 1, 30)),
                (t(2026, 3, 29, 1, 30), t(2026, 4, 5, 0, 30)),
            ]
        );
        // Found the same from inside it alone.
        assert_eq!(
            f.first_overlap(t(2026, 3, 30, 0, 0), t(2026, 3, 30, 1, 0)),
            Some((t(2026, 3, 29, 1, 30), t(2026, 4, 5, 0, 30)))
        );
    }

    #[test]
    fn a_freeze_ending_before_it_starts_or_running_into_its_next_occurrence_is_refused() {
        let f = weekend();
        assert_eq!(f.check(), Ok(()));
        let at = |starts, ends, repeat| FreezeTime {
            starts,
            ends,
            repeat,
            zone: Berlin,
        };
        let start = t(2026, 3, 6, 18, 0);
        assert_eq!(
            at(start, start, Repeat::Once).check(),
            Err(FreezeTimeError::EndNotAfterStart)
        );
        assert_eq!(
            at(start, start - Duration::hours(1), Repeat::Weekly).check(),
            Err(FreezeTimeError::EndNotAfterStart)
        );
        assert_eq!(
            at(start, start + Duration::days(7), Repeat::Weekly).check(),
            Ok(()),
            "a whole week holds without a break"
        );
        assert_eq!(
            at(
                start,
                start + Duration::days(7) + Duration::minutes(1),
                Repeat::Weekly
            )
            .check(),
            Err(FreezeTimeError::LongerThanAWeek)
        );
        assert_eq!(
            at(start, start + Duration::days(364), Repeat::Yearly).check(),
            Ok(())
        );
        assert_eq!(
            at(start, start + Duration::days(365), Repeat::Yearly).check(),
            Err(FreezeTimeError::LongerThanAYear)
        );
        assert_eq!(
            at(start, start + Duration::days(800), Repeat::Once).check(),
            Ok(())
        );
        assert_eq!(
            FreezeTimeError::EndNotAfterStart.key(),
            "freezes.end_before_start"
        );
        assert_eq!(
            FreezeTimeError::LongerThanAWeek.key(),
            "freezes.longer_than_week"
        );
        assert_eq!(
            FreezeTimeError::LongerThanAYear.key(),
            "freezes.longer_than_year"
        );
    }

    /// Checked freezes first held from 2024 to 2029, in zones with daylight
    /// saving (Lord Howe's moves by half an hour) and without.
    fn freezes() -> impl Strategy<Value = FreezeTime> {
        (
            prop::sample::select(vec![Berlin, New_York, Shanghai, Lord_Howe, Tz::UTC]),
            prop::sample::select(Repeat::ALL.to_vec()),
            // Local starts, to the minute.
            (1_704_067_200i64 / 60)..(1_893_456_000 / 60),
            1i64..(60 * 24 * 364),
        )
            .prop_map(|(zone, repeat, start, minutes)| {
                let starts = chrono::DateTime::from_timestamp(start * 60, 0)
                    .unwrap()
                    .naive_utc();
                // A week at most for a weekly freeze (a whole one too).
                let minutes = match repeat {
                    Repeat::Weekly => 1 + (minutes - 1) % (60 * 24 * 7),
                    _ => minutes,
                };
                FreezeTime {
                    starts,
                    ends: starts + Duration::minutes(minutes),
                    repeat,
                    zone,
                }
            })
    }

    /// UTC moments from 2023 to 2035, to the minute.
    fn moments() -> impl Strategy<Value = NaiveDateTime> {
        ((1_672_531_200i64 / 60)..(2_051_222_400 / 60)).prop_map(|m| {
            chrono::DateTime::from_timestamp(m * 60, 0)
                .unwrap()
                .naive_utc()
        })
    }

    proptest! {
        /// Each occurrence overlaps the range, they come in order without
        /// overlapping one another, none starts before the first start,
        /// and a range inside one finds that one alone.
        #[test]
        fn occurrences_overlap_the_range_in_order_and_are_found_again_from_inside(
            f in freezes(),
            from in moments(),
            minutes in 0i64..(60 * 24 * 365 * 3),
            at in 0.0f64..1.0,
            length in 0.0f64..1.0,
        ) {
            prop_assert_eq!(f.check(), Ok(()));
            let to = from + Duration::minutes(minutes);
            let found = f.occurrences(from, to);
            prop_assert!(found.len() <= MAX_OCCURRENCES);
            let first = instant(f.zone, f.starts).unwrap();
            for &(s, e) in &found {
                prop_assert!(s < e, "{:?}", (s, e));
                prop_assert!(s < to && e > from, "{:?}", (s, e));
                prop_assert!(s >= first, "{:?}", (s, e));
            }
            for w in found.windows(2) {
                prop_assert!(w[0].1 <= w[1].0, "{:?}", w);
            }
            prop_assert_eq!(f.first_overlap(from, to), found.first().copied());
            for &(s, e) in &found {
                let span = (e - s).num_seconds();
                let a = s + Duration::seconds((span as f64 * at) as i64);
                let b = a + Duration::seconds((((e - a).num_seconds()) as f64 * length) as i64 + 1);
                let b = b.min(e);
                prop_assert!(a < b);
                prop_assert_eq!(f.occurrences(a, b), vec![(s, e)]);
                prop_assert_eq!(f.first_overlap(a, b), Some((s, e)));
            }
        }
    }
}
