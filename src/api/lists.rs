//! Lists, newest first and cursor-paginated (`cursor` from the previous
//! page's `next_cursor`, `limit` up to 100): my inbox — what waits for me
//! and for the people I stand in for, narrowed as the inbox page narrows
//! it —, the tickets I filed, and for administrators every ticket with
//! the admin list's filters.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use chrono::NaiveDateTime;
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
use crate::web::admin::tickets::{Filter, search_for};

/// A page's size unless asked otherwise, and the most it can be.
const DEFAULT_LIMIT: i64 = 25;
const MAX_LIMIT: i64 = 100;

/// Where a page starts and how long it is.
#[derive(Debug, Default, Deserialize)]
pub struct Paging {
    cursor: Option<String>,
    limit: Option<String>,
}

impl Paging {
    /// The cursor (an id: the page lists what is older) and the size, or
    /// a 400 pointing at what does not parse.
    fn read(&self, lang: Lang) -> Result<(Option<i32>, i64), Problem> {
        let mut errors = Vec::new();
        let cursor = match self.cursor.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(c) => match c.parse::<i32>() {
                Ok(id) if id > 0 => Some(id),
                _ => {
                    errors.push(FieldProblem::new(
                        "/cursor".into(),
                        lang.t("api.bad_cursor"),
                    ));
                    None
                }
            },
        };
        let limit = match self.limit.as_deref().map(str::trim) {
            None | Some("") => DEFAULT_LIMIT,
            Some(l) => match l.parse::<i64>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    errors.push(FieldProblem::new("/limit".into(), lang.t("api.bad_limit")));
                    DEFAULT_LIMIT
                }
            },
        };
        if errors.is_empty() {
            Ok((cursor, limit))
        } else {
            Err(Problem::new(StatusCode::BAD_REQUEST, "bad_query", lang).with_errors(errors))
        }
    }
}

/// A page of `T`, and where the next one starts.
#[derive(Debug, Serialize)]
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
#[derive(Debug, Serialize)]
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
    pub waiting_since: Option<NaiveDateTime>,
    pub service: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub business: Option<String>,
    /// The request's fields this step may read, as label and value.
    pub fields: Vec<LabelledValue>,
}

#[derive(Debug, Serialize)]
pub struct TicketRef {
    pub id: i32,
    pub serial: String,
    pub title: String,
    pub kind: String,
}

#[derive(Debug, Serialize)]
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

/// `GET /api/v1/me/inbox`.
pub async fn inbox(
    bearer: Bearer,
    state: web::Data<AppState>,
    query: web::Query<InboxQuery>,
) -> Result<HttpResponse, Problem> {
    let lang = bearer.lang;
    let (cursor, limit) = query.paging.read(lang)?;
    let id = |v: &Option<String>| v.as_deref().and_then(|v| v.trim().parse::<i32>().ok());
    let filter = InboxFilter {
        service: id(&query.service).map(ServiceId),
        business: id(&query.business).map(BusinessId),
        others_only: query.for_whom.as_deref() == Some("others"),
    };
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
        waiting_since: row.since,
        service,
        business,
        fields,
    }
}

/// A ticket in a list.
#[derive(Debug, Serialize)]
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
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<NaiveDateTime>,
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
            created_at: a.created_at,
            updated_at: a.updated_at,
            finished_at: a.finished_at,
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

/// `GET /api/v1/me/tickets`: the tickets I filed.
pub async fn mine(
    bearer: Bearer,
    state: web::Data<AppState>,
    query: web::Query<Paging>,
) -> Result<HttpResponse, Problem> {
    let lang = bearer.lang;
    let (cursor, limit) = query.read(lang)?;
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
    #[serde(flatten)]
    filter: Filter,
}

/// `GET /api/v1/tickets`: every ticket, for administrators, filtered as
/// the admin list is (service, status, business, applicant, from, until).
pub async fn all(
    bearer: Bearer,
    state: web::Data<AppState>,
    query: web::Query<AllQuery>,
) -> Result<HttpResponse, Problem> {
    let lang = bearer.lang;
    let (cursor, limit) = query.paging.read(lang)?;
    let (mut search, applicant) = query.filter.search();
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
