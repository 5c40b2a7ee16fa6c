//! Step 3 of the wizard: the notification policy, enabling the process,
//! deploying it as a new version; and the versions it has.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::{Draft, draw, load, problem_text, revision};
use crate::db::ids::ProcessId;
use crate::db::models::ProcessVersion;
use crate::flow::{NotifyEvent, NotifyRule, ProcessDef, Recipient};
use crate::store::StoreError;
use crate::store::processes::{self, VersionRow};
use crate::web::csrf::CsrfForm;
use crate::web::ctx::{Ctx, FlashKind, see_other};
use crate::web::forms::FieldErrors;
use crate::web::{AppError, AppState, render, render_status};

#[derive(Template)]
#[template(path = "design/publish.html")]
struct StepPage {
    ctx: Ctx,
    draft: Draft,
    message: String,
    errors: FieldErrors,
    /// Problems met by the last deploy attempt.
    deploy_problems: Vec<String>,
}

impl StepPage {
    fn events(&self) -> &'static [NotifyEvent] {
        &NotifyEvent::ALL
    }

    fn recipients(&self) -> &'static [Recipient] {
        &Recipient::ALL
    }

    fn checked(&self, event: &NotifyEvent, to: &Recipient) -> bool {
        self.draft.def.notifications.contains(&NotifyRule {
            event: *event,
            to: *to,
        })
    }
}

pub async fn step(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let draft = load(&ctx, &state, ProcessId(path.into_inner())).await?;
    let errors = FieldErrors::new(ctx.lang);
    render(&StepPage {
        ctx,
        draft,
        message: String::new(),
        errors,
        deploy_problems: Vec::new(),
    })
}

/// Saves which events mail whom, and whether the process is enabled.
pub async fn save(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    CsrfForm(form): CsrfForm<Vec<(String, String)>>,
) -> Result<HttpResponse, AppError> {
    let actor = ctx.require_admin()?.id;
    let id = ProcessId(path.into_inner());
    let value = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let rev = revision(value("revision").unwrap_or_default());
    let enabled = value("enabled").is_some();
    let mut rules = Vec::new();
    for (k, v) in &form {
        if k != "rule" {
            continue;
        }
        let (event, to) = v.split_once(':').unwrap_or_default();
        let event = NotifyEvent::ALL.into_iter().find(|e| e.as_str() == event);
        let to = Recipient::ALL.into_iter().find(|r| r.as_str() == to);
        match (event, to) {
            (Some(event), Some(to)) => rules.push(NotifyRule { event, to }),
            _ => return Err(AppError::BadRequest(format!("notification rule {v}"))),
        }
    }
    // One order whatever the form's, so equal policies are equal definitions.
    let rank = |r: &NotifyRule| {
        let e = NotifyEvent::ALL.iter().position(|x| *x == r.event);
        let t = Recipient::ALL.iter().position(|x| *x == r.to);
        (e, t)
    };
    rules.sort_by_key(rank);
    rules.dedup();
    let outcome = state
        .db
        .write(move |c| {
            let new_rev = processes::edit_draft(c, id, rev, actor, |def: &mut ProcessDef| {
                def.notifications = rules;
                Ok(())
            })?;
            processes::set_enabled(c, id, new_rev, enabled, actor)
        })
        .await;
    match outcome {
        Ok(()) => ctx.flash(FlashKind::Success, ctx.t("flash.notifications_saved")),
        Err(StoreError::Rule { key, .. }) => ctx.flash(FlashKind::Error, ctx.t(key)),
        Err(e) => return Err(e.into()),
    }
    Ok(see_other(&format!("/admin/processes/{id}/notifications")))
}

#[derive(serde::Deserialize)]
pub struct DeployForm {
    #[serde(default)]
    message: String,
    /// "Enable and deploy": a disabled process is enabled in the same step.
    #[serde(default)]
    enable: Option<String>,
}

/// Freezes the draft as the next version, or shows every problem in the way.
pub async fn deploy(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    CsrfForm(form): CsrfForm<DeployForm>,
) -> Result<HttpResponse, AppError> {
    let actor = ctx.require_admin()?.id;
    let id = ProcessId(path.into_inner());
    let mut errors = FieldErrors::new(ctx.lang);
    let message = match crate::domain::parse_note(&form.message) {
        Ok(m) => m,
        Err(k) => {
            errors.add("message", k);
            String::new()
        }
    };
    let mut deploy_problems = Vec::new();
    if errors.is_empty() {
        let msg = message.clone();
        let enable = form.enable.is_some();
        match state
            .db
            .write(move |c| processes::deploy(c, id, &msg, actor, enable))
            .await
        {
            Ok(Ok((_, number))) => {
                ctx.flash(
                    FlashKind::Success,
                    ctx.tf("flash.deployed", &[("n", &number.to_string())]),
                );
                return Ok(see_other(&format!(
                    "/admin/processes/{id}/versions/{number}"
                )));
            }
            Ok(Err(problems)) => {
                let draft = load(&ctx, &state, id).await?;
                deploy_problems = problems
                    .iter()
                    .map(|p| problem_text(ctx.lang, &draft.def, p))
                    .collect();
            }
            Err(e) => errors.absorb(e)?,
        }
    }
    let draft = load(&ctx, &state, id).await?;
    let page = StepPage {
        ctx,
        draft,
        message: form.message,
        errors,
        deploy_problems,
    };
    render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

#[derive(Template)]
#[template(path = "design/versions.html")]
struct VersionsPage {
    ctx: Ctx,
    draft: Draft,
    rows: Vec<VersionRow>,
}

pub async fn versions(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let id = ProcessId(path.into_inner());
    let draft = load(&ctx, &state, id).await?;
    let rows = state.db.read(move |c| processes::versions(c, id)).await?;
    render(&VersionsPage { ctx, draft, rows })
}

#[derive(Template)]
#[template(path = "design/version.html")]
struct VersionPage {
    ctx: Ctx,
    process_id: ProcessId,
    version: ProcessVersion,
    def: ProcessDef,
    diagram: String,
    json: String,
    /// The services in use that file the process, with their versions.
    services: Vec<super::ServiceUse>,
}

pub async fn version(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<(i32, i32)>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let (id, number) = path.into_inner();
    let process_id = ProcessId(id);
    let (version, roles, services) = state
        .db
        .read(move |c| {
            Ok((
                processes::version(c, process_id, number)?,
                crate::store::roles::names(c)?,
                crate::store::services::of_process(c, process_id)?,
            ))
        })
        .await?;
    let services = super::service_uses(ctx.lang, &services, &roles);
    let def = processes::parse_def(&version.definition)?;
    let json = serde_json::to_string_pretty(&def).map_err(|e| AppError::Unexpected(e.into()))?;
    let diagram = draw(ctx.lang, &def, &roles, None);
    render(&VersionPage {
        ctx,
        process_id,
        version,
        def,
        diagram,
        json,
        services,
    })
}
