//! Lists, newest first and cursor-paginated (`cursor` from the previous
//! page's `next_cursor`, `limit` up to 100): my inbox — what waits for me
//! and for the people I stand in for, narrowed as the inbox page narrows
//! it —, the tickets I filed, and for administrators every ticket with
//! the admin list's filters.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::PersonOut;
use super::bearer::Bearer;
use super::problem::{FieldProblem, Problem};
use crate::db::ids::{ApplyId, ApproveUserId, BusinessId, ServiceId};
use crate::db::models::Apply;
use crate::i18n::Lang;
use crate::store::ticket_views::{self, InboxFilter, InboxRow, ListedTicket};
use crate::store::users;
use crate::web::AppState;
use crate::web::admin::tickets::{Filter, STATUSES, search_for};
use chrono::NaiveDate;

/// A page's size unless asked otherwise, and the most it can be.
const DEFAULT_LIMIT: i64 = 25;
const MAX_LIMIT: i64 = 100;

/// Where a page starts and how long it is.
#[derive(Debug, Default, Deserialize)]
pub struct Paging {
    cursor: Option<String>,
    limit: Option<String>,
}

/// A query's parameters checked strictly (an API client is told what
/// it got wrong, where the pages quietly ignore it): each one given that
/// does not parse is a pointer and a message in a 400.
struct Checked {
    lang: Lang,
    errors: Vec<FieldProblem>,
}

impl Checked {
    fn new(lang: Lang) -> Checked {
        Checked {
            lang,
            errors: Vec::new(),
        }
    }

    fn bad(&mut self, name: &str, key: &str) {
        self.errors
            .push(FieldProblem::new(format!("/{name}"), self.lang.t(key)));
    }

    /// A positive id, if given.
    fn id(&mut self, name: &str, value: &Option<String>, key: &str) -> Option<i32> {
        let value = value.as_deref()?;
        let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
        match value.parse::<i32>() {
            Ok(id) if id > 0 && digits => Some(id),
            _ => {
                self.bad(name, key);
                None
            }
        }
    }

    /// Text that `ok` accepts, if given.
    fn text(&mut self, name: &str, value: &Option<String>, ok: impl Fn(&str) -> bool, key: &str) {
        if value.as_deref().is_some_and(|v| !ok(v)) {
            self.bad(name, key);
        }
    }

    fn done(self) -> Result<(), Problem> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(
                Problem::new(StatusCode::BAD_REQUEST, "bad_query", self.lang)
                    .with_errors(self.errors),
            )
        }
    }
}

impl Paging {
    /// The cursor (an id: the page lists what is older) and the size.
    fn read(&self, check: &mut Checked) -> (Option<i32>, i64) {
        let cursor = check.id("cursor", &self.cursor, "api.bad_cursor");
        let limit = match self.limit.as_deref() {
            None => DEFAULT_LIMIT,
            Some(l) => match l.parse::<i64>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) && l.bytes().all(|b| b.is_ascii_digit()) => n,
                _ => {
                    check.bad("limit", "api.bad_limit");
                    DEFAULT_LIMIT
                }
            },
        };
        (cursor, limit)
    }
}

/// A page of `T`, and where the next one starts.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next, older page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

fn pick(zh: bool, (en, zh_text): (&str, &str)) -> String {
    if zh && !zh_text.trim().is_empty() {
        zh_text.to_string()
    } else {
        en.to_string()
    }
}

/// One step waiting for me (or for someone I stand in for).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InboxItem {
    /// The assignment, to act on with `POST /tickets/{ticket}/actions`.
    pub assignment: i32,
    pub ticket: TicketRef,
    /// The step, in the reader's language, and its kind.
    pub step: String,
    pub step_kind: String,
    pub applicant: PersonOut,
    /// Whom I would act for, when the step is someone else's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub for_person: Option<PersonOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting_since: Option<DateTime<Utc>>,
    pub service: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub business: Option<String>,
    /// The request's fields this step may read, as label and value.
    pub fields: Vec<LabelledValue>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TicketRef {
    pub id: i32,
    pub serial: String,
    pub title: String,
    pub kind: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LabelledValue {
    pub label: String,
    pub value: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct InboxQuery {
    #[serde(flatten)]
    paging: Paging,
    service: Option<String>,
    business: Option<String>,
    /// `others`: only what waits for people I stand in for.
    #[serde(rename = "for")]
    for_whom: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/me/inbox",
    operation_id = "my_inbox",
    tag = "lists",
    summary = "My inbox",
    description = "What waits for me and for the people I stand in for, newest first.",
    params(
        ("cursor" = Option<String>, Query, pattern = "^[1-9][0-9]{0,8}$", description = "next_cursor of the previous page"),
        ("limit" = Option<i32>, Query, minimum = 1, maximum = 100, description = "1 to 100; 25 unless given"),
        ("service" = Option<i32>, Query, minimum = 1, description = "A service id"),
        ("business" = Option<i32>, Query, minimum = 1, description = "A business id"),
        ("for" = Option<String>, Query, pattern = "^others$", description = "others: only what waits for people I stand in for"),
    ),
    responses(
        (status = 200, description = "A page of the inbox", body = Page<InboxItem>),
        (status = 400, description = "A query or body that does not parse", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No token, or one unknown, expired, revoked or whose person was deactivated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not there, or not there for this person", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable for the moment", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
/// `GET /api/v1/me/inbox`.
pub async fn inbox(
    bearer: Bearer,
    state: web::Data<AppState>,
    query: web::Query<InboxQuery>,
) -> Result<HttpResponse, Problem> {
    let lang = bearer.lang;
    let mut check = Checked::new(lang);
    let (cursor, limit) = query.paging.read(&mut check);
    let filter = InboxFilter {
        service: check
            .id("service", &query.service, "api.bad_id")
            .map(ServiceId),
        business: check
            .id("business", &query.business, "api.bad_id")
            .map(BusinessId),
        others_only: query.for_whom.as_deref() == Some("others"),
        by_due: false,
    };
    check.text("for", &query.for_whom, |w| w == "others", "api.bad_for");
    check.done()?;
    let me = bearer.user;
    let page = state
        .db
        .read(move |c| {
            let page = ticket_views::inbox(c, me, true, &filter, cursor.map(ApproveUserId), limit)?;
            ticket_views::with_requests(c, page)
        })
        .await
        .map_err(|e| Problem::from_store(e, lang))?;
    let zh = lang == Lang::ZhCn;
    let items = page
        .rows
        .into_iter()
        .map(|row| inbox_item(row, zh, lang))
        .collect();
    Ok(HttpResponse::Ok().json(Page {
        items,
        next_cursor: page.older.map(|a| a.0.to_string()),
    }))
}

fn inbox_item(row: InboxRow, zh: bool, lang: Lang) -> InboxItem {
    let (service, business, fields) = match &row.request {
        Some(request) => (
            request.service(lang).to_string(),
            request.business().map(str::to_string),
            request
                .fields(lang)
                .into_iter()
                .map(|(label, value)| LabelledValue { label, value })
                .collect(),
        ),
        None => (String::new(), None, Vec::new()),
    };
    InboxItem {
        assignment: row.assignment.0,
        ticket: TicketRef {
            id: row.apply.0,
            serial: row.serial,
            title: row.title,
            kind: row.kind,
        },
        step: pick(zh, (&row.node_en, &row.node_zh)),
        step_kind: row.node_kind,
        applicant: row.applicant.into(),
        for_person: row.for_person.map(Into::into),
        waiting_since: row.since.map(|t| t.and_utc()),
        service,
        business,
        fields,
    }
}

/// A ticket in a list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ListedOut {
    pub id: i32,
    pub serial: String,
    pub title: String,
    pub kind: &'static str,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub business: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applicant: Option<PersonOut>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<&Apply> for ListedOut {
    fn from(a: &Apply) -> ListedOut {
        ListedOut {
            id: a.id.0,
            serial: a.serial.clone(),
            title: a.title.clone(),
            kind: a.kind.as_str(),
            status: a.status.as_str(),
            service: None,
            business: None,
            applicant: None,
            created_at: a.created_at.and_utc(),
            updated_at: a.updated_at.and_utc(),
            finished_at: a.finished_at.map(|t| t.and_utc()),
        }
    }
}

/// Cuts a list read one longer than `limit` to the page, with its cursor.
fn paged<T, U>(
    mut rows: Vec<T>,
    limit: i64,
    id: impl Fn(&T) -> i32,
    out: impl Fn(T) -> U,
) -> Page<U> {
    let next_cursor = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| id(r).to_string())
    } else {
        None
    };
    Page {
        items: rows.into_iter().map(out).collect(),
        next_cursor,
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/me/tickets",
    operation_id = "my_tickets",
    tag = "lists",
    summary = "Tickets I filed",
    description = "Newest first.",
    params(
        ("cursor" = Option<String>, Query, pattern = "^[1-9][0-9]{0,8}$", description = "next_cursor of the previous page"),
        ("limit" = Option<i32>, Query, minimum = 1, maximum = 100, description = "1 to 100; 25 unless given"),
    ),
    responses(
        (status = 200, description = "A page of tickets", body = Page<ListedOut>),
        (status = 400, description = "A query or body that does not parse", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No token, or one unknown, expired, revoked or whose person was deactivated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not there, or not there for this person", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable for the moment", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
/// `GET /api/v1/me/tickets`: the tickets I filed.
pub async fn mine(
    bearer: Bearer,
    state: web::Data<AppState>,
    query: web::Query<Paging>,
) -> Result<HttpResponse, Problem> {
    let lang = bearer.lang;
    let mut check = Checked::new(lang);
    let (cursor, limit) = query.read(&mut check);
    check.done()?;
    let me = bearer.user;
    let rows = state
        .db
        .read(move |c| ticket_views::mine(c, me, cursor.map(ApplyId), limit + 1))
        .await
        .map_err(|e| Problem::from_store(e, lang))?;
    Ok(HttpResponse::Ok().json(paged(rows, limit, |a| a.id.0, |a| ListedOut::from(&a))))
}

#[derive(Debug, Default, Deserialize)]
pub struct AllQuery {
    #[serde(flatten)]
    paging: Paging,
    service: Option<String>,
    status: Option<String>,
    business: Option<String>,
    applicant: Option<String>,
    from: Option<String>,
    until: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/tickets",
    operation_id = "all_tickets",
    tag = "lists",
    summary = "Every ticket (administrators)",
    description = "Filtered as the admin list is.",
    params(
        ("cursor" = Option<String>, Query, pattern = "^[1-9][0-9]{0,8}$", description = "next_cursor of the previous page"),
        ("limit" = Option<i32>, Query, minimum = 1, maximum = 100, description = "1 to 100; 25 unless given"),
        ("service" = Option<i32>, Query, minimum = 1, description = "A service id"),
        ("status" = Option<String>, Query, pattern = "^(running|finished|rejected|withdrawn|sent_back)$", description = "running, finished, rejected, withdrawn or sent_back"),
        ("business" = Option<i32>, Query, minimum = 1, description = "A business id"),
        ("applicant" = Option<String>, Query, pattern = "^[A-Za-z0-9._-]{2,32}$", description = "A username"),
        ("from" = Option<String>, Query, format = Date, description = "Filed on or after (YYYY-MM-DD)"),
        ("until" = Option<String>, Query, format = Date, description = "Filed on or before (YYYY-MM-DD)"),
    ),
    responses(
        (status = 200, description = "A page of tickets", body = Page<ListedOut>),
        (status = 400, description = "A query or body that does not parse", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No token, or one unknown, expired, revoked or whose person was deactivated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not there, or not there for this person", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable for the moment", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
/// `GET /api/v1/tickets`: every ticket, for administrators, filtered as
/// the admin list is (service, status, business, applicant, from, until).
pub async fn all(
    bearer: Bearer,
    state: web::Data<AppState>,
    query: web::Query<AllQuery>,
) -> Result<HttpResponse, Problem> {
    let lang = bearer.lang;
    let mut check = Checked::new(lang);
    let (cursor, limit) = query.paging.read(&mut check);
    check.id("service", &query.service, "api.bad_id");
    check.id("business", &query.business, "api.bad_id");
    check.text(
        "status",
        &query.status,
        |v| STATUSES.contains(&v),
        "api.bad_status",
    );
    check.text(
        "applicant",
        &query.applicant,
        |v| {
            (2..=32).contains(&v.len())
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        },
        "api.bad_username",
    );
    let date = |v: &str| v.len() == 10 && NaiveDate::parse_from_str(v, "%Y-%m-%d").is_ok();
    check.text("from", &query.from, date, "api.bad_date");
    check.text("until", &query.until, date, "api.bad_date");
    check.done()?;
    let given = |v: &Option<String>| v.clone().unwrap_or_default();
    let filter = Filter {
        service: given(&query.service),
        status: given(&query.status),
        business: given(&query.business),
        applicant: given(&query.applicant),
        from: given(&query.from),
        until: given(&query.until),
    };
    let (mut search, applicant) = filter.search();
    search.before = cursor.map(ApplyId);
    let me = bearer.user;
    let rows = state
        .db
        .read(move |c| {
            if !users::is_admin(c, me)? {
                return Ok(None);
            }
            search_for(c, search, applicant, limit + 1).map(Some)
        })
        .await
        .map_err(|e| Problem::from_store(e, lang))?
        .ok_or_else(|| Problem::new(StatusCode::FORBIDDEN, "admin_only", lang))?;
    let zh = lang == Lang::ZhCn;
    Ok(HttpResponse::Ok().json(paged(
        rows,
        limit,
        |t: &ListedTicket| t.apply.id.0,
        |t| ListedOut {
            service: Some(pick(zh, (&t.service.0, &t.service.1))),
            business: t.business.clone(),
            applicant: Some(t.applicant.clone().into()),
            ..ListedOut::from(&t.apply)
        },
    )))
}
