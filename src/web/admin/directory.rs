//! Admin: company sign-in — who may sign in with a local password, which
//! directory groups hold which roles, the directory's settings, a button
//! to sync it now, and each sync's report.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::db::DbConn;
use crate::db::ids::{BusinessId, RoleId};
use crate::i18n::Lang;
use crate::ldap;
use crate::store::company::RoleChange;
use crate::store::directory_syncs::{self, SyncRow, Trigger};
use crate::store::group_roles::{self, GroupRole};
use crate::store::settings::{self, SignInPolicy};
use crate::store::{StoreResult, businesses, roles};
use crate::web::csrf::{CsrfForm, NoFields};
use crate::web::ctx::{Ctx, FlashKind, see_other};
use crate::web::forms::{FieldErrors, SelectOption, required_id};
use crate::web::{AppError, AppState, render, render_status};

#[derive(Debug, Default, Clone, Deserialize)]
pub struct GroupForm {
    #[serde(default)]
    group: String,
    #[serde(default)]
    role_id: String,
    /// "global" or a business id.
    #[serde(default)]
    business_id: String,
}

#[derive(Template)]
#[template(path = "admin/directory.html")]
struct DirectoryPage {
    ctx: Ctx,
    policy: SignInPolicy,
    /// The directory's settings worth showing, if one is configured.
    ldap: Option<Vec<(&'static str, String)>>,
    mappings: Vec<GroupRole>,
    syncs: Vec<SyncRow>,
    form: GroupForm,
    errors: FieldErrors,
    roles: Vec<SelectOption>,
    scopes: Vec<SelectOption>,
}

impl DirectoryPage {
    fn trigger(&self, sync: &SyncRow) -> String {
        trigger(&self.ctx, sync)
    }

    fn failure(&self, error: &str) -> String {
        failure(&self.ctx, error)
    }
}

/// How a sync began, in words.
fn trigger(ctx: &Ctx, sync: &SyncRow) -> String {
    ctx.t(&format!("directory.trigger_{}", sync.trigger))
        .into_owned()
}

/// A sync's failure in words: a message key, or the directory's own.
fn failure(ctx: &Ctx, error: &str) -> String {
    if error.starts_with("errors.") {
        ctx.t(error).into_owned()
    } else {
        error.to_string()
    }
}

fn scopes(c: &mut DbConn, lang: Lang) -> StoreResult<Vec<SelectOption>> {
    let mut scopes = vec![SelectOption::new("global", lang.t("assignments.global"))];
    scopes.extend(
        businesses::list(c)?
            .into_iter()
            .map(|b| SelectOption::new(b.id, b.name)),
    );
    Ok(scopes)
}

async fn page(
    ctx: Ctx,
    state: &AppState,
    form: GroupForm,
    errors: FieldErrors,
) -> Result<DirectoryPage, AppError> {
    let lang = ctx.lang;
    let (policy, mappings, syncs, roles, scopes) = state
        .db
        .read(move |c| {
            let roles = roles::list(c)?
                .iter()
                .map(|r| SelectOption::new(r.id, r.name(&lang)))
                .collect();
            Ok((
                settings::sign_in_policy(c)?,
                group_roles::list(c)?,
                directory_syncs::recent(c, 20)?,
                roles,
                scopes(c, lang)?,
            ))
        })
        .await?;
    let ldap = state.config.ldap.as_ref().map(|l| {
        vec![
            ("LDAP_URL", l.url.clone()),
            ("LDAP_STARTTLS", l.starttls.to_string()),
            ("LDAP_BIND_DN", l.bind_dn.clone()),
            ("LDAP_USER_BASE", l.user_base.clone()),
            ("LDAP_USER_FILTER", l.user_filter.clone()),
            ("LDAP_USERNAME_ATTRIBUTE", l.username_attribute.clone()),
            ("LDAP_MANAGER_ATTRIBUTE", l.manager_attribute.clone()),
            ("LDAP_GROUP_BASE", l.group_base.clone()),
            ("LDAP_GROUP_FILTER", l.group_filter.clone()),
            (
                "LDAP_SYNC_MINUTES",
                l.sync_every
                    .map(|d| d.num_minutes().to_string())
                    .unwrap_or_else(|| "0".into()),
            ),
        ]
    });
    Ok(DirectoryPage {
        ctx,
        policy,
        ldap,
        mappings,
        syncs,
        form,
        errors,
        roles,
        scopes,
    })
}

pub async fn show(ctx: Ctx, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let errors = FieldErrors::new(ctx.lang);
    render(&page(ctx, &state, GroupForm::default(), errors).await?)
}

#[derive(Deserialize)]
pub struct PolicyForm {
    #[serde(default)]
    policy: String,
}

pub async fn set_policy(
    ctx: Ctx,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<PolicyForm>,
) -> Result<HttpResponse, AppError> {
    let actor = ctx.require_admin()?.id;
    let Some(policy) = SignInPolicy::parse(form.policy.trim()) else {
        ctx.flash(FlashKind::Error, ctx.t("errors.unknown_choice"));
        return Ok(see_other("/admin/directory"));
    };
    state
        .db
        .write(move |c| settings::set_sign_in_policy(c, policy, actor))
        .await?;
    Ok(ctx.saved("flash.sign_in_policy_saved", "/admin/directory"))
}

pub async fn add_group(
    ctx: Ctx,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<GroupForm>,
) -> Result<HttpResponse, AppError> {
    let actor = ctx.require_admin()?.id;
    let mut errors = FieldErrors::new(ctx.lang);
    if form.group.trim().is_empty() {
        errors.add("group", "errors.required");
    }
    let role = errors.check("role_id", required_id::<RoleId>(&form.role_id));
    let business = errors.check(
        "business_id",
        match form.business_id.trim() {
            "global" => Ok(None),
            "" => Err("errors.required"),
            id => id
                .parse()
                .map(|b| Some(BusinessId(b)))
                .map_err(|_| "errors.unknown_choice"),
        },
    );
    if let (Some(role), Some(business), true) = (role, business, errors.is_empty()) {
        let group = form.group.clone();
        let written = state
            .db
            .write(move |c| group_roles::add(c, &group, role, business, actor))
            .await;
        if errors.saved(written)?.is_some() {
            return Ok(ctx.saved("flash.group_role_created", "/admin/directory#groups"));
        }
    }
    render_status(
        StatusCode::UNPROCESSABLE_ENTITY,
        &page(ctx, &state, form, errors).await?,
    )
}

pub async fn remove_group(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let actor = ctx.require_admin()?.id;
    let id = path.into_inner();
    let outcome = state
        .db
        .write(move |c| group_roles::remove(c, id, actor))
        .await;
    ctx.flash_outcome(outcome, "flash.group_role_deleted")?;
    Ok(see_other("/admin/directory#groups"))
}

/// Syncs the whole directory now and shows what it did.
pub async fn sync_now(
    ctx: Ctx,
    state: web::Data<AppState>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let actor = ctx.require_admin()?.id;
    let Some(directory) = &state.directory else {
        ctx.flash(FlashKind::Error, ctx.t("directory.not_configured"));
        return Ok(see_other("/admin/directory"));
    };
    let id = ldap::sync::everyone(&state.db, directory, Trigger::Admin, None, Some(actor)).await?;
    Ok(match id {
        Some(id) => see_other(&format!("/admin/directory/syncs/{id}")),
        None => {
            ctx.flash(FlashKind::Error, ctx.t("directory.already_running"));
            see_other("/admin/directory#syncs")
        }
    })
}

#[derive(Template)]
#[template(path = "admin/directory_sync.html")]
struct SyncPage {
    ctx: Ctx,
    sync: SyncRow,
    role_names: Vec<(i32, String, String)>,
    business_names: Vec<(i32, String)>,
}

impl SyncPage {
    /// "dba · Payments" or "admin · everywhere", in the reader's language.
    fn role(&self, change: &RoleChange) -> String {
        let role = self
            .role_names
            .iter()
            .find(|(id, _, _)| *id == change.role_id)
            .map(|(_, en, zh)| match self.ctx.lang {
                Lang::ZhCn => zh.clone(),
                Lang::En => en.clone(),
            })
            .unwrap_or_else(|| format!("#{}", change.role_id));
        let scope = match change.business_id {
            None => self.ctx.t("assignments.global").into_owned(),
            Some(b) => self
                .business_names
                .iter()
                .find(|(id, _)| *id == b)
                .map(|(_, name)| name.clone())
                .unwrap_or_else(|| format!("#{b}")),
        };
        format!("{role} · {scope}")
    }

    /// The people the sync created, updated, deactivated, or found
    /// deactivated here: (section id, heading, usernames).
    fn lists(&self) -> Vec<(&'static str, String, &[String])> {
        let r = &self.sync.report;
        [
            ("created", &r.created),
            ("updated", &r.updated),
            ("deactivated", &r.deactivated),
            ("inactive", &r.inactive),
        ]
        .into_iter()
        .map(|(key, names)| {
            let title = self.ctx.t(&format!("directory.{key}")).into_owned();
            (key, title, names.as_slice())
        })
        .collect()
    }

    fn skipped_why(&self, why: &str) -> String {
        self.ctx.t(&format!("directory.skipped_{why}")).into_owned()
    }

    fn trigger(&self) -> String {
        trigger(&self.ctx, &self.sync)
    }

    fn failure(&self, error: &str) -> String {
        failure(&self.ctx, error)
    }
}

pub async fn sync_report(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    ctx.require_admin()?;
    let id = path.into_inner();
    let (sync, role_names, business_names) = state
        .db
        .read(move |c| {
            let roles = roles::list(c)?
                .into_iter()
                .map(|r| (r.id.0, r.name_en, r.name_zh))
                .collect();
            let businesses = businesses::list(c)?
                .into_iter()
                .map(|b| (b.id.0, b.name))
                .collect();
            Ok((directory_syncs::find(c, id)?, roles, businesses))
        })
        .await?;
    render(&SyncPage {
        ctx,
        sync,
        role_names,
        business_names,
    })
}
