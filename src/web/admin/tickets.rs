//! Admin: every ticket, filtered by service, status, business, applicant
//! and date range, and the same list as CSV.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{Duration, NaiveDate};
use serde::Deserialize;

use crate::db::ids::{BusinessId, ServiceId};
use crate::domain::Username;
use crate::store::ticket_views::{self, ListedTicket, Search};
use crate::store::users;
use crate::web::ctx::Ctx;
use crate::web::forms::SelectOption;
use crate::web::{AppError, AppState, render};

/// The filter as typed; unparsable values filter nothing out.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct Filter {
    #[serde(default)]
    pub service: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub business: String,
    #[serde(default)]
    pub applicant: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub until: String,
}

impl Filter {
    fn query_string(&self) -> String {
        serde_html_form::to_string([
            ("service", &self.service),
            ("status", &self.status),
            ("business", &self.business),
            ("applicant", &self.applicant),
            ("from", &self.from),
            ("until", &self.until),
        ])
        .unwrap_or_default()
    }
}

pub const STATUSES: [&str; 5] = ["running", "finished", "rejected", "withdrawn", "sent_back"];

impl Filter {
    /// The search the filter asks for, and the applicant it names (looked
    /// up by `search_for`).
    pub fn search(&self) -> (Search, Option<Username>) {
        let filter = self;
        let date = |s: &str| NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok();
        let search = Search {
            service: filter.service.trim().parse().ok().map(ServiceId),
            status: STATUSES
                .iter()
                .find(|s| **s == filter.status.trim())
                .map(|s| s.to_string()),
            business: filter.business.trim().parse().ok().map(BusinessId),
            applicant: None,
            from: date(&filter.from).and_then(|d| d.and_hms_opt(0, 0, 0)),
            // "Until" includes that whole day.
            until: date(&filter.until)
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t + Duration::days(1)),
            before: None,
        };
        (search, Username::parse(&filter.applicant).ok())
    }
}

/// The tickets `search` finds, its applicant looked up by username (an
/// unknown one matches nobody).
pub fn search_for(
    c: &mut crate::db::DbConn,
    mut search: Search,
    applicant: Option<Username>,
    limit: i64,
) -> crate::store::StoreResult<Vec<ListedTicket>> {
    if let Some(u) = applicant {
        search.applicant = Some(users::active_id(c, &u)?.unwrap_or(crate::db::ids::UserId(0)));
    }
    ticket_views::search(c, &search, limit)
}

async fn find(
    state: &AppState,
    filter: &Filter,
    limit: i64,
) -> Result<Vec<ListedTicket>, AppError> {
    let (search, applicant) = filter.search();
    Ok(state
        .db
        .read(move |c| search_for(c, search, applicant, limit))
        .await?)
}

#[derive(Template)]
#[template(path = "admin/tickets.html")]
struct ListPage {
    ctx: Ctx,
    rows: Vec<ListedTicket>,
    filter: Filter,
    services: Vec<SelectOption>,
    businesses: Vec<SelectOption>,
    csv: String,
}

impl ListPage {
    fn statuses(&self) -> Vec<SelectOption> {
        STATUSES
            .iter()
            .map(|s| SelectOption::new(s, self.ctx.t(&format!("ticket_status.{s}"))))
            .collect()
    }
}

pub async fn list(
    ctx: Ctx,
    state: web::Data<AppState>,
    query: web::Query<Filter>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let filter = query.into_inner();
    let rows = find(&state, &filter, 500).await?;
    let lang = ctx.lang;
    let (services, businesses) = state
        .db
        .read(move |c| crate::web::forms::service_and_business_options(c, lang))
        .await?;
    let csv = format!("/admin/tickets.csv?{}", filter.query_string());
    render(&ListPage {
        ctx,
        rows,
        filter,
        services,
        businesses,
        csv,
    })
}

/// Quotes a CSV cell when needed, and defuses cells a spreadsheet would
/// run as a formula.
pub(crate) fn cell(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

pub async fn csv(
    ctx: Ctx,
    state: web::Data<AppState>,
    query: web::Query<Filter>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let rows = find(&state, &query.into_inner(), 100_000).await?;
    let ids: Vec<crate::db::ids::ApplyId> = rows.iter().map(|r| r.apply.id).collect();
    let deadlines = state
        .db
        .read(move |c| crate::store::timers::deadlines_of(c, &ids))
        .await?;
    let lang = ctx.lang;
    // A byte-order mark first: Excel then reads the file as UTF-8 (and
    // shows Chinese as Chinese). Headers and words in the reader's language.
    let mut out = String::from("\u{feff}");
    let headers: Vec<String> = [
        "serial",
        "title",
        "service",
        "kind",
        "status",
        "applicant",
        "business",
        "created_at",
        "finished_at",
        "outcome",
        "deadlines",
        "breaches",
    ]
    .iter()
    .map(|h| cell(&lang.t(&format!("csv.{h}"))))
    .collect();
    out.push_str(&headers.join(","));
    out.push_str("\r\n");
    let word = |prefix: &str, value: &str| -> String {
        if value.is_empty() {
            String::new()
        } else {
            lang.t_or(&format!("{prefix}.{value}"), value).into_owned()
        }
    };
    let zh = lang == crate::i18n::Lang::ZhCn;
    let stamp = |t: chrono::NaiveDateTime| t.format("%Y-%m-%d %H:%M").to_string();
    for r in rows {
        let a = &r.apply;
        let steps = deadlines.get(&a.id).map(Vec::as_slice).unwrap_or_default();
        // "Sign-off: 2026-12-07 18:00", each step with a deadline.
        let whole = lang.t("deadline.whole_ticket");
        let due = steps
            .iter()
            .map(|d| {
                let node = if zh && !d.node.1.is_empty() {
                    &d.node.1
                } else {
                    &d.node.0
                };
                format!("{node}: {}", stamp(d.due))
            })
            .chain(a.due_at.map(|d| format!("{whole}: {}", stamp(d))))
            .collect::<Vec<_>>()
            .join("; ");
        // Steps (and the ticket) found overdue, or ended after their deadline.
        let late = |due: chrono::NaiveDateTime,
                    overdue: Option<chrono::NaiveDateTime>,
                    done: Option<chrono::NaiveDateTime>| {
            overdue.is_some() || done.is_some_and(|t| t > due)
        };
        let breaches = steps
            .iter()
            .filter(|d| late(d.due, d.overdue, d.decided))
            .count()
            + usize::from(
                a.due_at
                    .is_some_and(|due| late(due, a.overdue_at, a.finished_at)),
            );
        let line = [
            cell(&a.serial),
            cell(&a.title),
            cell(r.service_in(lang)),
            cell(&word("kind", a.kind.as_str())),
            cell(&word("ticket_status", a.status.as_str())),
            cell(&crate::store::names::person_text(
                lang,
                &r.applicant.display_name,
                &r.applicant.username,
            )),
            cell(r.business.as_deref().unwrap_or_default()),
            a.created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            a.finished_at
                .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_default(),
            cell(&word(
                "outcome",
                a.outcome.map(|o| o.as_str()).unwrap_or_default(),
            )),
            cell(&due),
            breaches.to_string(),
        ]
        .join(",");
        out.push_str(&line);
        out.push_str("\r\n");
    }
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"tickets.csv\"",
        ))
        .body(out))
}

#[derive(Template)]
#[template(path = "admin/overdue.html")]
struct OverduePage {
    ctx: Ctx,
    /// Service, business, and their overdue steps.
    groups: Vec<(String, String, Vec<crate::store::timers::OverdueStep>)>,
}

impl OverduePage {
    fn node(&self, step: &crate::store::timers::OverdueStep) -> String {
        match &step.node {
            Some((_, zh)) if self.ctx.lang == crate::i18n::Lang::ZhCn && !zh.is_empty() => {
                zh.clone()
            }
            Some((en, _)) => en.clone(),
            None => self.ctx.t("deadline.whole_ticket").into_owned(),
        }
    }
}

/// Every waiting step past its deadline, by service and business.
pub async fn overdue(ctx: Ctx, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let steps = state.db.read(crate::store::timers::overdue).await?;
    let zh = ctx.lang == crate::i18n::Lang::ZhCn;
    let mut groups: Vec<(String, String, Vec<crate::store::timers::OverdueStep>)> = Vec::new();
    for step in steps {
        let (en, zh_name) = &step.service;
        let service = if zh && !zh_name.is_empty() {
            zh_name
        } else {
            en
        }
        .clone();
        let business = step.business.clone().unwrap_or_default();
        match groups.last_mut() {
            Some((s, b, list)) if *s == service && *b == business => list.push(step),
            _ => groups.push((service, business, vec![step])),
        }
    }
    render(&OverduePage { ctx, groups })
}
