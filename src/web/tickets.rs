//! Filing a ticket from a service: the form of its submit node, a preview
//! of who will be asked (skipped and substituted nodes with reasons), and
//! the submission itself — a double-clicked submit files one ticket.

use std::collections::{BTreeMap, HashMap};

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::ctx::{Ctx, FlashKind, SignedIn, random_token, see_other};
use super::forms::SelectOption;
use super::ticket_form::{FieldView, hidden_pairs, raw_map, views};
use super::{AppError, AppState, render, render_status};
use crate::db::DbConn;
use crate::db::ids::{BusinessId, ServiceId, UserId};
use crate::db::models::{Resource, Service};
use crate::flow::form::{FieldError, Values, parse_form};
use crate::flow::plan::{Note, Plan, Skip};
use crate::flow::{FieldKind, ProcessDef};
use crate::i18n::Lang;
use crate::store::audit::Channel;
use crate::store::directory::DbLookup;
use crate::store::tickets::{self, Submission};
use crate::store::{StoreError, StoreResult, businesses, processes, resources, services};

/// What filing a ticket for a service needs to know.
struct Context {
    service: Service,
    def: std::sync::Arc<ProcessDef>,
    version_number: i32,
    businesses: Vec<SelectOption>,
    resources: Vec<Resource>,
    roles: std::sync::Arc<crate::store::roles::RoleNames>,
}

/// The service `me` may use, with what its form offers to choose from.
fn load(c: &mut DbConn, id: ServiceId, me: UserId) -> StoreResult<Context> {
    let mut context = load_service(c, id, me)?;
    load_choices(c, &mut context)?;
    Ok(context)
}

/// The service `me` may use, its choices not yet read.
fn load_service(c: &mut DbConn, id: ServiceId, me: UserId) -> StoreResult<Context> {
    let service = services::find(c, id)?;
    let usable = services::usable_by(c, &service, me)?;
    context_of(c, service, usable)
}

/// What the form of `service` needs, if `usable` by whoever asks.
fn context_of(c: &mut DbConn, service: Service, usable: bool) -> StoreResult<Context> {
    if !usable {
        return Err(StoreError::NotFound);
    }
    let def = processes::definition(c, service.version_id)?;
    let version_number = processes::version_number(c, service.version_id)?;
    Ok(Context {
        service,
        def,
        version_number,
        businesses: Vec::new(),
        resources: Vec::new(),
        roles: crate::store::roles::names(c)?,
    })
}

/// The businesses and resources the form offers, when it asks for them.
fn load_choices(c: &mut DbConn, context: &mut Context) -> StoreResult<()> {
    if context.def.business_required {
        context.businesses = businesses::list(c)?
            .into_iter()
            .map(|b| SelectOption::new(b.id, b.name))
            .collect();
    }
    if context
        .def
        .fields()
        .any(|(_, f)| f.kind == FieldKind::Resource)
    {
        context.resources = resources::list(c)?
            .into_iter()
            .map(|r| r.resource)
            .collect();
    }
    Ok(())
}

/// `context` with its form's choices read, to show the form again.
async fn with_choices(state: &AppState, context: Context) -> Result<Context, AppError> {
    Ok(state
        .db
        .read(move |conn| {
            let mut context = context;
            load_choices(conn, &mut context)?;
            Ok(context)
        })
        .await?)
}

#[derive(Template)]
#[template(path = "tickets/new.html")]
struct FormPage {
    ctx: Ctx,
    service: Service,
    def: std::sync::Arc<ProcessDef>,
    version_number: i32,
    diagram: String,
    fields: Vec<FieldView>,
    businesses: Vec<SelectOption>,
    business_id: String,
    business_error: Option<String>,
    submit_token: String,
}

/// One node of the preview: who will be asked, or why nobody will.
pub struct PreviewNode {
    pub name: String,
    pub kind: String,
    pub included: bool,
    /// Each person asked: their name, and their username for the hover
    /// text; with a stand-in, "Lin Tao for He Jun".
    pub people: Vec<(String, String)>,
    pub notes: Vec<String>,
    /// Before the first step of a gateway: what the gateway does ("these
    /// two branches run at once…").
    pub group: Option<String>,
    /// The branch the step runs in, if any.
    pub branch: Option<String>,
}

#[derive(Template)]
#[template(path = "tickets/preview.html")]
struct PreviewPage {
    ctx: Ctx,
    service: Service,
    /// Warnings: a date-time range of the form that has already begun.
    begun: Vec<String>,
    /// The change's window, the freezes it touches, the changes it overlaps.
    change: Option<super::change_view::ChangePanel>,
    nodes: Vec<PreviewNode>,
    hidden: Vec<(String, String)>,
    business_id: String,
    submit_token: String,
}

pub async fn new_form(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<i32>,
) -> Result<HttpResponse, AppError> {
    let me = ctx.require_user()?.id;
    let id = ServiceId(path.into_inner());
    let c = state.db.read(move |c| load(c, id, me)).await?;
    let defaults: HashMap<String, Vec<String>> = c
        .def
        .submit_fields()
        .iter()
        .filter_map(|f| f.default.clone().map(|d| (f.key.clone(), vec![d])))
        .collect();
    let fields = views(
        ctx.lang,
        &c.def.submit_fields(),
        &defaults,
        &BTreeMap::new(),
        &c.resources,
    );
    let diagram = super::design::draw(ctx.lang, &c.def, &c.roles, None);
    let business_id = c
        .businesses
        .first()
        .map(|b| b.value.clone())
        .unwrap_or_default();
    render(&FormPage {
        ctx,
        diagram,
        fields,
        business_id,
        business_error: None,
        submit_token: random_token(),
        businesses: c.businesses,
        service: c.service,
        def: c.def,
        version_number: c.version_number,
    })
}

fn value_of<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_default()
}

/// Words for a planning note, with people by their names.
fn note_text(lang: Lang, def: &ProcessDef, name: &dyn Fn(&str) -> String, note: &Note) -> String {
    match note {
        Note::ConditionFalse => lang.t("plan.condition_false").into_owned(),
        Note::BranchNotTaken { gateway, taken } => {
            let gateway = def.gateway(gateway);
            let branch = gateway
                .map(|g| super::design::gateways::branch_name(lang, g, *taken))
                .unwrap_or_default();
            let gateway = gateway
                .map(|g| g.name.text(lang == Lang::ZhCn))
                .unwrap_or_default();
            lang.tf(
                "plan.branch_not_taken",
                &[("gateway", gateway), ("branch", &branch)],
            )
        }
        Note::NoneFound => lang.t("plan.none_found").into_owned(),
        Note::RoutedToAdmins => lang.t("plan.routed_to_admins").into_owned(),
        Note::SelfReplaced { manager } => {
            lang.tf("plan.self_replaced", &[("manager", &name(manager))])
        }
        Note::SelfRemoved => lang.t("plan.self_removed").into_owned(),
        Note::Inactive { user } => lang.tf("plan.inactive", &[("user", &name(user))]),
        Note::Delegated { from, to } => lang.tf(
            "plan.delegated",
            &[("from", &name(from)), ("to", &name(to))],
        ),
        Note::Unresolved { .. } => lang.t("plan.unresolved").into_owned(),
        Note::Deduplicated { user, earlier } => {
            let node = def
                .node(earlier)
                .map(|n| n.name.text(lang == Lang::ZhCn))
                .unwrap_or(earlier);
            lang.tf(
                "plan.deduplicated",
                &[("user", &name(user)), ("node", node)],
            )
        }
    }
}

/// Everyone a plan names, by username.
fn planned_people(plan: &Plan) -> Vec<String> {
    let mut people: Vec<String> = Vec::new();
    for node in &plan.nodes {
        for a in &node.assignees {
            people.push(a.user.clone());
            people.extend(a.acting.clone());
        }
        for note in &node.notes {
            match note {
                Note::SelfReplaced { manager } => people.push(manager.clone()),
                Note::Inactive { user } | Note::Deduplicated { user, .. } => {
                    people.push(user.clone())
                }
                Note::Delegated { from, to } => people.extend([from.clone(), to.clone()]),
                _ => {}
            }
        }
    }
    people.sort();
    people.dedup();
    people
}

fn preview_nodes(
    lang: Lang,
    def: &ProcessDef,
    plan: &Plan,
    names: &HashMap<String, String>,
) -> Vec<PreviewNode> {
    let zh = lang == Lang::ZhCn;
    let name = |username: &str| {
        names
            .get(username)
            .cloned()
            .unwrap_or_else(|| username.to_string())
    };
    plan.nodes
        .iter()
        .zip(&def.nodes)
        .skip(1)
        .map(|(p, node)| PreviewNode {
            name: node.name.text(zh).to_string(),
            kind: super::design::kind_label(lang, node.kind),
            included: p.included,
            people: p
                .assignees
                .iter()
                .map(|a| match &a.acting {
                    Some(d) => (
                        lang.tf(
                            "plan.acting",
                            &[("user", &name(&a.user)), ("delegate", &name(d))],
                        ),
                        format!("{d} → {}", a.user),
                    ),
                    None => (name(&a.user), a.user.clone()),
                })
                .collect(),
            notes: plan_notes(lang, def, &name, p),
            group: gateway_heading(lang, def, plan, node),
            branch: node.branch.as_ref().and_then(|at| {
                let gateway = def.gateway(&at.gateway)?;
                Some(lang.tf(
                    "plan.in_branch",
                    &[(
                        "branch",
                        &super::design::gateways::branch_name(lang, gateway, at.branch),
                    )],
                ))
            }),
        })
        .collect()
}

/// What the gateway `node` opens does, when `node` is its first step: its
/// branches run at once, or one of them (named) is taken.
fn gateway_heading(
    lang: Lang,
    def: &ProcessDef,
    plan: &Plan,
    node: &crate::flow::NodeDef,
) -> Option<String> {
    let at = node.branch.as_ref()?;
    let first = def.nodes.iter().find(|n| n.in_gateway(&at.gateway))?;
    if first.key != node.key {
        return None;
    }
    let gateway = def.gateway(&at.gateway)?;
    let name = gateway.name.text(lang == Lang::ZhCn);
    let separator = if lang == Lang::ZhCn { "、" } else { ", " };
    Some(match gateway.kind {
        crate::flow::GatewayKind::Parallel => lang.tf(
            "plan.parallel_group",
            &[
                ("gateway", name),
                ("count", &gateway.branches.len().to_string()),
                (
                    "branches",
                    &(0..gateway.branches.len())
                        .map(|i| super::design::gateways::branch_name(lang, gateway, i))
                        .collect::<Vec<_>>()
                        .join(separator),
                ),
            ],
        ),
        crate::flow::GatewayKind::Exclusive => {
            // The branch whose steps are not left out as not taken.
            let taken = def
                .nodes
                .iter()
                .zip(&plan.nodes)
                .filter(|(n, _)| n.in_gateway(&at.gateway))
                .find(|(_, p)| p.skip != Some(Skip::BranchNotTaken))
                .and_then(|(n, _)| n.branch.as_ref().map(|b| b.branch))
                .unwrap_or(0);
            lang.tf(
                "plan.exclusive_group",
                &[
                    ("gateway", name),
                    (
                        "branch",
                        &super::design::gateways::branch_name(lang, gateway, taken),
                    ),
                ],
            )
        }
    })
}

/// What the planner noticed about one step, in `lang`.
pub(crate) fn plan_notes(
    lang: Lang,
    def: &ProcessDef,
    name: &dyn Fn(&str) -> String,
    p: &crate::flow::plan::PlannedNode,
) -> Vec<String> {
    p.notes
        .iter()
        .map(|n| note_text(lang, def, name, n))
        .chain(match p.skip {
            Some(Skip::Condition) if p.notes.is_empty() => {
                Some(lang.t("plan.condition_false").into_owned())
            }
            _ => None,
        })
        .collect()
}

/// Form, preview and submit are one address; the button pressed (`intent`)
/// says which: `preview` (default), `edit` (back to the form) or `submit`.
pub async fn post(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    req: actix_web::HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, AppError> {
    let id = ServiceId(path.into_inner());
    let uploader = signed_in
        .user_id()
        .ok_or_else(|| AppError::SignInRequired {
            next: req.path().to_string(),
        })?;
    let sent = super::upload::read(&req, body, &state, uploader).await?;
    let pairs = sent.pairs;
    let refused = sent.refused;
    let raw = raw_map(&pairs);
    let intent = value_of(&pairs, "intent").to_string();
    let submit_token = match value_of(&pairs, "submit_token") {
        "" => random_token(),
        t => t.to_string(),
    };
    let business_input = value_of(&pairs, "business_id").to_string();

    // Who is signed in, what the service needs, the values parsed and the
    // business chosen, in one unit of work; the form's choices are read
    // only when the form is shown again.
    let raw_for_parse = raw.clone();
    let chosen: Option<BusinessId> = business_input.trim().parse().ok().map(BusinessId);
    let editing = intent == "edit";
    let (ctx, (c, parsed, chosen, file_names)) = signed_in
        .read_with(move |conn, key| {
            // The person, the service, whether it is theirs to use, and the
            // business chosen (on PostgreSQL one statement).
            let Some(services::ForFiling {
                user,
                service,
                usable,
                business: name,
            }) = services::for_filing(conn, id, key, chosen)?
            else {
                return Ok(None);
            };
            let mut c = context_of(conn, service, usable)?;
            let mut parsed: Result<Values, BTreeMap<String, FieldError>> = parse_form(
                &c.def.submit_fields(),
                &raw_for_parse,
                &DbLookup::new(conn).with_files(key.user, None),
            );
            // A file not kept as it arrived is said beside its field.
            if !refused.is_empty() {
                let mut errors = parsed.err().unwrap_or_default();
                for (field, error) in refused {
                    errors.insert(field, error);
                }
                parsed = Err(errors);
            }
            let chosen = match (chosen, name) {
                (Some(b), Some(name)) if c.def.business_required => Some((b, name)),
                _ => None,
            };
            let mut file_names = HashMap::new();
            if editing || parsed.is_err() || (c.def.business_required && chosen.is_none()) {
                load_choices(conn, &mut c)?;
                file_names = crate::store::attachments::names_for(
                    conn,
                    &c.def.submit_fields(),
                    &raw_for_parse,
                    key.user,
                )?;
            }
            Ok(Some((user, (c, parsed, chosen, file_names))))
        })
        .await?;
    let user = ctx.require_user()?.clone();
    let lang = ctx.lang;
    let business = match (c.def.business_required, chosen) {
        (false, _) => Ok(None),
        (true, Some(b)) => Ok(Some(b)),
        (true, None) => Err(lang.t("errors.business_required").into_owned()),
    };

    let show_form = |ctx: Ctx,
                     errors: BTreeMap<String, FieldError>,
                     business_error: Option<String>,
                     c: Context| {
        let mut fields = views(
            ctx.lang,
            &c.def.submit_fields(),
            &raw,
            &errors,
            &c.resources,
        );
        super::ticket_form::name_files(&mut fields, &file_names);
        let diagram = super::design::draw(ctx.lang, &c.def, &c.roles, None);
        FormPage {
            ctx,
            diagram,
            fields,
            business_id: business_input.clone(),
            business_error,
            submit_token: submit_token.clone(),
            businesses: c.businesses,
            service: c.service,
            def: c.def,
            version_number: c.version_number,
        }
    };

    let (values, business) = match (parsed, business, intent.as_str()) {
        (_, _, "edit") => return render(&show_form(ctx, BTreeMap::new(), None, c)),
        (Ok(values), Ok(business), _) => (values, business),
        (parsed, business, _) => {
            let errors = parsed.err().unwrap_or_default();
            let page = show_form(ctx, errors, business.err(), c);
            return render_status(StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
    };

    let submission = Submission {
        service: c.service.id,
        service_name: c.service.name(&lang).to_string(),
        version: c.service.version_id,
        def: c.def.clone(),
        applicant: user.id,
        applicant_username: user.username.clone(),
        business: business.clone(),
        values,
        submit_token: submit_token.clone(),
        channel: Channel::Web,
    };
    if intent == "submit" {
        let filed = match state
            .db
            .write(move |conn| tickets::submit(conn, &submission))
            .await
        {
            Ok(filed) => filed,
            // A hard freeze refuses the window: the form again, as typed,
            // with the freeze named beside the window.
            Err(StoreError::Refused(refusal)) if refusal.field_errors().is_some() => {
                let errors = refusal.field_errors().cloned().unwrap_or_default();
                let c = with_choices(&state, c).await?;
                let page = show_form(ctx, errors, None, c);
                return render_status(StatusCode::UNPROCESSABLE_ENTITY, &page);
            }
            // The other click of a double click got there first: show its ticket.
            Err(StoreError::Rule {
                key: "errors.already_submitted",
                ..
            }) => {
                let token = submit_token.clone();
                let (id, serial) = state
                    .db
                    .read(move |conn| tickets::by_submit_token(conn, &token))
                    .await?
                    .ok_or(AppError::NotFound)?;
                tickets::Filed {
                    id,
                    serial,
                    fresh: false,
                }
            }
            Err(e) => return Err(e.into()),
        };
        if filed.fresh {
            ctx.flash(FlashKind::Success, ctx.t("flash.ticket_submitted"));
        } else {
            // Back and Submit again (or a double click): the form was filed once.
            ctx.flash(
                FlashKind::Error,
                ctx.tf("flash.already_submitted", &[("serial", &filed.serial)]),
            );
        }
        return Ok(see_other(&format!("/tickets/{}", filed.id)));
    }
    // A change window already begun is allowed (an emergency is filed
    // late) but said plainly before submitting.
    let begun: Vec<String> =
        crate::flow::form::ranges_begun(&c.def.submit_fields(), &submission.values, state.db.now())
            .into_iter()
            .map(|(field, start)| {
                ctx.tf(
                    "tickets.window_begun",
                    &[
                        ("field", field.label.text(lang == Lang::ZhCn)),
                        ("start", &format!("{} UTC", start.format("%Y-%m-%d %H:%M"))),
                    ],
                )
            })
            .collect();
    let (previewed, names, labels, frozen) = state
        .db
        .read(move |conn| {
            let previewed = tickets::preview(conn, &submission)?;
            let frozen = tickets::filing::frozen(&submission.def, &previewed.check);
            let names = crate::store::users::display_names(conn, &planned_people(&previewed.plan))?;
            let labels = crate::store::changes::item_labels(conn, &previewed.check)?;
            Ok((previewed, names, labels, frozen))
        })
        .await?;
    // A hard freeze would refuse it: back to the form, the freeze named
    // beside the window, before anyone presses Submit.
    if let Some(errors) = frozen.as_ref().and_then(|r| r.field_errors()) {
        let errors = errors.clone();
        let c = with_choices(&state, c).await?;
        let page = show_form(ctx, errors, None, c);
        return render_status(StatusCode::UNPROCESSABLE_ENTITY, &page);
    }
    let mut nodes = preview_nodes(lang, &previewed.def, &previewed.plan, &names);
    for (node, planned) in nodes.iter_mut().zip(previewed.plan.nodes.iter().skip(1)) {
        node.notes.extend(super::change_view::added_step_notes(
            lang,
            &previewed.check,
            &labels,
            &planned.key,
        ));
    }
    let change = super::change_view::panel(lang, &previewed.check, &labels);
    render(&PreviewPage {
        ctx,
        service: c.service,
        begun,
        change,
        nodes,
        hidden: hidden_pairs(&raw),
        business_id: business_input.clone(),
        submit_token,
    })
}
