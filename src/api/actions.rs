//! `POST /api/v1/tickets/{id}/actions`: every action the ticket page
//! offers — approve, reject, send back, complete, hand over, comment,
//! withdraw, urge, resubmit, copy — taken through the one door as the token's
//! person (an `act` token) with channel `api`, and each refusal answered
//! as a problem: 404 for a ticket not there for them, 403 for a step not
//! theirs, 409 for one someone got to first (saying who, what and when),
//! 422 with a pointer to each bad part, 429 for urging too soon.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::bearer::Presented;
use super::body::{self, Answer, Failed};
use super::problem::{FieldProblem, Problem};
use crate::db::ids::{ApplyId, ApproveUserId, UserId};
use crate::flow::added::Placement;
use crate::flow::form::raw_from_json;
use crate::i18n::Lang;
use crate::refusal::{Became, Refusal};
use crate::store::api_tokens::Scope;
use crate::store::audit::Channel;
use crate::store::tickets::{self, Act, Action, Decision, Done};
use crate::store::{StoreError, users};
use crate::web::AppState;

type Fields = serde_json::Map<String, serde_json::Value>;

/// An action, named by `action`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum ActionIn {
    Approve {
        assignment: i32,
        #[serde(default)]
        comment: String,
    },
    /// Says why, in `comment`.
    Reject {
        assignment: i32,
        #[serde(default)]
        comment: String,
    },
    /// Back to the applicant to correct the form — or, where the step
    /// allows it, to an earlier step (`to_step`, a node key), which runs
    /// again; says why.
    SendBack {
        assignment: i32,
        #[serde(default)]
        comment: String,
        #[serde(default)]
        to_step: Option<String>,
    },
    /// A task or review, with the step's fields and a review's outcome.
    Complete {
        assignment: i32,
        #[serde(default)]
        #[schema(value_type = Object)]
        fields: Fields,
        #[serde(default)]
        outcome: Option<String>,
        #[serde(default)]
        comment: String,
    },
    /// To someone else, by username (转交).
    HandOver {
        assignment: i32,
        to: String,
        #[serde(default)]
        comment: String,
    },
    /// With files uploaded for it (`POST /api/v1/attachments`), by id.
    Comment {
        #[serde(default)]
        text: String,
        #[serde(default)]
        files: Vec<i32>,
    },
    Withdraw {
        reason: String,
    },
    /// Remind the people the ticket waits for.
    Urge {},
    /// The corrected submit form of a sent-back ticket.
    Resubmit {
        #[schema(value_type = Object)]
        fields: Fields,
    },
    /// Add approvers to a pending approval (加签), by username: `before`
    /// (they decide first), `after` (the step then needs them too) or
    /// `alongside`; says why, in `reason`.
    AddApprovers {
        assignment: i32,
        #[schema(min_items = 1, max_items = 10)]
        people: Vec<String>,
        placement: PlacementIn,
        reason: String,
    },
    /// Copy the ticket to people by username (抄送), with a note: they
    /// are told by mail, may read it and decide nothing.
    Copy {
        #[schema(min_items = 1, max_items = 20)]
        to: Vec<String>,
        #[serde(default)]
        note: String,
    },
}

/// Where approvers added by hand stand, relative to whoever adds them.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlacementIn {
    Before,
    After,
    Alongside,
}

impl ActionIn {
    fn into_action(self) -> Action {
        let decide = |assignment, decision, comment| Action::Decide {
            assignment: ApproveUserId(assignment),
            decision,
            comment,
        };
        match self {
            ActionIn::Approve {
                assignment,
                comment,
            } => decide(assignment, Decision::Approve, comment),
            ActionIn::Reject {
                assignment,
                comment,
            } => decide(assignment, Decision::Reject, comment),
            ActionIn::SendBack {
                assignment,
                comment,
                to_step,
            } => decide(
                assignment,
                Decision::SendBack {
                    to: to_step.filter(|s| !s.is_empty()),
                },
                comment,
            ),
            ActionIn::Complete {
                assignment,
                fields,
                outcome,
                comment,
            } => decide(
                assignment,
                Decision::Complete {
                    fields: raw_from_json(&fields),
                    outcome: outcome.filter(|o| !o.is_empty()),
                },
                comment,
            ),
            ActionIn::HandOver {
                assignment,
                to,
                comment,
            } => Action::HandOver {
                assignment: ApproveUserId(assignment),
                to,
                comment,
            },
            ActionIn::Comment { text, files } => Action::Comment {
                text,
                files: files
                    .into_iter()
                    .map(crate::db::ids::AttachmentId)
                    .collect(),
            },
            ActionIn::Withdraw { reason } => Action::Withdraw { reason },
            ActionIn::Urge {} => Action::Urge,
            ActionIn::Resubmit { fields } => Action::Resubmit {
                fields: raw_from_json(&fields),
            },
            ActionIn::Copy { to, note } => Action::Copy { to, note },
            ActionIn::AddApprovers {
                assignment,
                people,
                placement,
                reason,
            } => Action::AddApprovers {
                assignment: ApproveUserId(assignment),
                people,
                placement: match placement {
                    PlacementIn::Before => Placement::Before,
                    PlacementIn::After => Placement::After,
                    PlacementIn::Alongside => Placement::Alongside,
                },
                reason,
            },
        }
    }
}

/// What was done.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ActedOut {
    /// `decided`, `handed_over`, `commented`, `withdrawn`, `urged`, `resubmitted`, `copied` or `approvers_added`.
    pub done: &'static str,
    /// The people reminded, for `urged`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reminded: Option<usize>,
    /// The ticket, as the API shows it.
    pub ticket: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/tickets/{id}/actions",
    operation_id = "act_on_ticket",
    tag = "tickets",
    summary = "Act on a ticket",
    description = "Approve, reject, send back, complete, hand over, comment, withdraw, urge, resubmit, copy (抄送) or add approvers (加签), through the one door with channel api. Needs an act token.",
    params(
        ("id" = i32, Path, description = "The ticket"),
        ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,200}$", max_length = 200, description = "A retry with the same key returns the first answer and changes nothing"),
    ),
    request_body(content = ActionIn, content_type = "application/json"),
    responses(
        (status = 200, description = "Done", body = ActedOut),
        (status = 400, description = "A query or body that does not parse", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No token, or one unknown, expired, revoked or whose person was deactivated", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A read token, or a step that is not the person's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Someone got there first (by, decision, at), or the ticket is no longer running", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Part of the body needs correcting; errors point at it", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Urged too recently", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not there, or not there for this person", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable for the moment", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
pub async fn act(
    presented: Presented,
    state: web::Data<AppState>,
    path: web::Path<i32>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    let lang = presented.lang;
    let input: ActionIn = body::json(&req, &body, lang)?;
    let id = ApplyId(path.into_inner());
    // Where a message about the comment points, in this action's body.
    let comment_at = match &input {
        ActionIn::Comment { .. } => "/text",
        ActionIn::Withdraw { .. } => "/reason",
        ActionIn::Copy { .. } => "/note",
        ActionIn::AddApprovers { .. } => "/reason",
        _ => "/comment",
    };
    let action = input.into_action();
    // The token is checked in the action's own transaction, first.
    let answer = body::once(
        &state,
        &presented,
        Scope::Act,
        &req,
        &body,
        move |c, bearer| {
            let act = Act {
                ticket: id,
                actor: bearer.user,
                channel: Channel::Api,
                action,
            };
            let done = tickets::perform(c, act)?;
            Ok(Answer::json(StatusCode::OK, &acted(id, done)))
        },
    )
    .await;
    match answer {
        Ok(res) => Ok(res),
        Err(Failed::Problem(p)) => Err(p),
        Err(Failed::Store(e, me)) => {
            Err(refused(&state, e, me.unwrap_or(UserId(0)), lang, comment_at).await)
        }
    }
}

fn acted(id: ApplyId, done: Done) -> ActedOut {
    let (done, reminded) = match done {
        Done::Decided => ("decided", None),
        Done::HandedOver => ("handed_over", None),
        Done::Commented => ("commented", None),
        Done::Withdrawn => ("withdrawn", None),
        Done::Urged(people) => ("urged", Some(people.len())),
        Done::Resubmitted => ("resubmitted", None),
        Done::Copied => ("copied", None),
        Done::ApproversAdded => ("approvers_added", None),
    };
    ActedOut {
        done,
        reminded,
        ticket: format!("/api/v1/tickets/{id}"),
    }
}

/// The problem a store error says, for an action: each refusal of the
/// door with its status, and someone who got there first by name.
async fn refused(
    state: &AppState,
    e: StoreError,
    reader: UserId,
    lang: Lang,
    comment_at: &str,
) -> Problem {
    let refusal = match e {
        StoreError::Refused(refusal) => *refusal,
        e => return Problem::from_store(e, lang),
    };
    if let Refusal::Overtaken(became) = refusal {
        return overtaken(state, became, reader, lang).await;
    }
    refusal_problem(&refusal, lang, comment_at)
}

/// A refusal as a problem: its status, its code (the refusal's message
/// key without its section) and its words, with a pointer to the part of
/// the body it is about.
pub fn refusal_problem(refusal: &Refusal, lang: Lang, comment_at: &str) -> Problem {
    let status = match refusal {
        Refusal::NotFound => return Problem::new(StatusCode::NOT_FOUND, "not_found", lang),
        Refusal::SignedOut => {
            return Problem::new(StatusCode::UNAUTHORIZED, "token_unusable", lang);
        }
        Refusal::NotYours
        | Refusal::ApplicantForOther
        | Refusal::ApplicantHandsOver
        | Refusal::NotApplicant
        | Refusal::NotInvolved => StatusCode::FORBIDDEN,
        Refusal::Overtaken(_)
        | Refusal::NotYourTurn
        | Refusal::AssigneeInactive
        | Refusal::Withdrawn
        | Refusal::NotRunning
        | Refusal::NotSentBack => StatusCode::CONFLICT,
        Refusal::UrgedRecently => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    let key = refusal.key();
    let code = key.rsplit('.').next().unwrap_or(key);
    let words = refusal.words(lang);
    let mut problem = Problem::titled(status, code, words.clone());
    let mut errors: Vec<FieldProblem> = refusal
        .field_errors()
        .map(|errors| {
            errors
                .iter()
                .map(|(k, e)| {
                    FieldProblem::new(
                        format!("/fields/{k}"),
                        crate::web::ticket_form::error_text(lang, e),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let pointer = match (refusal, refusal.field()) {
        (Refusal::WrongAction, _) => Some("/action".to_string()),
        (_, "") => None,
        (_, "comment" | "reason" | "text") => Some(comment_at.to_string()),
        (_, "send_back_to") => Some("/to_step".to_string()),
        (_, field) => Some(format!("/{field}")),
    };
    if let Some(pointer) = pointer {
        errors.insert(0, FieldProblem::new(pointer, words));
    }
    if !errors.is_empty() {
        problem = problem.with_errors(errors);
    }
    problem
}

/// 409: someone got there first — who, what and when, in words and as
/// members a client can read.
async fn overtaken(state: &AppState, became: Became, reader: UserId, lang: Lang) -> Problem {
    let key = Refusal::Overtaken(became.clone()).key();
    let code = key.rsplit('.').next().unwrap_or(key);
    let (who, decision, at) = match &became {
        Became::Decided { by, decision, at } => (Some(*by), Some(*decision), *at),
        Became::StepDecided { by, decision, at } => (*by, *decision, *at),
        Became::HandedOver { to, at } => (*to, None, *at),
    };
    let read = state
        .db
        .read(move |c| {
            let said = crate::web::email_link::became_text(c, lang, &became, reader)?;
            let person = match who {
                Some(id) => users::people_by_id(c, &[id])?.remove(&id),
                None => None,
            };
            Ok((said, person))
        })
        .await;
    let mut problem = Problem::titled(StatusCode::CONFLICT, code, lang.t(key).into_owned());
    if let Ok((said, person)) = read {
        problem = problem.with_detail(said);
        if let Some(person) = person {
            problem = problem.with_member(
                "by",
                serde_json::json!({
                    "username": person.username,
                    "display_name": person.display_name,
                }),
            );
        }
    }
    if let Some(decision) = decision {
        problem = problem.with_member("decision", serde_json::json!(decision.as_str()));
    }
    if let Some(at) = at {
        problem = problem.with_member("at", serde_json::json!(at));
    }
    problem
}
