//! Change dashboards (`/insight`): volume, QC success rate, lead time,
//! the steps tickets wait on longest, approvers' response times,
//! deadline breaches and what waits longest now — for administrators
//! (everything) and people holding a role within a business (theirs).
//! Each chart is drawn on the server (`web::chart`) beside its numbers as
//! a table, and each table downloads as CSV with the same filters
//! (`/insight/<table>.csv`).

use std::collections::BTreeMap;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{Duration, NaiveDate};
use serde::Deserialize;

use super::admin::tickets::cell;
use super::chart::{self, Chart, Series};
use super::ctx::Ctx;
use super::forms::SelectOption;
use super::{AppError, AppState, render};
use crate::db::ids::{BusinessId, ProcessId, ServiceId};
use crate::flow::figures::{Histogram, Period, day_number};
use crate::i18n::Lang;
use crate::store::insight::{self, Approver, Filter, Summary, Waiting};

/// The query as typed; what does not parse is left at its default.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct Query {
    #[serde(default)]
    pub period: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub until: String,
    #[serde(default)]
    pub business: String,
    #[serde(default)]
    pub service: String,
    #[serde(default)]
    pub process: String,
}

/// The longest range read at once (days).
const MAX_DAYS: i64 = 3 * 366;

/// Steps listed as waiting longest.
const WAITING: i64 = 20;

/// A query read: the period, the days `from..=until` and the filter.
#[derive(Debug, Clone)]
struct Asked {
    period: Period,
    from: NaiveDate,
    until: NaiveDate,
    filter: Filter,
}

impl Query {
    /// Reads the query against `today`: by default the last 12 weeks
    /// (this one included), by week.
    fn read(&self, today: NaiveDate) -> Asked {
        let date = |s: &str| NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok();
        let period = Period::parse(self.period.trim()).unwrap_or(Period::Week);
        let until = date(&self.until).unwrap_or(today);
        let from = date(&self.from)
            .unwrap_or_else(|| Period::Week.start(until) - Duration::weeks(11))
            .max(until - Duration::days(MAX_DAYS));
        let id = |s: &str| s.trim().parse::<i32>().ok();
        Asked {
            period,
            from,
            until,
            filter: Filter {
                business: id(&self.business).map(BusinessId),
                service: id(&self.service).map(ServiceId),
                process: id(&self.process).map(ProcessId),
            },
        }
    }

    fn query_string(&self) -> String {
        serde_html_form::to_string([
            ("period", &self.period),
            ("from", &self.from),
            ("until", &self.until),
            ("business", &self.business),
            ("service", &self.service),
            ("process", &self.process),
        ])
        .unwrap_or_default()
    }
}

/// Everything one dashboard reads, in one unit of work.
struct Read {
    summary: Summary,
    approvers: Vec<Approver>,
    waiting: Vec<Waiting>,
    businesses: Vec<SelectOption>,
    services: Vec<SelectOption>,
    processes: Vec<SelectOption>,
}

async fn read(ctx: &Ctx, state: &AppState, asked: &Asked) -> Result<Read, AppError> {
    let user = ctx.require_user()?;
    let (me, admin, lang) = (user.id, user.is_admin, ctx.lang);
    let asked = asked.clone();
    let read = state
        .db
        .read(move |c| {
            let Some(viewer) = insight::viewer(c, me, admin)? else {
                return Ok(None);
            };
            let (from, until) = (day_number(asked.from), day_number(asked.until) + 1);
            let summary = insight::summary(c, &viewer, &asked.filter, asked.period, from, until)?;
            let mut people: Vec<crate::db::ids::UserId> = summary
                .people
                .iter()
                .filter_map(|d| d.subject.parse().ok().map(crate::db::ids::UserId))
                .collect();
            people.sort();
            people.dedup();
            let approvers = insight::approvers(c, &viewer, &people)?;
            let waiting = insight::oldest_waiting(c, &viewer, &asked.filter, WAITING)?;
            let businesses = crate::store::businesses::list(c)?
                .into_iter()
                .filter(|b| viewer.may_see(b.id))
                .map(|b| SelectOption::new(b.id, b.name))
                .collect();
            let listed = crate::store::services::list(c, true)?;
            let mut processes: BTreeMap<i32, SelectOption> = BTreeMap::new();
            let services = listed
                .iter()
                .map(|r| {
                    let (en, zh) = &r.process_name;
                    let name = if lang == Lang::ZhCn && !zh.is_empty() {
                        zh
                    } else {
                        en
                    };
                    processes
                        .entry(r.service.process_id.0)
                        .or_insert_with(|| SelectOption::new(r.service.process_id, name));
                    SelectOption::new(r.service.id, r.service.name(&lang))
                })
                .collect();
            Ok(Some(Read {
                summary,
                approvers,
                waiting,
                businesses,
                services,
                processes: processes.into_values().collect(),
            }))
        })
        .await?;
    read.ok_or(AppError::Forbidden)
}

/// One table of figures, its chart drawn beside it.
pub struct Table {
    pub key: &'static str,
    pub title: String,
    pub desc: String,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// The chart, as SVG.
    pub chart: Option<String>,
    /// Where each row's first cell links to, if anywhere.
    pub links: Vec<Option<String>>,
}

impl Table {
    pub fn link(&self, row: &usize) -> Option<&str> {
        self.links.get(*row).and_then(|l| l.as_deref())
    }
}

/// Hours, to one decimal.
fn hours(secs: f64) -> String {
    format!("{:.1}", secs / 3600.0)
}

fn percentiles(h: &Histogram) -> (String, String) {
    (
        h.percentile(0.5).map(hours).unwrap_or_default(),
        h.percentile(0.9).map(hours).unwrap_or_default(),
    )
}

fn percent(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| (part as f64 * 1000.0 / whole as f64).round() / 10.0)
}

fn shown(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.1}")).unwrap_or_default()
}

fn in_lang(lang: Lang, (en, zh): &(String, String)) -> String {
    if lang == Lang::ZhCn && !zh.is_empty() {
        zh.clone()
    } else {
        en.clone()
    }
}

/// Every table of the dashboard, in the reader's language.
fn tables(lang: Lang, asked: &Asked, read: &Read, now: chrono::NaiveDateTime) -> Vec<Table> {
    let t = |k: &str| lang.t(&format!("insight.{k}")).into_owned();
    let s = &read.summary;
    let labels: Vec<String> = s
        .periods
        .iter()
        .filter_map(|p| p.start.map(|d| asked.period.label(d)))
        .collect();
    let by_period = |f: &dyn Fn(&insight::PeriodFigures) -> Option<f64>| -> Vec<Option<f64>> {
        s.periods.iter().map(f).collect()
    };
    let series = |name: &str, values: Vec<Option<f64>>| Series {
        name: t(name),
        values,
    };
    let draw = |key: &str, y: &str, series: Vec<Series>, labels: Vec<String>, bars: bool| {
        let c = Chart {
            id: format!("chart-{key}"),
            title: t(key),
            desc: t(&format!("{key}_desc")),
            y_label: t(y),
            labels,
            series,
        };
        Some(if bars {
            chart::bars(&c)
        } else {
            chart::lines(&c)
        })
    };
    let mut out = Vec::new();

    let count = |v: i64| Some(v as f64);
    out.push(Table {
        key: "volume",
        title: t("volume"),
        desc: t("volume_desc"),
        headers: [
            "col_period",
            "col_filed",
            "col_finished",
            "col_rejected",
            "col_withdrawn",
        ]
        .iter()
        .map(|h| t(h))
        .collect(),
        rows: s
            .periods
            .iter()
            .zip(&labels)
            .map(|(p, l)| {
                vec![
                    l.clone(),
                    p.filed.to_string(),
                    p.finished.to_string(),
                    p.rejected.to_string(),
                    p.withdrawn.to_string(),
                ]
            })
            .collect(),
        chart: draw(
            "volume",
            "tickets_unit",
            vec![
                series("col_filed", by_period(&|p| count(p.filed))),
                series("col_finished", by_period(&|p| count(p.finished))),
                series("col_rejected", by_period(&|p| count(p.rejected))),
                series("col_withdrawn", by_period(&|p| count(p.withdrawn))),
            ],
            labels.clone(),
            true,
        ),
        links: Vec::new(),
    });

    out.push(Table {
        key: "success",
        title: t("success"),
        desc: t("success_desc"),
        headers: [
            "col_period",
            "col_finished",
            "col_evaluated",
            "col_successful",
            "col_with_issues",
            "col_unsuccessful",
            "col_success_rate",
            "col_qc_share",
        ]
        .iter()
        .map(|h| t(h))
        .collect(),
        rows: s
            .periods
            .iter()
            .zip(&labels)
            .map(|(p, l)| {
                vec![
                    l.clone(),
                    p.finished.to_string(),
                    p.evaluated().to_string(),
                    p.successful.to_string(),
                    p.with_issues.to_string(),
                    p.unsuccessful.to_string(),
                    shown(percent(p.successful, p.evaluated())),
                    shown(percent(p.evaluated(), p.finished)),
                ]
            })
            .collect(),
        chart: draw(
            "success",
            "percent_unit",
            vec![
                series(
                    "col_success_rate",
                    by_period(&|p| percent(p.successful, p.evaluated())),
                ),
                series(
                    "col_qc_share",
                    by_period(&|p| percent(p.evaluated(), p.finished)),
                ),
            ],
            labels.clone(),
            false,
        ),
        links: Vec::new(),
    });

    let to_hours = |v: Option<f64>| v.map(|s| (s / 360.0).round() / 10.0);
    out.push(Table {
        key: "lead",
        title: t("lead"),
        desc: t("lead_desc"),
        headers: ["col_period", "col_count", "col_p50", "col_p90"]
            .iter()
            .map(|h| t(h))
            .collect(),
        rows: s
            .periods
            .iter()
            .zip(&labels)
            .map(|(p, l)| {
                let (p50, p90) = percentiles(&p.lead);
                vec![l.clone(), p.lead.count().to_string(), p50, p90]
            })
            .collect(),
        chart: draw(
            "lead",
            "hours_unit",
            vec![
                series("col_p50", by_period(&|p| to_hours(p.lead.percentile(0.5)))),
                series("col_p90", by_period(&|p| to_hours(p.lead.percentile(0.9)))),
            ],
            labels.clone(),
            false,
        ),
        links: Vec::new(),
    });

    out.push(Table {
        key: "steps",
        title: t("steps"),
        desc: t("steps_desc"),
        headers: ["col_step", "col_count", "col_p50", "col_p90"]
            .iter()
            .map(|h| t(h))
            .collect(),
        rows: s
            .nodes
            .iter()
            .map(|d| {
                let (p50, p90) = percentiles(&d.hist);
                let name = in_lang(lang, &d.label);
                vec![name, d.hist.count().to_string(), p50, p90]
            })
            .collect(),
        chart: (!s.nodes.is_empty())
            .then(|| {
                draw(
                    "steps",
                    "hours_unit",
                    vec![
                        series(
                            "col_p50",
                            s.nodes
                                .iter()
                                .map(|d| to_hours(d.hist.percentile(0.5)))
                                .collect(),
                        ),
                        series(
                            "col_p90",
                            s.nodes
                                .iter()
                                .map(|d| to_hours(d.hist.percentile(0.9)))
                                .collect(),
                        ),
                    ],
                    s.nodes.iter().map(|d| in_lang(lang, &d.label)).collect(),
                    true,
                )
            })
            .flatten(),
        links: Vec::new(),
    });

    // People by their median response, slowest first; their roles' sums.
    let mut people: Vec<(&Approver, &Histogram)> = s
        .people
        .iter()
        .filter_map(|d| {
            let id: i32 = d.subject.parse().ok()?;
            let who = read.approvers.iter().find(|a| a.id.0 == id)?;
            Some((who, &d.hist))
        })
        .collect();
    let median = |h: &Histogram| h.percentile(0.5).unwrap_or(0.0);
    people.sort_by(|x, y| {
        median(y.1)
            .total_cmp(&median(x.1))
            .then_with(|| x.0.username.cmp(&y.0.username))
    });
    let mut roles: BTreeMap<String, Histogram> = BTreeMap::new();
    for (who, h) in &people {
        for role in &who.roles {
            roles.entry(in_lang(lang, role)).or_default().merge(h);
        }
    }
    out.push(Table {
        key: "approvers",
        title: t("approvers"),
        desc: t("approvers_desc"),
        headers: ["col_person", "col_roles", "col_count", "col_p50", "col_p90"]
            .iter()
            .map(|h| t(h))
            .collect(),
        rows: people
            .iter()
            .map(|(who, h)| {
                let (p50, p90) = percentiles(h);
                vec![
                    crate::store::names::person_text(lang, &who.display_name, &who.username),
                    who.roles
                        .iter()
                        .map(|r| in_lang(lang, r))
                        .collect::<Vec<_>>()
                        .join(", "),
                    h.count().to_string(),
                    p50,
                    p90,
                ]
            })
            .collect(),
        chart: None,
        links: Vec::new(),
    });
    out.push(Table {
        key: "roles",
        title: t("roles"),
        desc: t("roles_desc"),
        headers: ["col_role", "col_count", "col_p50", "col_p90"]
            .iter()
            .map(|h| t(h))
            .collect(),
        rows: roles
            .iter()
            .map(|(role, h)| {
                let (p50, p90) = percentiles(h);
                vec![role.clone(), h.count().to_string(), p50, p90]
            })
            .collect(),
        chart: None,
        links: Vec::new(),
    });

    out.push(Table {
        key: "breaches",
        title: t("breaches"),
        desc: t("breaches_desc"),
        headers: ["col_period", "col_breaches"]
            .iter()
            .map(|h| t(h))
            .collect(),
        rows: s
            .periods
            .iter()
            .zip(&labels)
            .map(|(p, l)| vec![l.clone(), p.breaches.to_string()])
            .collect(),
        chart: draw(
            "breaches",
            "steps_unit",
            vec![series("col_breaches", by_period(&|p| count(p.breaches)))],
            labels.clone(),
            true,
        ),
        links: Vec::new(),
    });

    out.push(Table {
        key: "waiting",
        title: t("waiting"),
        desc: t("waiting_desc"),
        headers: [
            "col_ticket",
            "col_title",
            "col_step",
            "col_who",
            "col_since",
            "col_waited",
        ]
        .iter()
        .map(|h| t(h))
        .collect(),
        rows: read
            .waiting
            .iter()
            .map(|w| {
                vec![
                    w.serial.clone(),
                    w.title.clone(),
                    in_lang(lang, &(w.node_en.clone(), w.node_zh.clone())),
                    crate::store::names::person_text(lang, &w.display_name, &w.username),
                    w.since
                        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                        .unwrap_or_default(),
                    w.since
                        .map(|t| hours((now - t).num_seconds().max(0) as f64))
                        .unwrap_or_default(),
                ]
            })
            .collect(),
        chart: None,
        links: read
            .waiting
            .iter()
            .map(|w| Some(format!("/tickets/{}", w.apply.0)))
            .collect(),
    });
    out
}

#[derive(Template)]
#[template(path = "insight.html")]
struct Page {
    ctx: Ctx,
    query: Query,
    /// The range as read, for the form.
    from: String,
    until: String,
    period: &'static str,
    periods: Vec<SelectOption>,
    businesses: Vec<SelectOption>,
    services: Vec<SelectOption>,
    processes: Vec<SelectOption>,
    tables: Vec<Table>,
    /// The query string each CSV link carries.
    qs: String,
}

pub async fn show(
    ctx: Ctx,
    state: web::Data<AppState>,
    query: web::Query<Query>,
) -> Result<HttpResponse, AppError> {
    let query = query.into_inner();
    let asked = query.read(state.db.now().date());
    let read = read(&ctx, &state, &asked).await?;
    let tables = tables(ctx.lang, &asked, &read, state.db.now());
    let periods = [Period::Week, Period::Month]
        .iter()
        .map(|p| SelectOption::new(p.as_str(), ctx.t(&format!("insight.{}", p.as_str()))))
        .collect();
    // The form shows the range as read, so the CSV links carry it too.
    let mut carried = query.clone();
    carried.period = asked.period.as_str().to_string();
    carried.from = asked.from.to_string();
    carried.until = asked.until.to_string();
    render(&Page {
        qs: carried.query_string(),
        from: carried.from.clone(),
        until: carried.until.clone(),
        period: asked.period.as_str(),
        periods,
        businesses: read.businesses,
        services: read.services,
        processes: read.processes,
        tables,
        query,
        ctx,
    })
}

/// One table as CSV: a byte-order mark (so spreadsheets read UTF-8), a
/// header row in the reader's language, every cell quoted as needed.
pub async fn csv(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<Query>,
) -> Result<HttpResponse, AppError> {
    let key = path.into_inner();
    let asked = query.into_inner().read(state.db.now().date());
    let read = read(&ctx, &state, &asked).await?;
    let Some(table) = tables(ctx.lang, &asked, &read, state.db.now())
        .into_iter()
        .find(|t| t.key == key)
    else {
        return Err(AppError::NotFound);
    };
    let mut out = String::from("\u{feff}");
    for line in std::iter::once(&table.headers).chain(&table.rows) {
        out.push_str(&line.iter().map(|c| cell(c)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}.csv\"", table.key),
        ))
        .body(out))
}
