//! Admin: webhooks and chat robots — adding an endpoint (address, secret,
//! kind, which events, optionally only some services or businesses),
//! turning it off and on, a test message, and each endpoint's delivery
//! log (status, answer, time, error) with "send again".

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use crate::db::ids::{DeliveryId, WebhookId};
use crate::db::states::TicketEvent;
use crate::i18n::Lang;
use crate::store::webhooks::{self, Delivery, Kind, NewWebhook, Webhook};
use crate::web::csrf::{CsrfForm, NoFields};
use crate::web::ctx::{Ctx, FlashKind, see_other};
use crate::web::forms::{FieldErrors, SelectOption};
use crate::web::{AppError, AppState, render, render_status};

/// The form as typed, kept whole to be shown again.
#[derive(Debug, Default, Clone)]
pub struct HookForm {
    name: String,
    url: String,
    secret: String,
    kind: String,
    language: String,
    events: Vec<String>,
    services: Vec<String>,
    businesses: Vec<String>,
    batch: bool,
}

impl HookForm {
    fn from_pairs(pairs: &[(String, String)]) -> HookForm {
        let one = |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.trim().to_string())
                .unwrap_or_default()
        };
        let all = |k: &str| {
            pairs
                .iter()
                .filter(|(n, _)| n == k)
                .map(|(_, v)| v.trim().to_string())
                .collect()
        };
        HookForm {
            name: one("name"),
            url: one("url"),
            secret: one("secret"),
            kind: one("kind"),
            language: one("language"),
            events: all("events"),
            services: all("services"),
            businesses: all("businesses"),
            batch: pairs.iter().any(|(n, v)| n == "batch" && v == "on"),
        }
    }

    fn parse(&self, errors: &mut FieldErrors) -> Option<NewWebhook> {
        if self.name.is_empty() || self.name.chars().count() > 100 {
            errors.add("name", "errors.required");
        }
        let url_ok = (self.url.starts_with("http://") || self.url.starts_with("https://"))
            && self.url.len() > "https://".len()
            && self.url.len() <= 2000
            && !self.url.chars().any(char::is_whitespace);
        if !url_ok {
            errors.add("url", "webhooks.bad_url");
        }
        let kind = Kind::parse(&self.kind);
        if kind.is_none() {
            errors.add("kind", "errors.unknown_choice");
        }
        let language = Lang::parse(&self.language);
        if language.is_none() {
            errors.add("language", "errors.unknown_choice");
        }
        if self.events.iter().any(|e| TicketEvent::parse(e).is_none()) {
            errors.add("events", "errors.unknown_choice");
        }
        let ids = |list: &[String], field: &'static str, errors: &mut FieldErrors| {
            let parsed: Vec<i32> = list.iter().filter_map(|s| s.parse().ok()).collect();
            if parsed.len() != list.len() {
                errors.add(field, "errors.unknown_choice");
            }
            parsed
        };
        let services = ids(&self.services, "services", errors);
        let businesses = ids(&self.businesses, "businesses", errors);
        if !errors.is_empty() {
            return None;
        }
        let kind = kind?;
        // A plain webhook always signs; one left without a secret gets one.
        let secret = match (kind, self.secret.is_empty()) {
            (Kind::Webhook, true) => format!("whsec_{}", crate::token::random_hex::<24>()),
            _ => self.secret.clone(),
        };
        Some(NewWebhook {
            name: self.name.clone(),
            url: self.url.clone(),
            secret,
            kind,
            language: language?.code().to_string(),
            events: self.events.clone(),
            services,
            businesses,
            batch: self.batch,
        })
    }
}

#[derive(Template)]
#[template(path = "admin/webhooks.html")]
struct ListPage {
    ctx: Ctx,
    hooks: Vec<Webhook>,
    form: HookForm,
    errors: FieldErrors,
    services: Vec<SelectOption>,
    businesses: Vec<SelectOption>,
}

impl ListPage {
    async fn load(ctx: Ctx, state: &AppState) -> Result<ListPage, AppError> {
        let lang = ctx.lang;
        let (hooks, (services, businesses)) = state
            .db
            .read(move |c| {
                Ok((
                    webhooks::all(c)?,
                    crate::web::forms::service_and_business_options(c, lang)?,
                ))
            })
            .await?;
        let errors = FieldErrors::new(ctx.lang);
        Ok(ListPage {
            ctx,
            hooks,
            form: HookForm {
                kind: "webhook".into(),
                language: "en".into(),
                ..HookForm::default()
            },
            errors,
            services,
            businesses,
        })
    }

    fn kinds(&self) -> Vec<SelectOption> {
        Kind::ALL
            .iter()
            .map(|k| {
                SelectOption::new(
                    k.as_str(),
                    self.ctx.t(&format!("webhooks.kinds.{}", k.as_str())),
                )
            })
            .collect()
    }

    fn languages(&self) -> Vec<SelectOption> {
        Lang::ALL
            .iter()
            .map(|l| SelectOption::new(l.code(), l.native_name()))
            .collect()
    }

    fn event_types(&self) -> Vec<(&'static str, String)> {
        TicketEvent::ALL
            .iter()
            .map(|e| {
                let key = e.as_str();
                (
                    key,
                    self.ctx
                        .t(&format!("hooks.events.{}", key.replace('.', "_")))
                        .into_owned(),
                )
            })
            .collect()
    }

    fn ticked(&self, event: &str) -> bool {
        self.form.events.iter().any(|e| e == event)
    }

    fn kind_name(&self, hook: &Webhook) -> String {
        self.ctx
            .t(&format!("webhooks.kinds.{}", hook.kind().as_str()))
            .into_owned()
    }
}

pub async fn list(ctx: Ctx, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    render(&ListPage::load(ctx, &state).await?)
}

pub async fn create(
    ctx: Ctx,
    state: web::Data<AppState>,
    CsrfForm(pairs): CsrfForm<Vec<(String, String)>>,
) -> Result<HttpResponse, AppError> {
    let me = ctx.require_admin()?.id;
    let form = HookForm::from_pairs(&pairs);
    let mut errors = FieldErrors::new(ctx.lang);
    if let Some(new) = form.parse(&mut errors) {
        let name = new.name.clone();
        let id = state
            .db
            .write(move |c| webhooks::create(c, &new, me))
            .await?;
        ctx.flash(
            FlashKind::Success,
            ctx.tf("webhooks.created", &[("name", &name)]),
        );
        return Ok(see_other(&format!("/admin/webhooks/{id}")));
    }
    let mut page = ListPage::load(ctx, &state).await?;
    page.form = form;
    page.errors = errors;
    render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

#[derive(Template)]
#[template(path = "admin/webhook.html")]
struct EndpointPage {
    ctx: Ctx,
    hook: Webhook,
    deliveries: Vec<Delivery>,
}

impl EndpointPage {
    fn status_text(&self, d: &Delivery) -> String {
        self.ctx
            .t(&format!("webhooks.statuses.{}", d.status))
            .into_owned()
    }

    fn kind_name(&self) -> String {
        self.ctx
            .t(&format!("webhooks.kinds.{}", self.hook.kind().as_str()))
            .into_owned()
    }
}

pub async fn show(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let id = WebhookId(path.into_inner());
    let (hook, deliveries) = state
        .db
        .read(move |c| Ok((webhooks::find(c, id)?, webhooks::log(c, id, 50)?)))
        .await?;
    render(&EndpointPage {
        ctx,
        hook,
        deliveries,
    })
}

pub async fn test(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let me = ctx.require_admin()?.id;
    let id = WebhookId(path.into_inner());
    state
        .db
        .write(move |c| {
            webhooks::find(c, id)?;
            webhooks::ping(c, id, me)
        })
        .await?;
    ctx.flash(FlashKind::Success, ctx.t("webhooks.tested"));
    Ok(see_other(&format!("/admin/webhooks/{id}")))
}

/// Turns an endpoint on (`on`) or off.
pub async fn switch(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<(i32, String)>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let me = ctx.require_admin()?.id;
    let (id, to) = path.into_inner();
    let id = WebhookId(id);
    let on = match to.as_str() {
        "on" => true,
        "off" => false,
        _ => return Err(AppError::NotFound),
    };
    state
        .db
        .write(move |c| webhooks::set_active(c, id, on, me))
        .await?;
    Ok(see_other(&format!("/admin/webhooks/{id}")))
}

pub async fn send_again(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<(i32, i32)>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let (id, delivery) = path.into_inner();
    let (id, delivery) = (WebhookId(id), DeliveryId(delivery));
    state
        .db
        .write(move |c| webhooks::send_again(c, id, delivery))
        .await?;
    ctx.flash(FlashKind::Success, ctx.t("webhooks.queued_again"));
    Ok(see_other(&format!("/admin/webhooks/{id}")))
}
