//! Admin: the audit trail — events filtered by day, ticket, person and
//! kind, each with its place and hash; downloads as CSV or JSON Lines
//! (streamed page by page, any size); and verifying every chain on demand.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, web};
use askama::Template;
use futures_util::StreamExt;
use serde::Deserialize;

use crate::store::audit_export::{self, CSV_HEADER, Exported, Filter};
use crate::store::chain::{self, Report};
use crate::store::users;
use crate::web::csrf::{CsrfForm, NoFields};
use crate::web::ctx::Ctx;
use crate::web::forms::FieldErrors;
use crate::web::{AppError, AppState, render, render_status};

/// The filter as typed.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct Query {
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub ticket: String,
    #[serde(default)]
    pub actor: String,
    #[serde(default)]
    pub decisions: Option<String>,
}

impl Query {
    /// The same filter as a query string, for the download links.
    fn as_query(&self) -> String {
        let mut pairs: Vec<(&str, &str)> = [
            ("from", &self.from),
            ("to", &self.to),
            ("ticket", &self.ticket),
            ("actor", &self.actor),
        ]
        .into_iter()
        .map(|(name, value)| (name, value.trim()))
        .filter(|(_, value)| !value.is_empty())
        .collect();
        if self.decisions.is_some() {
            pairs.push(("decisions", "1"));
        }
        serde_html_form::to_string(&pairs).unwrap_or_default()
    }
}

/// How many events the page shows.
const SHOWN: i64 = 100;

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    ctx: Ctx,
    query: Query,
    errors: FieldErrors,
    rows: Vec<Exported>,
    report: Option<Report>,
}

impl AuditPage {
    fn who(&self, row: &Exported) -> String {
        let lang = self.ctx.lang;
        let system = lang.t("audit_trail.system").into_owned();
        let actor = row.actor.clone().unwrap_or(system);
        match &row.on_behalf_of {
            Some(other) => lang.tf("audit_trail.for", &[("actor", &actor), ("for", other)]),
            None => actor,
        }
    }

    fn channel(&self, row: &Exported) -> String {
        self.ctx
            .lang
            .t_or(
                &format!("audit_trail.channel.{}", row.channel),
                &row.channel,
            )
            .into_owned()
    }

    fn place(&self, row: &Exported) -> String {
        match (row.chain, row.seq) {
            (Some(chain), Some(seq)) => format!("{chain} · {seq}"),
            _ => self.ctx.t("audit_trail.outside").into_owned(),
        }
    }

    fn short_hash(row: &Exported) -> &str {
        row.hash.as_deref().map_or("", |h| &h[..h.len().min(12)])
    }

    fn downloads(&self) -> String {
        self.query.as_query()
    }

    fn problems(&self) -> Vec<String> {
        self.report
            .iter()
            .flat_map(|r| r.problems.iter().map(|p| p.describe(self.ctx.lang)))
            .collect()
    }
}

/// Reads the typed filter; what does not parse or names nothing is an
/// error beside its field.
async fn parse(
    state: &AppState,
    query: &Query,
    errors: &mut FieldErrors,
    lang: crate::i18n::Lang,
) -> Result<Filter, AppError> {
    let problem = |key: &str| lang.t(key).into_owned();
    let day = |text: &str, errors: &mut FieldErrors, field: &'static str| {
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        let parsed = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok();
        if parsed.is_none() {
            errors.add_message(field, problem("audit_trail.bad_date"));
        }
        parsed
    };
    let from = day(&query.from, errors, "from");
    let to = day(&query.to, errors, "to");
    let (ticket, actor) = (
        query.ticket.trim().to_string(),
        query.actor.trim().to_string(),
    );
    let (ticket_id, actor_id) = state
        .db
        .read(move |c| {
            let ticket = if ticket.is_empty() {
                Ok(None)
            } else {
                audit_export::ticket_by_serial(c, &ticket)
                    .map(|t| t.ok_or(()))
                    .map(Some)
            }?;
            let actor = if actor.is_empty() {
                None
            } else {
                Some(users::find_by_username(c, &actor)?.map(|u| u.id).ok_or(()))
            };
            Ok((ticket, actor))
        })
        .await?;
    if let Some(Err(())) = ticket_id {
        errors.add_message("ticket", problem("audit_trail.unknown_ticket"));
    }
    if let Some(Err(())) = actor_id {
        errors.add_message("actor", problem("audit_trail.unknown_person"));
    }
    Ok(Filter {
        from: from.and_then(|d| d.and_hms_opt(0, 0, 0)),
        until: to
            .and_then(|d| d.succ_opt())
            .and_then(|d| d.and_hms_opt(0, 0, 0)),
        ticket: ticket_id.and_then(Result::ok),
        actor: actor_id.and_then(Result::ok),
        decisions: query.decisions.is_some(),
    })
}

pub async fn page(
    ctx: Ctx,
    state: web::Data<AppState>,
    query: web::Query<Query>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    show(ctx, &state, query.into_inner(), None).await
}

async fn show(
    ctx: Ctx,
    state: &AppState,
    query: Query,
    report: Option<Report>,
) -> Result<HttpResponse, AppError> {
    let mut errors = FieldErrors::new(ctx.lang);
    let filter = parse(state, &query, &mut errors, ctx.lang).await?;
    let rows = if errors.is_empty() {
        state
            .db
            .read(move |c| audit_export::page(c, &filter, 0, SHOWN))
            .await?
    } else {
        Vec::new()
    };
    let page = AuditPage {
        ctx,
        query,
        errors,
        rows,
        report,
    };
    if page.errors.is_empty() {
        render(&page)
    } else {
        render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
    }
}

/// Walks every chain (read-only) and shows what it found above the events.
pub async fn verify(
    ctx: Ctx,
    state: web::Data<AppState>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let report = state.db.read(chain::verify).await?;
    show(ctx, &state, Query::default(), Some(report)).await
}

/// The matching events as CSV or JSON Lines, streamed a page at a time.
pub async fn export(
    ctx: Ctx,
    state: web::Data<AppState>,
    format: web::Path<String>,
    query: web::Query<Query>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let csv = match format.as_str() {
        "csv" => true,
        "jsonl" => false,
        _ => return Err(AppError::NotFound),
    };
    let query = query.into_inner();
    let mut errors = FieldErrors::new(ctx.lang);
    let filter = parse(&state, &query, &mut errors, ctx.lang).await?;
    if !errors.is_empty() {
        return show(ctx, &state, query, None).await;
    }
    let db = state.db.clone();
    let head = csv.then(|| web::Bytes::from(format!("{CSV_HEADER}\r\n")));
    let pages = futures_util::stream::unfold(Some(0), move |after| {
        let (db, filter) = (db.clone(), filter.clone());
        async move {
            let after = after?;
            match db
                .read(move |c| audit_export::page(c, &filter, after, 2000))
                .await
            {
                Ok(rows) if rows.is_empty() => None,
                Ok(rows) => {
                    let next = rows.last().map(|r| r.id);
                    let text: String = rows
                        .iter()
                        .map(|r| {
                            if csv {
                                audit_export::csv_line(r)
                            } else {
                                audit_export::json_line(r)
                            }
                        })
                        .collect();
                    Some((Ok(web::Bytes::from(text)), next))
                }
                Err(e) => Some((
                    Err(actix_web::error::ErrorInternalServerError(e.to_string())),
                    None,
                )),
            }
        }
    });
    let body = futures_util::stream::iter(head.map(Ok::<_, actix_web::Error>)).chain(pages);
    let (kind, name) = if csv {
        ("text/csv; charset=utf-8", "audit.csv")
    } else {
        ("application/jsonl; charset=utf-8", "audit.jsonl")
    };
    Ok(HttpResponse::Ok()
        .content_type(kind)
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ))
        .streaming(body))
}
