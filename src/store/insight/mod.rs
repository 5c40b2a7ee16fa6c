//! Change dashboards: what happened to tickets, per day, business and
//! service, and who may see it.
//!
//! A day's figures are computed from the tickets filed that day and the
//! tickets that ended that day (finished, rejected, withdrawn: states a
//! ticket never leaves), so once the day is over they never change. The
//! job runner rolls each day up once it is over (`roll_up`, exactly once
//! across instances: the day's row in `insight_days` is inserted first,
//! `ON CONFLICT DO NOTHING`, in the transaction that writes its figures).
//! A dashboard reads the rolled-up days of its range and computes the
//! rest — today, and any day the runner has not reached — live, with the
//! same function (`compute`), so both give the same numbers.
//!
//! Durations are kept as histograms with fixed log-scale buckets
//! (`flow::figures`): days add up, and percentiles are read from the sum.

use std::collections::{BTreeMap, HashMap};

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::StoreResult;
use crate::db::DbConn;
use crate::db::ids::{ApplyId, ApproveId, BusinessId, ProcessId, ServiceId, UserId};
use crate::db::schema::{
    applies as a, approve_users as au, approves as n, insight_days as days, insight_figures as f,
    role_assignments as ra, roles, services, users,
};
use crate::db::stamp::At;
use crate::db::states::{AssignmentStatus, Channel, ReviewOutcome, StepStatus, TicketStatus};
use crate::flow::NodeKind;
use crate::flow::figures::{Histogram, Period, date_of, day_number};

/// One figure of one day, business (0: none) and service.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Insertable)]
#[diesel(table_name = f)]
pub struct FigureRow {
    pub day: i32,
    pub business_id: i32,
    pub service_id: i32,
    pub figure: String,
    pub subject: String,
    pub label_en: String,
    pub label_zh: String,
    pub n: i64,
    pub hist: String,
}

/// Whose figures a person may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Viewer {
    /// An administrator: every business, and tickets with none.
    All,
    /// Someone holding a role within these businesses: theirs only.
    Businesses(Vec<BusinessId>),
}

impl Viewer {
    pub fn may_see(&self, business: BusinessId) -> bool {
        match self {
            Viewer::All => true,
            Viewer::Businesses(ids) => ids.contains(&business),
        }
    }
}

/// Who `user` may read figures of: everything for an administrator, the
/// businesses they hold a role within for anyone else, nothing (`None`)
/// for someone holding no role within a business.
pub fn viewer(conn: &mut DbConn, user: UserId, is_admin: bool) -> StoreResult<Option<Viewer>> {
    if is_admin {
        return Ok(Some(Viewer::All));
    }
    let mut ids: Vec<BusinessId> = ra::table
        .filter(ra::user_id.eq(user))
        .filter(ra::business_id.is_not_null())
        .select(ra::business_id.assume_not_null())
        .load(conn)?;
    ids.sort();
    ids.dedup();
    Ok((!ids.is_empty()).then_some(Viewer::Businesses(ids)))
}

/// What the reader narrowed the figures to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Filter {
    pub business: Option<BusinessId>,
    pub service: Option<ServiceId>,
    pub process: Option<ProcessId>,
}

/// The businesses (0 standing for none) and services a filter keeps,
/// `None` for all.
struct Scope {
    businesses: Option<Vec<i32>>,
    services: Option<Vec<i32>>,
}

impl Scope {
    fn of(conn: &mut DbConn, viewer: &Viewer, filter: &Filter) -> StoreResult<Scope> {
        let businesses = match (viewer, filter.business) {
            (_, Some(b)) if viewer.may_see(b) => Some(vec![b.0]),
            // A business the reader may not see: nothing.
            (_, Some(_)) => Some(vec![]),
            (Viewer::All, None) => None,
            (Viewer::Businesses(ids), None) => Some(ids.iter().map(|b| b.0).collect()),
        };
        let services = match filter.process {
            Some(p) => {
                let mut of_process: Vec<i32> = services::table
                    .filter(services::process_id.eq(p))
                    .select(services::id)
                    .load::<ServiceId>(conn)?
                    .into_iter()
                    .map(|s| s.0)
                    .collect();
                if let Some(s) = filter.service {
                    of_process.retain(|id| *id == s.0);
                }
                Some(of_process)
            }
            None => filter.service.map(|s| vec![s.0]),
        };
        Ok(Scope {
            businesses,
            services,
        })
    }

    fn keeps(&self, business: i32, service: i32) -> bool {
        self.businesses
            .as_ref()
            .is_none_or(|b| b.contains(&business))
            && self.services.as_ref().is_none_or(|s| s.contains(&service))
    }
}

fn midnight(day: i32) -> NaiveDateTime {
    date_of(day).and_hms_opt(0, 0, 0).expect("midnight")
}

/// Reads ids in chunks small enough for any backend's bound parameters.
const CHUNK: usize = 5_000;

type Ended = (
    ApplyId,
    NaiveDateTime,
    Option<NaiveDateTime>,
    Option<BusinessId>,
    ServiceId,
    TicketStatus,
    Option<ReviewOutcome>,
    Option<NaiveDateTime>,
    Option<NaiveDateTime>,
);

type Step = (
    ApproveId,
    ApplyId,
    String,
    String,
    String,
    NodeKind,
    Option<NaiveDateTime>,
    Option<NaiveDateTime>,
    Option<NaiveDateTime>,
    Option<NaiveDateTime>,
);

/// The figures of days `from..until` (day numbers), every business and
/// service, computed from the tickets themselves.
pub fn compute(conn: &mut DbConn, from: i32, until: i32) -> StoreResult<Vec<FigureRow>> {
    #[derive(Default)]
    struct Cell {
        label: (String, String),
        n: i64,
        hist: Option<Histogram>,
    }
    let mut cells: BTreeMap<(i32, i32, i32, &'static str, String), Cell> = BTreeMap::new();
    let mut count = |key: (i32, i32, i32, &'static str, String)| {
        cells.entry(key).or_default().n += 1;
    };
    if until <= from {
        return Ok(Vec::new());
    }
    let (start, end) = (At(midnight(from)), At(midnight(until)));
    let business = |b: Option<BusinessId>| b.map_or(0, |b| b.0);

    let filed: Vec<(NaiveDateTime, Option<BusinessId>, ServiceId)> = a::table
        .filter(a::created_at.ge(start))
        .filter(a::created_at.lt(end))
        .select((a::created_at, a::business_id, a::service_id))
        .load(conn)?;
    for (at, b, s) in filed {
        count((
            day_number(at.date()),
            business(b),
            s.0,
            "filed",
            String::new(),
        ));
    }

    let ended: Vec<Ended> = a::table
        .filter(a::finished_at.ge(start))
        .filter(a::finished_at.lt(end))
        .filter(
            a::status
                .eq(TicketStatus::Finished)
                .or(a::status.eq(TicketStatus::Rejected))
                .or(a::status.eq(TicketStatus::Withdrawn)),
        )
        .select((
            a::id,
            a::created_at,
            a::finished_at,
            a::business_id,
            a::service_id,
            a::status,
            a::outcome,
            a::due_at,
            a::overdue_at,
        ))
        .load(conn)?;
    // Each ended ticket's day, business and service, for its steps.
    let mut place: HashMap<ApplyId, (i32, i32, i32)> = HashMap::with_capacity(ended.len());
    let mut cells_hist = Vec::new();
    for (id, created, finished, b, s, status, outcome, due, overdue) in &ended {
        let Some(finished) = *finished else { continue };
        let key = (day_number(finished.date()), business(*b), s.0);
        place.insert(*id, key);
        let figure = match status {
            TicketStatus::Finished => "finished",
            TicketStatus::Rejected => "rejected",
            _ => "withdrawn",
        };
        count((key.0, key.1, key.2, figure, String::new()));
        if *status == TicketStatus::Finished {
            if let Some(o) = outcome {
                let figure = match o {
                    ReviewOutcome::Successful => "qc_successful",
                    ReviewOutcome::WithIssues => "qc_with_issues",
                    ReviewOutcome::Unsuccessful => "qc_unsuccessful",
                };
                count((key.0, key.1, key.2, figure, String::new()));
            }
            cells_hist.push((
                (key.0, key.1, key.2, "lead", String::new()),
                (finished - *created).num_seconds(),
                (String::new(), String::new()),
            ));
        }
        if let Some(due) = due
            && (overdue.is_some() || finished > *due)
        {
            count((key.0, key.1, key.2, "breach", String::new()));
        }
    }

    let ids: Vec<ApplyId> = place.keys().copied().collect();
    let mut started: HashMap<ApproveId, NaiveDateTime> = HashMap::new();
    for chunk in ids.chunks(CHUNK) {
        let steps: Vec<Step> = n::table
            .filter(n::apply_id.eq_any(chunk))
            .filter(n::started_at.is_not_null())
            .select((
                n::id,
                n::apply_id,
                n::node_key,
                n::name_en,
                n::name_zh,
                n::kind,
                n::started_at,
                n::decided_at,
                n::due_at,
                n::overdue_at,
            ))
            .load(conn)?;
        for (id, apply, key, en, zh, kind, start, decided, due, overdue) in steps {
            let (Some(&(day, b, s)), Some(start)) = (place.get(&apply), start) else {
                continue;
            };
            started.insert(id, start);
            if let Some(due) = due
                && (overdue.is_some() || decided.is_some_and(|d| d > due))
            {
                count((day, b, s, "breach", String::new()));
            }
            if let (Some(decided), false) = (decided, kind == NodeKind::Submit) {
                cells_hist.push((
                    (day, b, s, "node", key),
                    (decided - start).num_seconds(),
                    (en, zh),
                ));
            }
        }
        let votes: Vec<(
            ApproveId,
            ApplyId,
            UserId,
            NaiveDateTime,
            Option<NaiveDateTime>,
        )> = au::table
            .filter(au::apply_id.eq_any(chunk))
            .filter(au::status.eq(AssignmentStatus::Decided))
            .filter(au::channel.ne(Channel::Timer))
            .filter(au::channel.ne(Channel::System))
            .select((
                au::approve_id,
                au::apply_id,
                au::user_id,
                au::created_at,
                au::decided_at,
            ))
            .load(conn)?;
        for (step, apply, user, created, decided) in votes {
            let (Some(&(day, b, s)), Some(decided)) = (place.get(&apply), decided) else {
                continue;
            };
            // Asked when the step started, or when added to it later.
            let asked = started.get(&step).map_or(created, |st| created.max(*st));
            cells_hist.push((
                (day, b, s, "person", user.0.to_string()),
                (decided - asked).num_seconds(),
                (String::new(), String::new()),
            ));
        }
    }
    for (key, secs, label) in cells_hist {
        let cell = cells.entry(key).or_default();
        cell.n += 1;
        cell.hist.get_or_insert_with(Histogram::new).add(secs);
        if cell.label.0.is_empty() {
            cell.label = label;
        }
    }
    Ok(cells
        .into_iter()
        .map(|((day, b, s, figure, subject), cell)| FigureRow {
            day,
            business_id: b,
            service_id: s,
            figure: figure.to_string(),
            subject,
            label_en: cell.label.0,
            label_zh: cell.label.1,
            n: cell.n,
            hist: cell.hist.map(|h| h.encode()).unwrap_or_default(),
        })
        .collect())
}

/// The last day rolled up, if any.
pub fn rolled_through(conn: &mut DbConn) -> StoreResult<Option<i32>> {
    Ok(days::table
        .select(diesel::dsl::max(days::day))
        .first::<Option<i32>>(conn)?)
}

/// How long after its end a day is rolled up: by then no transaction
/// that stamped a ticket with it is still running.
const SETTLED: chrono::Duration = chrono::Duration::minutes(5);

/// The first day not yet settled (the current one, for five minutes
/// after midnight the one before).
fn unsettled() -> i32 {
    day_number((super::now() - SETTLED).date())
}

/// The next day to roll up: the day after the last one rolled up (or the
/// first ticket's day), if it is over and settled by now.
pub fn next_to_roll(conn: &mut DbConn) -> StoreResult<Option<i32>> {
    let today = unsettled();
    let next = match rolled_through(conn)? {
        Some(day) => day + 1,
        None => {
            let first: Option<NaiveDateTime> = a::table
                .select(diesel::dsl::min(a::created_at))
                .first(conn)?;
            match first {
                Some(at) => day_number(at.date()),
                None => return Ok(None),
            }
        }
    };
    Ok((next < today).then_some(next))
}

/// Writes `rows`, the figures of `day` (`compute`, read beforehand: an
/// ended day never changes, so the SQLite writer only writes), unless
/// some runner already has: whether this one did. The day's row is
/// inserted first; a runner racing this one waits for it (PostgreSQL) or
/// comes after it (SQLite's one writer), finds the row and writes nothing.
pub fn roll_up(conn: &mut DbConn, day: i32, rows: &[FigureRow]) -> StoreResult<bool> {
    if day >= unsettled() {
        return Ok(false);
    }
    let at = At(super::now());
    let claimed = crate::direct!(conn, |c| diesel::insert_into(days::table)
        .values((days::day.eq(day), days::rolled_at.eq(at)))
        .on_conflict_do_nothing()
        .execute(c))?;
    if claimed == 0 {
        return Ok(false);
    }
    for chunk in rows.chunks(500) {
        crate::direct!(conn, |c| diesel::insert_into(f::table)
            .values(chunk)
            .execute(c))?;
    }
    Ok(true)
}

/// The rolled-up part of a dashboard: its rows added up per period,
/// kept while the database, scope, period and days are the same (rolled
/// days never change; a newly rolled day makes a new key).
type RolledKey = (u64, Option<Vec<i32>>, Option<Vec<i32>>, Period, i32, i32);

type Rolled = HashMap<RolledKey, std::sync::Arc<Vec<FigureRow>>>;

static ROLLED: std::sync::Mutex<Option<Rolled>> = std::sync::Mutex::new(None);

/// Dashboards kept at once; beyond it the cache starts afresh.
const ROLLED_KEPT: usize = 256;

/// The figures of days `from..until` that `viewer` may read and `filter`
/// keeps, for a dashboard by `period`: rolled-up days from their rows,
/// added up per period (one row per period, figure and subject, dated
/// at the period's start or `from`, whichever is later; business and
/// service 0) and kept in memory; the rest computed now, as they are.
pub fn figures(
    conn: &mut DbConn,
    viewer: &Viewer,
    filter: &Filter,
    period: Period,
    from: i32,
    until: i32,
) -> StoreResult<Vec<FigureRow>> {
    let scope = Scope::of(conn, viewer, filter)?;
    if until <= from || scope.businesses.as_ref().is_some_and(Vec::is_empty) {
        return Ok(Vec::new());
    }
    let live_from = rolled_through(conn)?.map_or(from, |d| (d + 1).clamp(from, until));
    let mut rows = Vec::new();
    if live_from > from {
        let key: RolledKey = (
            crate::db::unit_of().unwrap_or(0),
            scope.businesses.clone(),
            scope.services.clone(),
            period,
            from,
            live_from,
        );
        let kept = ROLLED
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .and_then(|m| m.get(&key).cloned());
        let rolled = match kept {
            Some(rolled) => rolled,
            None => {
                let rolled = std::sync::Arc::new(per_period(
                    &rolled_rows(conn, &scope, from, live_from)?,
                    period,
                    from,
                ));
                let mut cache = ROLLED.lock().unwrap_or_else(|p| p.into_inner());
                let map = cache.get_or_insert_with(HashMap::new);
                if map.len() >= ROLLED_KEPT {
                    map.clear();
                }
                map.insert(key, rolled.clone());
                rolled
            }
        };
        rows.extend(rolled.iter().cloned());
    }
    rows.extend(
        compute(conn, live_from, until)?
            .into_iter()
            .filter(|r| scope.keeps(r.business_id, r.service_id)),
    );
    Ok(rows)
}

/// The stored rows of days `from..until` in `scope`.
fn rolled_rows(
    conn: &mut DbConn,
    scope: &Scope,
    from: i32,
    until: i32,
) -> StoreResult<Vec<FigureRow>> {
    let mut q = f::table
        .filter(f::day.ge(from))
        .filter(f::day.lt(until))
        .into_boxed();
    if let Some(b) = &scope.businesses {
        q = q.filter(f::business_id.eq_any(b.clone()));
    }
    if let Some(s) = &scope.services {
        q = q.filter(f::service_id.eq_any(s.clone()));
    }
    Ok(q.select((
        f::day,
        f::business_id,
        f::service_id,
        f::figure,
        f::subject,
        f::label_en,
        f::label_zh,
        f::n,
        f::hist,
    ))
    .load::<FigureRow>(conn)?)
}

/// `rows` added up per period, figure and subject (pure): each sum dated
/// at its period's start, or `from` when the period starts earlier.
pub fn per_period(rows: &[FigureRow], period: Period, from: i32) -> Vec<FigureRow> {
    let mut sums: BTreeMap<(i32, &str, &str), (FigureRow, Option<Histogram>)> = BTreeMap::new();
    for r in rows {
        let day = day_number(period.start(date_of(r.day))).max(from);
        let (sum, hist) = sums
            .entry((day, r.figure.as_str(), r.subject.as_str()))
            .or_insert_with(|| {
                (
                    FigureRow {
                        day,
                        business_id: 0,
                        service_id: 0,
                        n: 0,
                        hist: String::new(),
                        ..r.clone()
                    },
                    None,
                )
            });
        sum.n += r.n;
        if !r.hist.is_empty() {
            hist.get_or_insert_with(Histogram::new)
                .merge(&Histogram::decode(&r.hist));
        }
    }
    sums.into_values()
        .map(|(mut sum, hist)| {
            if let Some(h) = hist {
                sum.hist = h.encode();
            }
            sum
        })
        .collect()
}

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

/// Adds `rows` up by `period` over days `from..=until`: pure.
pub fn summarise(rows: &[FigureRow], period: Period, from: NaiveDate, until: NaiveDate) -> Summary {
    let starts = period.between(from, until);
    let mut periods: Vec<PeriodFigures> = starts
        .iter()
        .map(|s| PeriodFigures {
            start: Some(*s),
            ..Default::default()
        })
        .collect();
    let mut nodes: BTreeMap<String, Durations> = BTreeMap::new();
    let mut people: BTreeMap<String, Durations> = BTreeMap::new();
    for r in rows {
        let date = date_of(r.day);
        if date < from || date > until {
            continue;
        }
        let Some(p) = period.index_of(&starts, date).map(|i| &mut periods[i]) else {
            continue;
        };
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
                    &mut nodes
                } else {
                    &mut people
                };
                let d = into.entry(r.subject.clone()).or_insert_with(|| Durations {
                    subject: r.subject.clone(),
                    label: (r.label_en.clone(), r.label_zh.clone()),
                    hist: Histogram::new(),
                });
                d.hist.merge(&Histogram::decode(&r.hist));
            }
            _ => {}
        }
    }
    let mut nodes: Vec<Durations> = nodes.into_values().collect();
    nodes.sort_by(|x, y| {
        let p = |d: &Durations| d.hist.percentile(0.5).unwrap_or(0.0);
        p(y).total_cmp(&p(x))
            .then_with(|| x.subject.cmp(&y.subject))
    });
    Summary {
        periods,
        nodes,
        people: people.into_values().collect(),
    }
}

/// A person's name and the roles they hold (English, Chinese), for the
/// approvers' table: roles within the businesses `viewer` sees, or held
/// everywhere.
#[derive(Debug, Clone)]
pub struct Approver {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub roles: Vec<(String, String)>,
}

/// The people `ids` name, with their roles.
pub fn approvers(conn: &mut DbConn, viewer: &Viewer, ids: &[UserId]) -> StoreResult<Vec<Approver>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(CHUNK) {
        let people: Vec<(UserId, String, String)> = users::table
            .filter(users::id.eq_any(chunk))
            .select((users::id, users::username, users::display_name))
            .load(conn)?;
        let held: Vec<(UserId, Option<BusinessId>, String, String)> = ra::table
            .inner_join(roles::table)
            .filter(ra::user_id.eq_any(chunk))
            .select((ra::user_id, ra::business_id, roles::name_en, roles::name_zh))
            .load(conn)?;
        for (id, username, display_name) in people {
            let mut roles: Vec<(String, String)> = held
                .iter()
                .filter(|(u, b, ..)| *u == id && b.is_none_or(|b| viewer.may_see(b)))
                .map(|(_, _, en, zh)| (en.clone(), zh.clone()))
                .collect();
            roles.sort();
            roles.dedup();
            out.push(Approver {
                id,
                username,
                display_name,
                roles,
            });
        }
    }
    Ok(out)
}

/// A step waiting now for someone.
#[derive(Debug, Clone, Queryable)]
pub struct Waiting {
    pub apply: ApplyId,
    pub serial: String,
    pub title: String,
    pub node_en: String,
    pub node_zh: String,
    pub username: String,
    pub display_name: String,
    pub since: Option<NaiveDateTime>,
}

/// The `limit` steps that have waited longest for someone, of running
/// tickets `viewer` may read and `filter` keeps, oldest first.
pub fn oldest_waiting(
    conn: &mut DbConn,
    viewer: &Viewer,
    filter: &Filter,
    limit: i64,
) -> StoreResult<Vec<Waiting>> {
    let scope = Scope::of(conn, viewer, filter)?;
    let mut q = au::table
        .inner_join(n::table)
        .inner_join(a::table)
        .inner_join(users::table.on(users::id.eq(au::user_id)))
        .filter(a::status.eq(TicketStatus::Running))
        .filter(n::status.eq(StepStatus::Active))
        .filter(au::status.eq(AssignmentStatus::Pending))
        .into_boxed();
    if let Some(b) = scope.businesses {
        // 0 stands for none, which only administrators see.
        let ids: Vec<BusinessId> = b.into_iter().map(BusinessId).collect();
        q = q.filter(a::business_id.eq_any(ids));
    }
    if let Some(s) = scope.services {
        let ids: Vec<ServiceId> = s.into_iter().map(ServiceId).collect();
        q = q.filter(a::service_id.eq_any(ids));
    }
    Ok(q.order((n::started_at.asc(), au::id.asc()))
        .limit(limit)
        .select((
            a::id,
            a::serial,
            a::title,
            n::name_en,
            n::name_zh,
            users::username,
            users::display_name,
            n::started_at,
        ))
        .load(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn rows_add_up_by_period_and_subject() {
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
        // Added up per week first, the figures are the same.
        let from = day_number(d(12, 2));
        let kept: Vec<FigureRow> = rows.iter().filter(|r| r.day >= from).cloned().collect();
        let compact = per_period(&kept, Period::Week, from);
        assert!(compact.len() < kept.len());
        assert_eq!(
            summarise(&compact, Period::Week, d(12, 2), d(12, 13)),
            summarise(&kept, Period::Week, d(12, 2), d(12, 13))
        );
        let empty = summarise(&[], Period::Month, d(12, 1), d(12, 31));
        assert_eq!(empty.periods.len(), 1);
        assert_eq!(empty.periods[0].lead.percentile(0.5), None);
    }
}
