//! A step's clock: when each stage of its deadline falls — the reminders
//! before it, the breach, the reminders after — and, when a timer fires
//! late (an outage, a restart), which stage it fires as and which comes
//! next. Pure: the times are in UTC as stored, counted in a calendar.

use chrono::{Duration, NaiveDateTime};

use super::calendar::Calendar;
use super::definition::Deadline;

/// A stage of a step's deadline, as a timer stores it: reminders before
/// the deadline are `0..n` (n of them), the breach is `n`, each reminder
/// after it `n + 1`, `n + 2`, …
pub type Stage = i32;

/// What a stage is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageKind {
    /// A reminder before the deadline, at this percentage of the time.
    Reminder(u8),
    /// The deadline has passed.
    Breach,
    /// The n-th reminder after the deadline (1 first).
    Overdue(u32),
}

impl Deadline {
    /// The stage that is the breach.
    pub fn breach(&self) -> Stage {
        self.remind_at.len() as Stage
    }

    /// What `stage` is, or `None` when there is no such stage (a reminder
    /// after the breach where none repeat).
    pub fn kind(&self, stage: Stage) -> Option<StageKind> {
        let breach = self.breach();
        match stage {
            s if s < 0 => None,
            s if s < breach => Some(StageKind::Reminder(self.remind_at[s as usize])),
            s if s == breach => Some(StageKind::Breach),
            s => self
                .repeat_hours
                .map(|_| StageKind::Overdue((s - breach) as u32)),
        }
    }

    /// The working (or wall-clock) time after the start at which `stage`
    /// falls.
    fn offset(&self, stage: Stage) -> Option<Duration> {
        let hours = Duration::minutes(i64::from(self.hours) * 60);
        Some(match self.kind(stage)? {
            StageKind::Reminder(percent) => {
                Duration::seconds(hours.num_seconds() * i64::from(percent) / 100)
            }
            StageKind::Breach => hours,
            StageKind::Overdue(n) => {
                hours + Duration::hours(i64::from(self.repeat_hours?) * i64::from(n))
            }
        })
    }

    /// When `stage` falls for a clock started at `since`, counted in
    /// `calendar` when the deadline is in working hours. `None`: no such
    /// stage, or a calendar with no working time ahead.
    pub fn at(
        &self,
        calendar: &Calendar,
        since: NaiveDateTime,
        stage: Stage,
    ) -> Option<NaiveDateTime> {
        let offset = self.offset(stage)?;
        if self.working {
            calendar.add(since.and_utc(), offset).map(|t| t.naive_utc())
        } else {
            Some(since + offset)
        }
    }

    /// The deadline itself.
    pub fn due(&self, calendar: &Calendar, since: NaiveDateTime) -> Option<NaiveDateTime> {
        self.at(calendar, since, self.breach())
    }

    /// The first stage of a clock started at `since`, with its time.
    pub fn first(
        &self,
        calendar: &Calendar,
        since: NaiveDateTime,
    ) -> Option<(Stage, NaiveDateTime)> {
        self.at(calendar, since, 0).map(|at| (0, at))
    }

    /// A timer at `stage` fires at `now`: the stage it fires as, and the
    /// next one with its time. Stages passed meanwhile (a late timer) are
    /// not fired one by one: the latest one due is fired — the breach
    /// whenever it has not been, the reminders before it then being moot —
    /// and the next is the first still ahead.
    pub fn fire(
        &self,
        calendar: &Calendar,
        since: NaiveDateTime,
        stage: Stage,
        now: NaiveDateTime,
    ) -> (Stage, Option<(Stage, NaiveDateTime)>) {
        let breach = self.breach();
        // The last stage due by now (a bounded walk: a clock of hourly
        // reminders after a year away is a few thousand steps).
        let mut last = stage;
        let next = loop {
            match self.at(calendar, since, last + 1) {
                Some(at) if at <= now && last - stage < 100_000 => last += 1,
                Some(at) => break Some((last + 1, at)),
                None => break None,
            }
        };
        // The breach is never passed over unfired.
        let fired = if stage <= breach && breach <= last {
            breach
        } else {
            last
        };
        (fired, next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::definition::Escalation;
    use chrono::NaiveDate;

    fn at(d: u32, h: u32, m: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 12, d)
            .unwrap()
            .and_hms_opt(h, m, 0)
            .unwrap()
    }

    fn deadline(hours: u32, working: bool, remind_at: &[u8], repeat: Option<u32>) -> Deadline {
        Deadline {
            hours,
            working,
            remind_at: remind_at.to_vec(),
            repeat_hours: repeat,
            on_breach: Escalation::MarkOverdue,
        }
    }

    #[test]
    fn stages_fall_at_their_share_of_wall_clock_time() {
        let d = deadline(8, false, &[50, 90], Some(4));
        let cal = Calendar::always();
        let since = at(7, 10, 0);
        assert_eq!(d.at(&cal, since, 0), Some(at(7, 14, 0)));
        assert_eq!(d.at(&cal, since, 1), Some(at(7, 17, 12)));
        assert_eq!(d.due(&cal, since), Some(at(7, 18, 0)));
        assert_eq!(d.at(&cal, since, 3), Some(at(7, 22, 0)));
        assert_eq!(d.at(&cal, since, 4), Some(at(8, 2, 0)));
        assert_eq!(d.kind(4), Some(StageKind::Overdue(2)));
    }

    #[test]
    fn without_repeats_the_breach_is_the_last_stage() {
        let d = deadline(8, false, &[50], None);
        let cal = Calendar::always();
        assert_eq!(d.kind(2), None);
        assert_eq!(d.at(&cal, at(7, 0, 0), 2), None);
        assert_eq!(
            d.fire(&cal, at(7, 0, 0), 1, at(7, 8, 0)),
            (1, None),
            "the breach fires and nothing follows"
        );
    }

    #[test]
    fn working_hours_skip_the_weekend_and_the_night() {
        // Monday 7 December 2026, office hours 9–12 and 13–18 in UTC.
        let cal = Calendar::office(chrono_tz::Tz::UTC);
        let d = deadline(16, true, &[50], None);
        // Friday 11th at 17:00: 1 hour Friday, 8 Monday, 7 Tuesday (of 8
        // a day: 9–12 and 13–18).
        let since = at(11, 17, 0);
        assert_eq!(d.at(&cal, since, 0), Some(at(14, 17, 0)));
        assert_eq!(d.due(&cal, since), Some(at(15, 17, 0)));
    }

    #[test]
    fn a_late_timer_fires_the_breach_once_and_skips_the_reminders_passed() {
        let d = deadline(10, false, &[50, 90], Some(1));
        let cal = Calendar::always();
        let since = at(7, 0, 0);
        // Down from before the first reminder until after two repeats.
        let (fired, next) = d.fire(&cal, since, 0, at(7, 12, 30));
        assert_eq!(fired, 2, "the breach");
        assert_eq!(next, Some((5, at(7, 13, 0))), "the first repeat ahead");
        // Down after the breach: one reminder for the repeats passed.
        let (fired, next) = d.fire(&cal, since, 3, at(7, 14, 10));
        assert_eq!(fired, 6, "the latest reminder due");
        assert_eq!(next, Some((7, at(7, 15, 0))));
        // On time: the stage itself.
        let (fired, next) = d.fire(&cal, since, 0, at(7, 5, 0));
        assert_eq!((fired, next), (0, Some((1, at(7, 9, 0)))));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// However late a runner looks each time, the stages it fires
            /// only move forward, each fired stage was due, the breach is
            /// fired exactly once, and the next stage is always ahead.
            #[test]
            fn a_clock_fires_forward_and_its_breach_exactly_once(
                hours in 1u32..48,
                remind in proptest::collection::btree_set(1u8..100, 0..4),
                repeat in proptest::option::of(1u32..12),
                looks in proptest::collection::vec(0i64..3000, 1..30),
            ) {
                let d = Deadline {
                    hours,
                    working: false,
                    remind_at: remind.into_iter().collect(),
                    repeat_hours: repeat,
                    on_breach: Escalation::MarkOverdue,
                };
                let cal = Calendar::always();
                let since = at(7, 0, 0);
                let mut timer = d.first(&cal, since);
                let mut now = since;
                let (mut breaches, mut last) = (0, -1);
                for minutes in looks {
                    now += chrono::Duration::minutes(minutes);
                    let Some((stage, due)) = timer else { break };
                    if due > now {
                        continue;
                    }
                    let (fired, next) = d.fire(&cal, since, stage, now);
                    prop_assert!(fired >= stage && fired > last);
                    prop_assert!(d.at(&cal, since, fired).unwrap() <= now);
                    if fired == d.breach() {
                        breaches += 1;
                    }
                    if let Some((n, due)) = next {
                        prop_assert!(n > fired && due > now);
                    }
                    last = fired;
                    timer = next;
                }
                prop_assert!(breaches <= 1);
                if now >= d.due(&cal, since).unwrap() && timer.is_none_or(|(s, _)| s > d.breach()) {
                    prop_assert_eq!(breaches, 1, "a breach looked at is fired");
                }
            }
        }
    }
}
