//! `POST /api/v1/services/{id}/tickets`: files a ticket as the token's
//! person (an `act` token), its fields given as JSON and validated exactly
//! as the service's form validates them; an `Idempotency-Key` makes a
//! retried request return the ticket the first one filed.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::bearer::Presented;
use super::problem::{FieldProblem, Problem};
use crate::db::ids::{BusinessId, ServiceId};
use crate::flow::form::{Values, parse_form, raw_from_values};
use crate::store::api_tokens::Scope;
use crate::store::audit::Channel;
use crate::store::directory::DbLookup;
use crate::store::{StoreError, businesses, processes, services, tickets, users};
use crate::web::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct FilingIn {
    /// Each field's value by key: text, a number, `true` for a ticked
    /// checkbox, a list for multi-value fields, `{"start", "end"}` for a
    /// date-time range.
    #[serde(default)]
    fields: serde_json::Map<String, serde_json::Value>,
    /// For a service whose process files within a business.
    #[serde(default)]
    business_id: Option<i32>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct Filed {
    id: i32,
    serial: String,
    /// The ticket's page.
    url: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/services/{id}/tickets",
    operation_id = "file_ticket",
    tag = "tickets",
    summary = "File a ticket",
    description = "Fields are validated as the form validates them; an Idempotency-Key makes a retry return the first filing. Needs an act token.",
    params(
        ("id" = i32, Path, description = "The service"),
        ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,200}$", max_length = 200, description = "A retry with the same key returns the first filing"),
    ),
    request_body(content = FilingIn, content_type = "application/json"),
    responses(
        (status = 201, description = "Filed", body = Filed),
        (status = 400, description = "A query or body that does not parse", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No token, or one unknown, expired, revoked or whose person was deactivated", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A read token, or a step that is not the person's", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Fields need correcting; errors point at each", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not there, or not there for this person", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable for the moment", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
pub async fn file(
    presented: Presented,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let lang = presented.lang;
    let input: FilingIn = super::body::json(&req, &body, lang)?;
    let key = super::body::idempotency_key(&req, lang)?;
    let id = ServiceId(path.into_inner());
    let submission = checked(&state, &presented, Scope::Act, id, input, key).await?;
    let submit_token = submission.submit_token.clone();
    let filed = match state
        .db
        .write(move |c| tickets::submit(c, &submission))
        .await
    {
        Ok(filed) => (filed.id, filed.serial),
        // The same key again: the ticket the first request filed.
        Err(StoreError::Rule {
            key: "errors.already_submitted",
            ..
        }) => state
            .db
            .read(move |c| tickets::by_submit_token(c, &submit_token))
            .await
            .map_err(|e| Problem::from_store(e, lang))?
            .ok_or_else(|| Problem::for_status(StatusCode::CONFLICT, lang))?,
        // A hard freeze refuses the window, beside `/fields/<window>`.
        Err(StoreError::Refused(refusal)) => {
            return Err(super::actions::refusal_problem(&refusal, lang, "/fields"));
        }
        Err(e) => return Err(Problem::from_store(e, lang)),
    };
    let (id, serial) = filed;
    let url = format!("/tickets/{id}");
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, url.clone()))
        .json(Filed {
            id: id.0,
            serial,
            url,
        }))
}

/// The filing `input` asks of service `id`, as the presented token's
/// person (the token checked, for `needed`, in the same read): the
/// service theirs to use, the values checked as its form checks them (a
/// 422 with a pointer to each bad one). With an `Idempotency-Key`, the
/// filing's submit token names it, as a double click's does, kept apart
/// per person: a retry meets the first filing.
async fn checked(
    state: &AppState,
    presented: &Presented,
    needed: Scope,
    id: ServiceId,
    input: FilingIn,
    key: Option<String>,
) -> Result<tickets::Submission, Problem> {
    let lang = presented.lang;
    let token = presented.clone();
    let read = state
        .db
        .read(move |c| {
            let (bearer, due) = match token.admit(c)? {
                Ok(admitted) => admitted,
                Err(problem) => return Ok(Err(problem)),
            };
            if let Err(problem) = bearer.require(needed) {
                return Ok(Err(problem));
            }
            let me = bearer.user;
            let user = users::find(c, me)?;
            let service = services::find(c, id)?;
            if !services::usable_by(c, &service, me)? {
                return Err(StoreError::NotFound);
            }
            let def = processes::definition(c, service.version_id)?;
            let fields = def.submit_fields();
            let given: Values = input.fields.clone().into_iter().collect();
            let mut problems: Vec<FieldProblem> = input
                .fields
                .keys()
                .filter(|k| !fields.iter().any(|f| &f.key == *k))
                .map(|k| FieldProblem::new(format!("/fields/{k}"), lang.t("api.unknown_field")))
                .collect();
            let parsed = parse_form(
                &fields,
                &raw_from_values(&fields, &given),
                &DbLookup::new(c).with_files(me, None),
            );
            let values = match parsed {
                Ok(values) => Some(values),
                Err(errors) => {
                    problems.extend(errors.iter().map(|(k, e)| {
                        FieldProblem::new(
                            format!("/fields/{k}"),
                            crate::web::ticket_form::error_text(lang, e),
                        )
                    }));
                    None
                }
            };
            let business = match (def.business_required, input.business_id) {
                (false, _) => None,
                (true, Some(b)) => match businesses::name_of(c, BusinessId(b))? {
                    Some(name) => Some((BusinessId(b), name)),
                    None => {
                        problems.push(FieldProblem::new(
                            "/business_id".into(),
                            lang.t("errors.unknown_choice"),
                        ));
                        None
                    }
                },
                (true, None) => {
                    problems.push(FieldProblem::new(
                        "/business_id".into(),
                        lang.t("errors.business_required"),
                    ));
                    None
                }
            };
            Ok(Ok((
                bearer, due, user, service, def, values, business, problems,
            )))
        })
        .await
        .map_err(|e| Problem::from_store(e, lang))??;
    let (bearer, due, user, service, def, values, business, problems) = read;
    presented.record_use(state, &bearer, due).await;
    let me = bearer.user;
    let submit_token = match &key {
        Some(key) => format!("api:{}:{key}", me.0),
        None => crate::token::random_hex::<16>(),
    };
    let Some(values) = values.filter(|_| problems.is_empty()) else {
        return Err(
            Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_fields", lang)
                .with_errors(problems),
        );
    };
    Ok(tickets::Submission {
        service: service.id,
        service_name: service.name(&lang).to_string(),
        version: service.version_id,
        def,
        applicant: me,
        applicant_username: user.username,
        business,
        values,
        submit_token,
        channel: Channel::Api,
    })
}

/// One step of a preview: who would be asked, or why it is left out.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PlannedStep {
    pub key: String,
    /// In the reader's language.
    pub name: String,
    pub kind: &'static str,
    /// `all`, `any`, `sequence`, … as the designer set it.
    pub mode: &'static str,
    /// Whether the step runs (a condition or an empty rule leaves it out).
    pub included: bool,
    pub people: Vec<PlannedPerson>,
    /// What the planner noticed (someone substituted or left out, a
    /// condition that does not hold), in the reader's language.
    pub notes: Vec<String>,
    /// The gateway branch the step runs in; absent on the main line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<PlannedBranch>,
}

/// The branch `node` runs in, if any, as the API names it.
pub(super) fn planned_branch(
    lang: crate::i18n::Lang,
    def: &crate::flow::ProcessDef,
    node: &crate::flow::NodeDef,
) -> Option<PlannedBranch> {
    let at = node.branch.as_ref()?;
    let gateway = def.gateway(&at.gateway)?;
    Some(PlannedBranch {
        gateway: gateway.key.clone(),
        kind: gateway.kind.as_str(),
        index: at.branch,
        name: crate::web::design::gateways::branch_name(lang, gateway, at.branch),
    })
}

/// Where a step runs: a branch of a parallel gateway (every branch runs
/// at once, the flow goes on when all are done) or of an exclusive one
/// (one branch is taken).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PlannedBranch {
    /// The gateway's key.
    pub gateway: String,
    /// `parallel` or `exclusive`.
    pub kind: &'static str,
    /// The branch's place in its gateway, from 0.
    pub index: usize,
    /// The branch's name in the reader's language.
    pub name: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PlannedPerson {
    pub username: String,
    pub display_name: String,
    /// Who acts for them now, when they delegate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acting: Option<String>,
}

#[utoipa::path(
    post,
    path = "/api/v1/services/{id}/preview",
    operation_id = "preview_ticket",
    tag = "tickets",
    summary = "Who would be asked",
    description = "The plan a filing with these fields would follow, without filing. Needs a read token.",
    params(
        ("id" = i32, Path, description = "The service"),
        ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,200}$", max_length = 200, description = "Accepted and ignored: a preview changes nothing"),
    ),
    request_body(content = FilingIn, content_type = "application/json"),
    responses(
        (status = 200, description = "The plan, step by step", body = Vec<PlannedStep>),
        (status = 400, description = "A query or body that does not parse", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No token, or one unknown, expired, revoked or whose person was deactivated", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Fields need correcting; errors point at each", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not there, or not there for this person", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable for the moment", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
pub async fn preview(
    presented: Presented,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let lang = presented.lang;
    let input: FilingIn = super::body::json(&req, &body, lang)?;
    super::body::idempotency_key(&req, lang)?;
    let id = ServiceId(path.into_inner());
    let submission = checked(&state, &presented, Scope::Read, id, input, None).await?;
    let (previewed, names, labels) = state
        .db
        .read(move |c| {
            let previewed = tickets::preview(c, &submission)?;
            if let Some(refusal) = tickets::filing::frozen(&submission.def, &previewed.check) {
                return Err(refusal.into());
            }
            let labels = crate::store::changes::item_labels(c, &previewed.check)?;
            let people: Vec<String> = previewed
                .plan
                .nodes
                .iter()
                .flat_map(|n| n.assignees.iter())
                .flat_map(|a| std::iter::once(a.user.clone()).chain(a.acting.clone()))
                .collect();
            let names = users::display_names(c, &people)?;
            Ok((previewed, names, labels))
        })
        .await
        .map_err(|e| match e {
            StoreError::Refused(refusal) => {
                super::actions::refusal_problem(&refusal, lang, "/fields")
            }
            e => Problem::from_store(e, lang),
        })?;
    let tickets::filing::Previewed { plan, def, check } = previewed;
    let zh = lang == crate::i18n::Lang::ZhCn;
    let name = |u: &str| names.get(u).cloned().unwrap_or_else(|| u.to_string());
    let steps: Vec<PlannedStep> = plan
        .nodes
        .iter()
        .zip(&def.nodes)
        .skip(1)
        .map(|(p, node)| PlannedStep {
            key: p.key.clone(),
            name: node.name.text(zh).to_string(),
            kind: p.kind.as_str(),
            mode: p.mode.as_str(),
            included: p.included,
            people: p
                .assignees
                .iter()
                .map(|a| PlannedPerson {
                    username: a.user.clone(),
                    display_name: name(&a.user),
                    acting: a.acting.clone(),
                })
                .collect(),
            branch: planned_branch(lang, &def, node),
            notes: crate::web::tickets::plan_notes(lang, &def, &name, p)
                .into_iter()
                .chain(crate::web::change_view::added_step_notes(
                    lang, &check, &labels, &p.key,
                ))
                .collect(),
        })
        .collect();
    Ok(HttpResponse::Ok().json(steps))
}
