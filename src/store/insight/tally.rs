//! Figures added up for a dashboard (pure): per period (week or month)
//! the volume, QC outcomes, breaches and lead times; over the whole range
//! each step's and each person's durations. A `Tally` takes rows in any
//! order and in any number of batches — stored days, days computed live,
//! the last minutes — and gives the same `Summary` whichever way they came.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::FigureRow;
use crate::flow::figures::{Histogram, Period, date_of, day_number};

/// One period's figures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PeriodFigures {
    pub start: Option<NaiveDate>,
    pub filed: i64,
    pub finished: i64,
    pub rejected: i64,
    pub withdrawn: i64,
    pub successful: i64,
    pub with_issues: i64,
    pub unsuccessful: i64,
    pub breaches: i64,
    pub lead: Histogram,
}

impl PeriodFigures {
    /// Finished tickets that QC evaluated.
    pub fn evaluated(&self) -> i64 {
        self.successful + self.with_issues + self.unsuccessful
    }
}

/// Durations of one subject (a step, a person) over the whole range.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Durations {
    pub subject: String,
    pub label: (String, String),
    pub hist: Histogram,
}

/// A range's figures by period, step and person.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub periods: Vec<PeriodFigures>,
    /// By the longest median wait first.
    pub nodes: Vec<Durations>,
    pub people: Vec<Durations>,
}

/// Rows of days `from..until` (day numbers) added up by `period`.
#[derive(Debug, Clone)]
pub struct Tally {
    period: Period,
    from: i32,
    until: i32,
    /// By the day number of the period's first day.
    periods: BTreeMap<i32, PeriodFigures>,
    nodes: BTreeMap<String, Durations>,
    people: BTreeMap<String, Durations>,
}

impl Tally {
    pub fn new(period: Period, from: i32, until: i32) -> Tally {
        Tally {
            period,
            from,
            until,
            periods: BTreeMap::new(),
            nodes: BTreeMap::new(),
            people: BTreeMap::new(),
        }
    }

    /// Adds `rows`; those dated outside the range are left out.
    pub fn add(&mut self, rows: &[FigureRow]) {
        for r in rows {
            if r.day < self.from || r.day >= self.until {
                continue;
            }
            let start = self.period.start(date_of(r.day));
            let p = self
                .periods
                .entry(day_number(start))
                .or_insert_with(|| PeriodFigures {
                    start: Some(start),
                    ..Default::default()
                });
            match r.figure.as_str() {
                "filed" => p.filed += r.n,
                "finished" => p.finished += r.n,
                "rejected" => p.rejected += r.n,
                "withdrawn" => p.withdrawn += r.n,
                "qc_successful" => p.successful += r.n,
                "qc_with_issues" => p.with_issues += r.n,
                "qc_unsuccessful" => p.unsuccessful += r.n,
                "breach" => p.breaches += r.n,
                "lead" => p.lead.merge(&Histogram::decode(&r.hist)),
                figure @ ("node" | "person") => {
                    let into = if figure == "node" {
                        &mut self.nodes
                    } else {
                        &mut self.people
                    };
                    let d = match into.get_mut(&r.subject) {
                        Some(d) => d,
                        None => into.entry(r.subject.clone()).or_insert_with(|| Durations {
                            subject: r.subject.clone(),
                            label: (r.label_en.clone(), r.label_zh.clone()),
                            hist: Histogram::new(),
                        }),
                    };
                    d.hist.merge(&Histogram::decode(&r.hist));
                }
                _ => {}
            }
        }
    }

    /// Adds what `other` (of the same period and range) added up.
    pub fn merge(&mut self, other: &Tally) {
        for (day, q) in &other.periods {
            let p = self.periods.entry(*day).or_insert_with(|| PeriodFigures {
                start: q.start,
                ..Default::default()
            });
            p.filed += q.filed;
            p.finished += q.finished;
            p.rejected += q.rejected;
            p.withdrawn += q.withdrawn;
            p.successful += q.successful;
            p.with_issues += q.with_issues;
            p.unsuccessful += q.unsuccessful;
            p.breaches += q.breaches;
            p.lead.merge(&q.lead);
        }
        for (into, from) in [
            (&mut self.nodes, &other.nodes),
            (&mut self.people, &other.people),
        ] {
            for (subject, d) in from {
                match into.get_mut(subject) {
                    Some(kept) => kept.hist.merge(&d.hist),
                    None => {
                        into.insert(subject.clone(), d.clone());
                    }
                }
            }
        }
    }

    /// The figures of every period the range touches, the steps by the
    /// longest median wait first, the people by id.
    pub fn summary(&self) -> Summary {
        let (from, last) = (date_of(self.from), date_of(self.until - 1));
        let periods = self
            .period
            .between(from, last)
            .into_iter()
            .map(|start| {
                self.periods
                    .get(&day_number(start))
                    .cloned()
                    .unwrap_or_else(|| PeriodFigures {
                        start: Some(start),
                        ..Default::default()
                    })
            })
            .collect();
        let mut nodes: Vec<Durations> = self.nodes.values().cloned().collect();
        let median = |d: &Durations| d.hist.percentile(0.5).unwrap_or(0.0);
        nodes.sort_by(|x, y| {
            median(y)
                .total_cmp(&median(x))
                .then_with(|| x.subject.cmp(&y.subject))
        });
        Summary {
            periods,
            nodes,
            people: self.people.values().cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `rows` added up by `period` over days `from..=until`, in one batch.
    fn summarise(rows: &[FigureRow], period: Period, from: NaiveDate, until: NaiveDate) -> Summary {
        let mut tally = Tally::new(period, day_number(from), day_number(until) + 1);
        tally.add(rows);
        tally.summary()
    }

    fn row(day: NaiveDate, figure: &str, subject: &str, n: i64, hist: &str) -> FigureRow {
        FigureRow {
            day: day_number(day),
            business_id: 0,
            service_id: 1,
            figure: figure.into(),
            subject: subject.into(),
            label_en: subject.into(),
            label_zh: String::new(),
            n,
            hist: hist.into(),
        }
    }

    #[test]
    fn rows_add_up_by_period_and_subject_in_any_batches() {
        let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day).unwrap();
        let mut slow = Histogram::new();
        slow.add(7200);
        let mut fast = Histogram::new();
        fast.add(60);
        let rows = vec![
            row(d(11, 30), "filed", "", 2, ""),
            row(d(12, 6), "filed", "", 1, ""),
            row(d(12, 7), "finished", "", 3, ""),
            row(d(12, 7), "qc_successful", "", 2, ""),
            row(d(12, 8), "node", "fast", 1, &fast.encode()),
            row(d(12, 9), "node", "slow", 1, &slow.encode()),
            row(d(12, 10), "node", "fast", 1, &fast.encode()),
            // Outside the range: left out.
            row(d(12, 21), "filed", "", 9, ""),
        ];
        let s = summarise(&rows, Period::Week, d(11, 30), d(12, 13));
        assert_eq!(s.periods.len(), 2);
        assert_eq!(s.periods[0].filed, 3);
        assert_eq!(s.periods[1].finished, 3);
        assert_eq!(s.periods[1].evaluated(), 2);
        assert_eq!(
            s.nodes
                .iter()
                .map(|n| n.subject.as_str())
                .collect::<Vec<_>>(),
            ["slow", "fast"]
        );
        assert_eq!(s.nodes[1].hist.count(), 2);
        // In two batches, or two tallies merged: the same.
        let (from, until) = (day_number(d(11, 30)), day_number(d(12, 13)) + 1);
        let mut batches = Tally::new(Period::Week, from, until);
        batches.add(&rows[..3]);
        batches.add(&rows[3..]);
        assert_eq!(batches.summary(), s);
        let mut merged = Tally::new(Period::Week, from, until);
        merged.add(&rows[5..]);
        let mut first = Tally::new(Period::Week, from, until);
        first.add(&rows[..5]);
        merged.merge(&first);
        assert_eq!(merged.summary(), s);
        let empty = summarise(&[], Period::Month, d(12, 1), d(12, 31));
        assert_eq!(empty.periods.len(), 1);
        assert_eq!(empty.periods[0].lead.percentile(0.5), None);
    }
}
