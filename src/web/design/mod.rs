//! The process designer (admins only): the three-step wizard over a draft
//! — 1 information, 2 nodes, gateways and fields, 3 notifications and deploy — plus
//! versions, clone, export and import.

pub mod fields;
pub mod gateways;
pub mod info;
pub mod nodes;
pub mod publish;

use actix_web::{HttpResponse, web};

use crate::db::ids::ProcessId;
use crate::db::models::Process;
use crate::flow::diagram::{self, Labels, NodeState};
use crate::flow::validate::{Arg, Problem};
use crate::flow::{HandlerRule, Mode, NodeKind, ProcessDef};
use crate::i18n::Lang;
use crate::store::roles::RoleNames;
use crate::store::{StoreError, StoreResult, processes};
use crate::web::ctx::{Ctx, FlashKind, see_other};
use crate::web::forms::FieldErrors;
use crate::web::{AppError, AppState};

pub fn routes(cfg: &mut web::ServiceConfig) {
    use web::{get, post};
    cfg.route("/admin/processes", get().to(info::list))
        .route("/admin/processes", post().to(info::create))
        .route("/admin/processes/new", get().to(info::new_form))
        .route("/admin/processes/import", get().to(info::import_form))
        .route("/admin/processes/import", post().to(info::import))
        .route("/admin/processes/{id}", get().to(info::show))
        .route("/admin/processes/{id}/info", get().to(info::info_form))
        .route("/admin/processes/{id}/info", post().to(info::update_info))
        .route("/admin/processes/{id}/clone", post().to(info::clone))
        .route("/admin/processes/{id}/export", get().to(info::export))
        .route("/admin/processes/{id}/nodes", get().to(nodes::step))
        .route("/admin/processes/{id}/nodes", post().to(nodes::add))
        .route(
            "/admin/processes/{id}/nodes/{key}",
            get().to(nodes::edit_form),
        )
        .route(
            "/admin/processes/{id}/nodes/{key}",
            post().to(nodes::update),
        )
        .route(
            "/admin/processes/{id}/nodes/{key}/move",
            post().to(nodes::move_node),
        )
        .route(
            "/admin/processes/{id}/nodes/{key}/remove",
            post().to(nodes::remove),
        )
        .route(
            "/admin/processes/{id}/nodes/{key}/handlers",
            post().to(nodes::add_handler),
        )
        .route(
            "/admin/processes/{id}/nodes/{key}/handlers/{i}/remove",
            post().to(nodes::remove_handler),
        )
        .route(
            "/admin/processes/{id}/nodes/{key}/cc",
            post().to(nodes::add_copy),
        )
        .route(
            "/admin/processes/{id}/nodes/{key}/cc/{i}/remove",
            post().to(nodes::remove_copy),
        )
        .route(
            "/admin/processes/{id}/cc",
            post().to(nodes::add_process_copy),
        )
        .route(
            "/admin/processes/{id}/cc/{i}/remove",
            post().to(nodes::remove_process_copy),
        )
        .route(
            "/admin/processes/{id}/nodes/{key}/conditions",
            post().to(nodes::add_predicate),
        )
        .route(
            "/admin/processes/{id}/nodes/{key}/conditions/{i}/remove",
            post().to(nodes::remove_predicate),
        )
        .route(
            "/admin/processes/{id}/nodes/{key}/access",
            post().to(nodes::set_access),
        )
        .route(
            "/admin/processes/{id}/nodes/{key}/branch",
            post().to(nodes::set_branch),
        )
        .route("/admin/processes/{id}/gateways", post().to(gateways::add))
        .route(
            "/admin/processes/{id}/gateways/{key}",
            get().to(gateways::show),
        )
        .route(
            "/admin/processes/{id}/gateways/{key}",
            post().to(gateways::rename),
        )
        .route(
            "/admin/processes/{id}/gateways/{key}/remove",
            post().to(gateways::remove),
        )
        .route(
            "/admin/processes/{id}/gateways/{key}/branches",
            post().to(gateways::add_branch),
        )
        .route(
            "/admin/processes/{id}/gateways/{key}/branches/{b}",
            post().to(gateways::rename_branch),
        )
        .route(
            "/admin/processes/{id}/gateways/{key}/branches/{b}/remove",
            post().to(gateways::remove_branch),
        )
        .route(
            "/admin/processes/{id}/gateways/{key}/branches/{b}/conditions",
            post().to(gateways::add_predicate),
        )
        .route(
            "/admin/processes/{id}/gateways/{key}/branches/{b}/conditions/{i}/remove",
            post().to(gateways::remove_predicate),
        )
        .route(
            "/admin/processes/{id}/nodes/{key}/fields",
            post().to(fields::add),
        )
        .route(
            "/admin/processes/{id}/nodes/{key}/fields/{field}",
            get().to(fields::edit_form),
        )
        .route(
            "/admin/processes/{id}/nodes/{key}/fields/{field}",
            post().to(fields::update),
        )
        .route(
            "/admin/processes/{id}/nodes/{key}/fields/{field}/move",
            post().to(fields::move_field),
        )
        .route(
            "/admin/processes/{id}/nodes/{key}/fields/{field}/remove",
            post().to(fields::remove),
        )
        .route(
            "/admin/processes/{id}/notifications",
            get().to(publish::step),
        )
        .route(
            "/admin/processes/{id}/notifications",
            post().to(publish::save),
        )
        .route("/admin/processes/{id}/deploy", post().to(publish::deploy))
        .route(
            "/admin/processes/{id}/versions",
            get().to(publish::versions),
        )
        .route(
            "/admin/processes/{id}/versions/{n}",
            get().to(publish::version),
        );
}

/// A draft as the wizard pages show it.
pub struct Draft {
    pub process: Process,
    pub def: ProcessDef,
    /// The services in use that file the process.
    pub services: Vec<ServiceUse>,
    /// The newest deployed version: its id and number.
    pub latest: Option<(crate::db::ids::VersionId, i32)>,
    pub problems: Vec<String>,
    pub diagram: String,
    /// Role names by code, for the rules' labels.
    pub roles: std::sync::Arc<RoleNames>,
}

impl Draft {
    pub fn id(&self) -> ProcessId {
        self.process.id
    }
}

/// A service that files a process, as the designer shows it: which
/// version it uses and who may file through it.
pub struct ServiceUse {
    pub id: crate::db::ids::ServiceId,
    pub name: String,
    pub version: i32,
    /// The roles that may file, by name, or that anyone may.
    pub who: String,
}

/// The services of a process with who may file through each.
pub fn service_uses(
    lang: Lang,
    rows: &[crate::store::services::ServiceRow],
    roles: &RoleNames,
) -> Vec<ServiceUse> {
    rows.iter()
        .map(|row| {
            let codes = row.service.roles();
            let who = if codes.is_empty() {
                lang.t("design.anyone_may_file").into_owned()
            } else {
                codes
                    .iter()
                    .map(|code| crate::store::roles::name_of(roles, code, lang))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            ServiceUse {
                id: row.service.id,
                name: row.service.name(&lang).to_string(),
                version: row.version_number,
                who,
            }
        })
        .collect()
}

pub async fn load(ctx: &Ctx, state: &AppState, id: ProcessId) -> Result<Draft, AppError> {
    let (process, def, problems, roles, services, latest) = state
        .db
        .read(move |c| {
            let (process, def) = processes::find_draft(c, id)?;
            let problems = processes::problems(c, &def)?;
            let services = crate::store::services::of_process(c, id)?;
            let latest = processes::versions(c, id)?
                .first()
                .map(|v| (v.version.id, v.version.number));
            Ok((
                process,
                def,
                problems,
                crate::store::roles::names(c)?,
                services,
                latest,
            ))
        })
        .await?;
    let lang = ctx.lang;
    Ok(Draft {
        services: service_uses(lang, &services, &roles),
        latest,
        problems: problems
            .iter()
            .map(|p| problem_text(lang, &def, p))
            .collect(),
        diagram: draw(lang, &def, &roles, None),
        process,
        def,
        roles,
    })
}

/// A problem's message with its arguments filled in.
pub fn problem_message(lang: Lang, p: &Problem) -> String {
    let args: Vec<(&str, String)> = p
        .args
        .iter()
        .map(|(name, arg)| {
            let value = match arg {
                Arg::Text(t) => t.clone(),
                Arg::Key(k) => lang.t(k).into_owned(),
            };
            (*name, value)
        })
        .collect();
    let args_ref: Vec<(&str, &str)> = args.iter().map(|(n, v)| (*n, v.as_str())).collect();
    lang.tf(p.key, &args_ref)
}

/// A problem as a sentence: "Node 3 (Ops lead approval): …".
pub fn problem_text(lang: Lang, def: &ProcessDef, p: &Problem) -> String {
    let message = problem_message(lang, p);
    match p
        .node
        .and_then(|n| def.nodes.get(n - 1).map(|node| (n, node)))
    {
        Some((n, node)) => {
            let at = lang.tf(
                "design.at_node",
                &[
                    ("n", &n.to_string()),
                    ("name", node.name.text(lang == Lang::ZhCn)),
                ],
            );
            lang.tf("design.problem_at", &[("at", &at), ("message", &message)])
        }
        None => message,
    }
}

pub fn kind_label(lang: Lang, kind: NodeKind) -> String {
    lang.t(&format!("node_kind.{}", kind.as_str())).into_owned()
}

pub fn mode_label(lang: Lang, mode: &Mode) -> String {
    match mode {
        Mode::Quorum { count: Some(n), .. } => {
            lang.tf("mode.quorum_count", &[("n", &n.to_string())])
        }
        Mode::Quorum {
            percent: Some(p), ..
        } => lang.tf("mode.quorum_percent", &[("p", &p.to_string())]),
        other => lang.t(&format!("mode.{}", other.as_str())).into_owned(),
    }
}

/// A handler rule as people read it: roles and fields by their names in
/// the reader's language ("role Operations lead within the ticket's
/// business", "people picked in Approvers").
pub fn handler_label(
    lang: Lang,
    rule: &HandlerRule,
    def: &ProcessDef,
    roles: &RoleNames,
) -> String {
    let zh = lang == Lang::ZhCn;
    let field = |key: &str| {
        def.field(key)
            .map(|f| f.label.text(zh).to_string())
            .unwrap_or_else(|| key.to_string())
    };
    match rule {
        HandlerRule::Users { usernames } => lang.tf(
            "handler.users_of",
            &[("names", &usernames.join(if zh { "、" } else { ", " }))],
        ),
        HandlerRule::Role {
            role,
            in_business: true,
        } => lang.tf(
            "handler.role_in_business_of",
            &[("role", crate::store::roles::name_of(roles, role, lang))],
        ),
        HandlerRule::Role {
            role,
            in_business: false,
        } => lang.tf(
            "handler.role_of",
            &[("role", crate::store::roles::name_of(roles, role, lang))],
        ),
        HandlerRule::Applicant => lang.t("handler.applicant").into_owned(),
        HandlerRule::ApplicantManager => lang.t("handler.applicant_manager").into_owned(),
        HandlerRule::ManagerChain { levels } => {
            lang.tn("handler.manager_chain_of", usize::from(*levels))
        }
        HandlerRule::MemberField { field: key } => {
            lang.tf("handler.member_field_of", &[("field", &field(key))])
        }
        HandlerRule::ResourceOwnersManagers { field: key } => lang.tf(
            "handler.resource_owners_managers_of",
            &[("field", &field(key))],
        ),
    }
}

/// The process drawn as SVG, in the reader's language.
pub fn draw(
    lang: Lang,
    def: &ProcessDef,
    roles: &RoleNames,
    states: Option<&std::collections::HashMap<String, NodeState>>,
) -> String {
    let kind = |k: NodeKind| kind_label(lang, k);
    let mode = |m: &Mode| mode_label(lang, m);
    let handler = |h: &HandlerRule| handler_label(lang, h, def, roles);
    let status = |s: diagram::NodeStatus| {
        lang.t(&format!("node_status.{}", format!("{s:?}").to_lowercase()))
            .into_owned()
    };
    let conditional = lang.t("design.conditional");
    let parallel = lang.t("design.gateway_parallel");
    let exclusive = lang.t("design.gateway_exclusive");
    let conditional_branch = lang.t("design.conditional_branch");
    let default_branch = lang.t("design.default_branch");
    let branch = |n: usize| lang.tf("design.gateways.branch_n", &[("n", &n.to_string())]);
    let labels = Labels {
        zh: lang == Lang::ZhCn,
        kind: &kind,
        mode: &mode,
        handler: &handler,
        conditional: &conditional,
        status: &status,
        parallel: &parallel,
        exclusive: &exclusive,
        conditional_branch: &conditional_branch,
        default_branch: &default_branch,
        branch: &branch,
    };
    diagram::render(def, &labels, states)
}

/// The revision a wizard form was filled against; unreadable means stale.
pub fn revision(input: &str) -> i32 {
    input.trim().parse().unwrap_or(-1)
}

/// What became of a change to a draft.
pub enum Outcome {
    Saved,
    /// A rule refused it; the messages belong beside the form's fields.
    Refused(FieldErrors),
    /// Someone saved the draft since this form was shown; nothing was
    /// saved, and a flash says so.
    Stale,
}

impl Outcome {
    /// The answer to a wizard form: saved, a flash of `saved_key` and on to
    /// `saved`; stale, back to `stale` (a flash says someone else changed
    /// the draft); refused, the messages for the form shown again.
    pub fn answer(
        self,
        ctx: &Ctx,
        saved_key: &str,
        saved: &str,
        stale: &str,
    ) -> Result<HttpResponse, FieldErrors> {
        match self {
            Outcome::Saved => {
                ctx.flash(FlashKind::Success, ctx.t(saved_key));
                Ok(see_other(saved))
            }
            Outcome::Stale => Ok(see_other(stale)),
            Outcome::Refused(errors) => Err(errors),
        }
    }
}

/// Applies `change` to the draft as it was at `revision`, in one transaction.
pub async fn edit<F>(
    ctx: &Ctx,
    state: &AppState,
    id: ProcessId,
    revision: i32,
    change: F,
) -> Result<Outcome, AppError>
where
    F: FnOnce(&mut ProcessDef) -> StoreResult<()> + Send + 'static,
{
    let actor = ctx.require_admin()?.id;
    match state
        .db
        .write(move |c| processes::edit_draft(c, id, revision, actor, change))
        .await
    {
        Ok(_) => Ok(Outcome::Saved),
        Err(StoreError::Rule {
            key: "errors.draft_changed",
            ..
        }) => {
            ctx.flash(FlashKind::Error, ctx.t("errors.draft_changed"));
            Ok(Outcome::Stale)
        }
        Err(e) => {
            let mut errors = FieldErrors::new(ctx.lang);
            errors.absorb(e)?;
            Ok(Outcome::Refused(errors))
        }
    }
}
