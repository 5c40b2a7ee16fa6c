//! The arithmetic of the change dashboards, pure: durations counted in
//! fixed log-scale buckets (so a day's durations can be stored once and
//! added to any other day's), percentiles read from those counts, and
//! the weeks (ISO, Monday first) or months a range of days falls into.
//!
//! A bucket is an eighth of a doubling: bucket `b` holds durations of
//! `2^(b/8)` up to `2^((b+1)/8)` seconds, so a percentile read from the
//! buckets is within 4.5 % of the true one (the bucket's middle on a log
//! scale), from a second up to a century; under a second is bucket 0.

use std::collections::BTreeMap;

use chrono::{Datelike, Duration, NaiveDate};

/// Buckets per doubling.
const PER_DOUBLING: f64 = 8.0;
/// The last bucket (2^(320/8) s is far beyond any ticket).
const LAST: u16 = 320;

/// The bucket a duration of `secs` seconds falls into.
pub fn bucket(secs: i64) -> u16 {
    if secs <= 1 {
        return 0;
    }
    let b = ((secs as f64).log2() * PER_DOUBLING).floor();
    (b as u16).min(LAST)
}

/// The duration a bucket stands for: its middle on a log scale, in
/// seconds (bucket 0: one second).
pub fn middle(bucket: u16) -> f64 {
    if bucket == 0 {
        return 1.0;
    }
    2f64.powf((f64::from(bucket) + 0.5) / PER_DOUBLING)
}

/// Counts of durations by bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Histogram {
    counts: BTreeMap<u16, i64>,
}

impl Histogram {
    pub fn new() -> Histogram {
        Histogram::default()
    }

    /// Counts one duration; a negative one (clocks disagreeing) as none.
    pub fn add(&mut self, secs: i64) {
        *self.counts.entry(bucket(secs.max(0))).or_default() += 1;
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (b, n) in &other.counts {
            *self.counts.entry(*b).or_default() += n;
        }
    }

    /// How many durations were counted.
    pub fn count(&self) -> i64 {
        self.counts.values().sum()
    }

    /// The `q`-th quantile (0 < q ≤ 1) by nearest rank, in seconds; none
    /// when nothing was counted.
    pub fn percentile(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = ((q * total as f64).ceil() as i64).clamp(1, total);
        let mut seen = 0;
        for (b, n) in &self.counts {
            seen += n;
            if seen >= rank {
                return Some(middle(*b));
            }
        }
        None
    }

    /// Stored form: `bucket:count` pairs joined by commas.
    pub fn encode(&self) -> String {
        self.counts
            .iter()
            .map(|(b, n)| format!("{b}:{n}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Reads `encode`'s form; pairs it cannot read are left out.
    pub fn decode(text: &str) -> Histogram {
        let mut h = Histogram::new();
        for pair in text.split(',') {
            if let Some((b, n)) = pair.split_once(':')
                && let (Ok(b), Ok(n)) = (b.parse::<u16>(), n.parse::<i64>())
            {
                *h.counts.entry(b.min(LAST)).or_default() += n;
            }
        }
        h
    }
}

/// Days since 1970-01-01 (the rollup's day numbers).
pub fn day_number(date: NaiveDate) -> i32 {
    (date - epoch()).num_days() as i32
}

/// The date of a day number.
pub fn date_of(day: i32) -> NaiveDate {
    epoch() + Duration::days(i64::from(day))
}

fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("a date")
}

/// How figures are grouped over time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Period {
    /// ISO weeks, Monday first.
    Week,
    Month,
}

impl Period {
    pub fn parse(s: &str) -> Option<Period> {
        match s {
            "week" => Some(Period::Week),
            "month" => Some(Period::Month),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Period::Week => "week",
            Period::Month => "month",
        }
    }

    /// The first day of the period `date` falls in.
    pub fn start(self, date: NaiveDate) -> NaiveDate {
        match self {
            Period::Week => date - Duration::days(i64::from(date.weekday().num_days_from_monday())),
            Period::Month => date.with_day(1).expect("every month has a first"),
        }
    }

    /// The first day of the period after the one starting at `start`.
    fn next(self, start: NaiveDate) -> NaiveDate {
        match self {
            Period::Week => start + Duration::days(7),
            Period::Month => start
                .checked_add_months(chrono::Months::new(1))
                .expect("a later month"),
        }
    }

    /// The period's name: `2026-W49` (ISO week-numbering year) or `2026-12`.
    pub fn label(self, start: NaiveDate) -> String {
        match self {
            Period::Week => {
                let w = start.iso_week();
                format!("{}-W{:02}", w.year(), w.week())
            }
            Period::Month => start.format("%Y-%m").to_string(),
        }
    }

    /// The periods that days `from..=until` touch, in order, each as its
    /// first day; none when `until` is before `from`.
    pub fn between(self, from: NaiveDate, until: NaiveDate) -> Vec<NaiveDate> {
        let mut out = Vec::new();
        let mut at = self.start(from);
        while at <= until {
            out.push(at);
            at = self.next(at);
        }
        out
    }

    /// Which of `starts` (as `between` gives them) `date` falls in.
    pub fn index_of(self, starts: &[NaiveDate], date: NaiveDate) -> Option<usize> {
        let start = self.start(date);
        starts.binary_search(&start).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn a_percentile_is_read_by_nearest_rank_within_its_bucket() {
        let mut h = Histogram::new();
        for hours in [1, 2, 3, 4, 10] {
            h.add(hours * 3600);
        }
        let near = |got: Option<f64>, want: f64| {
            let got = got.unwrap();
            assert!((got / want - 1.0).abs() < 0.045, "{got} is not near {want}");
        };
        near(h.percentile(0.5), 3.0 * 3600.0);
        near(h.percentile(0.9), 10.0 * 3600.0);
        near(h.percentile(0.2), 3600.0);
        assert_eq!(Histogram::new().percentile(0.5), None);
    }

    #[test]
    fn histograms_survive_their_stored_form_and_add_up() {
        let mut a = Histogram::new();
        a.add(0);
        a.add(90);
        a.add(90);
        let mut b = Histogram::decode(&a.encode());
        assert_eq!(a, b);
        b.merge(&a);
        assert_eq!(b.count(), 6);
        assert_eq!(Histogram::decode("").count(), 0);
        assert_eq!(Histogram::decode("x:1,3:y,4:2").count(), 2);
    }

    #[test]
    fn weeks_are_iso_weeks_and_months_calendar_months() {
        // 2026-12-06 is a Sunday; its week began on Monday the 30th.
        assert_eq!(Period::Week.start(d(2026, 12, 6)), d(2026, 11, 30));
        assert_eq!(Period::Week.label(d(2026, 11, 30)), "2026-W49");
        // 2027-01-01 is a Friday of 2026's week 53.
        assert_eq!(
            Period::Week.label(Period::Week.start(d(2027, 1, 1))),
            "2026-W53"
        );
        assert_eq!(Period::Month.label(d(2026, 12, 1)), "2026-12");
        let weeks = Period::Week.between(d(2026, 11, 30), d(2026, 12, 14));
        assert_eq!(
            weeks,
            vec![d(2026, 11, 30), d(2026, 12, 7), d(2026, 12, 14)]
        );
        let months = Period::Month.between(d(2026, 11, 15), d(2027, 1, 2));
        assert_eq!(months, vec![d(2026, 11, 1), d(2026, 12, 1), d(2027, 1, 1)]);
        assert_eq!(Period::Month.index_of(&months, d(2026, 12, 31)), Some(1));
        assert_eq!(Period::Month.index_of(&months, d(2027, 2, 1)), None);
        assert!(
            Period::Week
                .between(d(2026, 12, 14), d(2026, 12, 1))
                .is_empty()
        );
    }

    #[test]
    fn day_numbers_count_from_1970() {
        assert_eq!(day_number(d(1970, 1, 2)), 1);
        assert_eq!(date_of(day_number(d(2026, 12, 6))), d(2026, 12, 6));
    }

    proptest! {
        /// A duration's bucket stands for it within 4.5 %, and a longer
        /// duration never falls in an earlier bucket.
        #[test]
        fn a_bucket_stands_for_its_durations(secs in 2i64..10_000_000_000, more in 0i64..1_000_000) {
            let m = middle(bucket(secs));
            prop_assert!((m / secs as f64 - 1.0).abs() < 0.045);
            prop_assert!(bucket(secs + more) >= bucket(secs));
        }

        /// Every day falls in exactly the period `between` lists for it.
        #[test]
        fn every_day_falls_in_its_period(offset in 0i64..2000, len in 0i64..400, month in proptest::bool::ANY) {
            let period = if month { Period::Month } else { Period::Week };
            let from = d(2024, 1, 1) + Duration::days(offset);
            let until = from + Duration::days(len);
            let starts = period.between(from, until);
            let mut day = from;
            while day <= until {
                let i = period.index_of(&starts, day).expect("listed");
                prop_assert!(starts[i] <= day);
                prop_assert!(starts.get(i + 1).is_none_or(|next| day < *next));
                day += Duration::days(1);
            }
        }
    }
}
