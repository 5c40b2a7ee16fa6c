//! Calendar feeds: the page where a person makes, rotates or stops their
//! `.ics` address (and an administrator a business's), and the feed
//! itself, served to calendar clients by its secret alone.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::csrf::CsrfForm;
use super::ctx::{Ctx, FlashKind, see_other};
use super::ics::{self, Event};
use super::{AppError, AppState};
use crate::db::ids::BusinessId;
use crate::db::states::TicketStatus;
use crate::flow::freeze::Strength;
use crate::i18n::Lang;
use crate::store::feeds::{self, Owner};

/// A feed on the page: whose, since when, and its address when just made.
pub struct FeedView {
    pub name: String,
    /// Where the rotate and stop buttons post.
    pub action: String,
    pub made_at: Option<String>,
}

#[derive(Template)]
#[template(path = "feeds.html")]
struct FeedsPage {
    ctx: Ctx,
    mine: FeedView,
    businesses: Vec<FeedView>,
    /// A new address, shown this once.
    fresh: Option<(String, String)>,
}

async fn page(
    ctx: Ctx,
    state: &AppState,
    fresh: Option<(String, String)>,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let me = ctx.require_user()?.clone();
    let admin = me.is_admin;
    let (mine, businesses) = state
        .db
        .read(move |c| {
            let mine = feeds::made_at(c, Owner::Person(me.id))?;
            let mut list = Vec::new();
            if admin {
                for (id, name) in crate::store::businesses::names(c)?.iter() {
                    list.push((*id, name.clone(), feeds::made_at(c, Owner::Business(*id))?));
                }
            }
            Ok((mine, list))
        })
        .await?;
    let when = |t: chrono::NaiveDateTime| format!("{} UTC", t.format("%Y-%m-%d %H:%M"));
    let page = FeedsPage {
        mine: FeedView {
            name: ctx.t("feeds.mine").into_owned(),
            action: "/calendar/feeds/mine".into(),
            made_at: mine.map(when),
        },
        businesses: businesses
            .into_iter()
            .map(|(id, name, made)| FeedView {
                name,
                action: format!("/calendar/feeds/business/{}", id.0),
                made_at: made.map(when),
            })
            .collect(),
        fresh,
        ctx,
    };
    let mut response = super::render_status(status, &page)?;
    // A fresh address is shown once: never kept by a cache or history.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

pub async fn show(ctx: Ctx, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    page(ctx, &state, None, StatusCode::OK).await
}

/// What a rotate or stop button asks.
#[derive(Debug, Default, Deserialize)]
pub struct FeedForm {
    #[serde(default)]
    intent: String,
}

async fn change(
    ctx: Ctx,
    state: &AppState,
    owner: Owner,
    name: String,
    intent: &str,
) -> Result<HttpResponse, AppError> {
    let me = ctx.require_user()?.id;
    if intent == "stop" {
        state.db.write(move |c| feeds::stop(c, owner)).await?;
        ctx.flash(FlashKind::Success, ctx.t("feeds.stopped"));
        return Ok(see_other("/calendar/feeds"));
    }
    let secret = state.db.write(move |c| feeds::rotate(c, owner, me)).await?;
    let url = format!(
        "{}/calendar/feeds/{secret}.ics",
        state.config.base_url.trim_end_matches('/')
    );
    // Shown in the answer itself, never kept in a cookie.
    page(ctx, state, Some((name, url)), StatusCode::OK).await
}

pub async fn mine(
    ctx: Ctx,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<FeedForm>,
) -> Result<HttpResponse, AppError> {
    let me = ctx.require_user()?.id;
    let name = ctx.t("feeds.mine").into_owned();
    change(ctx, &state, Owner::Person(me), name, &form.intent).await
}

pub async fn business(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    CsrfForm(form): CsrfForm<FeedForm>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let id = BusinessId(path.into_inner());
    let name = state
        .db
        .read(move |c| crate::store::businesses::name_of(c, id))
        .await?
        .ok_or(AppError::NotFound)?;
    change(ctx, &state, Owner::Business(id), name, &form.intent).await
}

/// The feed's language: `?lang=`, else the person's own, else English.
#[derive(Debug, Default, Deserialize)]
pub struct FeedQuery {
    #[serde(default)]
    lang: String,
}

fn status_of(s: TicketStatus) -> &'static str {
    match s {
        TicketStatus::Finished => "CONFIRMED",
        TicketStatus::Rejected | TicketStatus::Withdrawn => "CANCELLED",
        TicketStatus::Running | TicketStatus::SentBack => "TENTATIVE",
    }
}

/// The `.ics` of the feed whose secret is in the address. An unknown,
/// rotated or stopped secret is a plain 404: it says nothing of others.
pub async fn feed(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<FeedQuery>,
) -> Result<HttpResponse, AppError> {
    let secret = path.into_inner();
    let asked = Lang::parse(&query.lang);
    let now = state.db.now();
    let found = state
        .db
        .read(move |c| {
            let Some(owner) = feeds::owner_of(c, &secret)? else {
                return Ok(None);
            };
            let lang = match (asked, owner) {
                (Some(lang), _) => lang,
                (None, Owner::Person(u)) => crate::store::users::find(c, u)?
                    .language
                    .as_deref()
                    .and_then(Lang::parse)
                    .unwrap_or(Lang::En),
                (None, Owner::Business(_)) => Lang::En,
            };
            Ok(Some((
                lang,
                feeds::owner_name(c, owner)?,
                feeds::entries(c, owner, now)?,
                crate::store::freezes::shown(c)?,
                crate::store::services::names(c)?,
            )))
        })
        .await?;
    let Some((lang, name, entries, freezes, services)) = found else {
        return Err(AppError::NotFound);
    };
    let zh = lang == Lang::ZhCn;
    let base = state.config.base_url.trim_end_matches('/').to_string();
    let host = base
        .split("://")
        .nth(1)
        .unwrap_or("countersign")
        .split(['/', ':'])
        .next()
        .unwrap_or("countersign")
        .to_string();
    let mut events: Vec<Event> = entries
        .iter()
        .map(|e| {
            let service = services
                .iter()
                .find(|(id, _, _)| *id == e.service)
                .map(|(_, en, zh_name)| {
                    if zh && !zh_name.is_empty() {
                        zh_name
                    } else {
                        en
                    }
                })
                .cloned()
                .unwrap_or_default();
            let status = lang.t(&format!("ticket_status.{}", e.status)).into_owned();
            let url = format!("{base}/tickets/{}", e.apply.0);
            Event {
                uid: format!("change-{}@{host}", e.apply.0),
                start: e.window.0,
                end: e.window.1,
                summary: format!(
                    "{}{} {}",
                    if e.emergency { "⚠ " } else { "" },
                    e.serial,
                    e.title
                ),
                description: format!("{service} · {status}\n{url}"),
                url: Some(url),
                status: status_of(e.status),
                categories: vec![status],
            }
        })
        .collect();
    let range = (
        now - chrono::Duration::days(feeds::PAST_DAYS),
        now + chrono::Duration::days(feeds::AHEAD_DAYS),
    );
    for f in freezes.iter() {
        let strength = lang
            .t(&format!("freezes.strength.{}", f.strength.as_str()))
            .into_owned();
        for (start, end) in f.time.occurrences(range.0, range.1) {
            events.push(Event {
                uid: format!("freeze-{}-{}@{host}", f.id, start.format("%Y%m%dT%H%M")),
                start,
                end,
                summary: format!("{} · {strength}", f.name.text(zh)),
                description: f.reason.text(zh).to_string(),
                url: None,
                status: "CONFIRMED",
                categories: vec![if f.strength == Strength::Hard {
                    "freeze-hard".into()
                } else {
                    "freeze-soft".into()
                }],
            });
        }
    }
    let title = lang.tf("feeds.calendar_name", &[("name", &name)]);
    Ok(HttpResponse::Ok()
        .content_type("text/calendar; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "private, max-age=300"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            "inline; filename=\"countersign.ics\"",
        ))
        .body(ics::calendar(&title, now, &events)))
}
