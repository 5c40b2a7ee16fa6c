//! `GET /api/v1/tickets/{id}`: a ticket as its page shows it — fields,
//! nodes with their people and decisions, status and timeline — for
//! someone who may see it; for anyone else it is not there.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::value::RawValue;

use super::PersonOut;
use super::bearer::Presented;
use super::problem::Problem;
use crate::db::ids::ApplyId;
use crate::i18n::Lang;
use crate::store::ticket_views;
use crate::store::{StoreError, users};
use crate::web::AppState;

#[derive(Serialize, utoipa::ToSchema)]
struct TicketOut {
    id: i32,
    serial: String,
    title: String,
    kind: &'static str,
    status: &'static str,
    /// A finished review's outcome, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<&'static str>,
    service: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    business: Option<String>,
    applicant: PersonOut,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    finished_at: Option<DateTime<Utc>>,
    /// The form's values by field key, as stored.
    #[schema(value_type = Object)]
    fields: crate::flow::form::Values,
    nodes: Vec<NodeOut>,
    events: Vec<EventOut>,
    /// The people it is copied to (抄送): they may read it and decide nothing.
    copies: Vec<CopyOut>,
    /// The files on it (a file field's, or a comment's), each downloaded
    /// from its `url` (with the token) by whoever may read the ticket.
    attachments: Vec<FileOut>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct FileOut {
    id: i32,
    name: String,
    size: i64,
    content_type: String,
    /// The field it was sent in; none for a comment's.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
    url: String,
}

#[derive(Serialize, utoipa::ToSchema)]
struct CopyOut {
    person: PersonOut,
    /// When they were last told.
    told_at: DateTime<Utc>,
    /// Whether they have opened the ticket's page since.
    read: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
struct NodeOut {
    key: String,
    /// In the reader's language.
    name: String,
    kind: &'static str,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    started_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    decided_at: Option<DateTime<Utc>>,
    /// The step's deadline, when its node has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    due_at: Option<DateTime<Utc>>,
    /// When the step was found past its deadline.
    #[serde(skip_serializing_if = "Option::is_none")]
    overdue_at: Option<DateTime<Utc>>,
    people: Vec<AssigneeOut>,
    /// The gateway branch the step runs in; absent on the main line.
    #[serde(skip_serializing_if = "Option::is_none")]
    branch: Option<super::filing::PlannedBranch>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct AssigneeOut {
    /// The assignment, for acting on it.
    id: i32,
    person: PersonOut,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    decision: Option<&'static str>,
    /// Who acted, when it was someone standing in.
    #[serde(skip_serializing_if = "Option::is_none")]
    acted_by: Option<PersonOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    channel: Option<&'static str>,
    #[serde(skip_serializing_if = "String::is_empty")]
    comment: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    decided_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct EventOut {
    at: DateTime<Utc>,
    action: String,
    channel: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    actor: Option<PersonOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    on_behalf_of: Option<PersonOut>,
    /// As the event recorded it (JSON, passed on as stored).
    #[schema(value_type = Object)]
    detail: Box<RawValue>,
}

#[utoipa::path(
    get,
    path = "/api/v1/tickets/{id}",
    operation_id = "get_ticket",
    tag = "tickets",
    summary = "A ticket",
    description = "Its fields, nodes with their people and decisions, status and timeline.",
    params(
        ("id" = i32, Path, description = "The ticket"),
    ),
    responses(
        (status = 200, description = "The ticket", body = TicketOut),
        (status = 400, description = "A query or body that does not parse", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No token, or one unknown, expired, revoked or whose person was deactivated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not there, or not there for this person", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable for the moment", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
pub async fn show(
    presented: Presented,
    state: web::Data<AppState>,
    path: web::Path<i32>,
) -> Result<HttpResponse, Problem> {
    let lang = presented.lang;
    let id = ApplyId(path.into_inner());
    // The token is checked in the read itself: one unit of work.
    let token = presented.clone();
    let (bearer, due, (view, def), files) = state
        .db
        .read(move |c| {
            let (bearer, due) = match token.admit(c)? {
                Ok(admitted) => admitted,
                Err(problem) => return Ok(Err(problem)),
            };
            let me = bearer.user;
            // The ticket, then whether its reader may see it — the page's
            // own rule, its applicant and people answered from the ticket
            // as read, an administrator or a stand-in asked after.
            let view = ticket_views::ticket(c, id)?;
            let theirs = view.apply.applicant_id == me
                || view
                    .nodes
                    .iter()
                    .flat_map(|n| &n.people)
                    .any(|(a, _, _)| a.user_id == me || a.acted_by == Some(me));
            if !theirs {
                let admin = users::is_admin(c, me)?;
                if !ticket_views::may_view(c, &view.apply, me, admin)? {
                    return Err(StoreError::NotFound);
                }
            }
            let files = if view.apply.attached {
                crate::store::attachments::of_ticket(c, view.apply.id)?
            } else {
                Vec::new()
            };
            // Parsed once per version and kept: no statement of its own.
            let def = crate::store::tickets::def_of(c, &view.apply)?;
            Ok(Ok((bearer, due, (view, def), files)))
        })
        .await
        .map_err(|e| Problem::from_store(e, lang))??;
    presented.record_use(&state, &bearer, due).await;
    let zh = lang == Lang::ZhCn;
    let apply = view.apply;
    let ((service_en, service_zh), business) = view.filed;
    let body = TicketOut {
        id: apply.id.0,
        serial: apply.serial,
        title: apply.title,
        kind: apply.kind.as_str(),
        status: apply.status.as_str(),
        outcome: apply.outcome.map(|o| o.as_str()),
        service: if zh && !service_zh.trim().is_empty() {
            service_zh
        } else {
            service_en
        },
        business,
        applicant: view.applicant.into(),
        created_at: apply.created_at.and_utc(),
        updated_at: apply.updated_at.and_utc(),
        finished_at: apply.finished_at.map(|t| t.and_utc()),
        fields: apply.form.0,
        attachments: files
            .into_iter()
            .map(|f| FileOut {
                url: format!("/api/v1/attachments/{}", f.id),
                id: f.id.0,
                name: f.name,
                size: f.size,
                content_type: f.content_type,
                field: f.field_key,
            })
            .collect(),
        copies: view
            .copies
            .into_iter()
            .map(|c| CopyOut {
                person: c.person.into(),
                told_at: c.told_at.and_utc(),
                read: c.read,
            })
            .collect(),
        nodes: view
            .nodes
            .into_iter()
            .map(|n| NodeOut {
                branch: def
                    .node(&n.node.node_key)
                    .and_then(|node| super::filing::planned_branch(lang, &def, node)),
                name: if zh && !n.node.name_zh.trim().is_empty() {
                    n.node.name_zh
                } else {
                    n.node.name_en
                },
                key: n.node.node_key,
                kind: n.node.kind.as_str(),
                status: n.node.status.as_str(),
                started_at: n.node.started_at.map(|t| t.and_utc()),
                decided_at: n.node.decided_at.map(|t| t.and_utc()),
                due_at: n.node.due_at.map(|t| t.and_utc()),
                overdue_at: n.node.overdue_at.map(|t| t.and_utc()),
                people: n
                    .people
                    .into_iter()
                    .map(|(x, person, acted_by)| AssigneeOut {
                        id: x.id.0,
                        person: person.into(),
                        status: x.status.as_str(),
                        decision: x.decision.map(|d| d.as_str()),
                        acted_by: acted_by.map(PersonOut::from),
                        channel: x.channel.map(|c| c.as_str()),
                        comment: x.comment,
                        decided_at: x.decided_at.map(|t| t.and_utc()),
                    })
                    .collect(),
            })
            .collect(),
        events: view
            .events
            .into_iter()
            .map(|(e, actor, for_whom)| EventOut {
                at: e.at.and_utc(),
                channel: e.channel.as_str(),
                // Stored as JSON text: passed on without a parse.
                detail: RawValue::from_string(e.detail)
                    .unwrap_or_else(|_| RawValue::NULL.to_owned()),
                action: e.action,
                actor: actor.map(PersonOut::from),
                on_behalf_of: for_whom.map(PersonOut::from),
            })
            .collect(),
    };
    Ok(HttpResponse::Ok().json(body))
}
