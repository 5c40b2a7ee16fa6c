//! One-click approval from an email. Mail scanners open every link, so a
//! GET or HEAD only shows a confirmation page; only its form's POST acts,
//! after checking the ticket, the step and the link once more. No sign-in
//! is needed: the link's token is the credential, bound to one assignment.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::csrf::CsrfForm;
use super::ctx::Ctx;
use super::{AppError, AppState};
use crate::db::models::{Apply, Approve};
use crate::i18n::Lang;
use crate::refusal::Refusal;
use crate::store::links::{self, Became, LinkState};
use crate::store::request::Request;
use crate::store::{StoreError, users};

#[derive(Template)]
#[template(path = "email_link.html")]
struct LinkPage {
    ctx: Ctx,
    /// valid, unknown, expired, used, closed, done
    state: &'static str,
    message: String,
    token: String,
    action: String,
    ticket: Option<Apply>,
    node: Option<Approve>,
    approver: String,
    applicant: String,
    comment: String,
    error: Option<String>,
    facts: Vec<(String, String)>,
}

impl LinkPage {
    fn node_name(&self) -> &str {
        self.node
            .as_ref()
            .map(|n| n.name(&self.ctx.lang))
            .unwrap_or_default()
    }
}

/// Pages reached from mail send no referrer, so the token never leaks to
/// another site, and are never cached.
fn respond(status: StatusCode, page: &LinkPage) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("Referrer-Policy", "no-referrer"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(page.render()?))
}

#[derive(Deserialize)]
pub struct LinkQuery {
    #[serde(default)]
    action: String,
}

struct Loaded {
    state: LinkState,
    /// The assignee, and the stand-in the link went to (if it did); for a
    /// link of someone deactivated, that person.
    approver: String,
    stand_in: Option<String>,
    applicant: String,
    /// For a link of someone deactivated: who has the step now.
    now_with: Option<String>,
    /// What is being decided: service, business and the fields the step
    /// may read, in the reader's language.
    facts: Vec<(String, String)>,
    /// For a link already used: what became of it, who did it and when.
    used: Option<String>,
}

/// "You approved this on 3 Dec at 14:28; nothing was changed." — or who
/// else did, or to whom it was handed over, in the reader's language.
pub(crate) fn became_text(
    c: &mut crate::db::DbConn,
    lang: Lang,
    became: &Became,
    reader: crate::db::ids::UserId,
) -> Result<String, StoreError> {
    let (who, decision, at, key) = match became {
        Became::Decided { by, decision, at } => {
            let key = if *by == reader {
                "email_link.used_by_you"
            } else {
                "email_link.used_by"
            };
            (Some(*by), Some(*decision), *at, key)
        }
        Became::StepDecided { by, decision, at } => {
            (*by, *decision, *at, "email_link.step_decided")
        }
        Became::HandedOver { to, at } => (*to, None, *at, "email_link.handed_over"),
    };
    let name = match who {
        Some(id) => users::people_by_id(c, &[id])?
            .remove(&id)
            .map(|p| p.display_name)
            .unwrap_or_default(),
        None => String::new(),
    };
    let what = decision
        .map(|d| lang.t(&format!("decided.{d}")).into_owned())
        .unwrap_or_default();
    let when = at
        .map(|at| at.format(&lang.t("email_link.when_format")).to_string())
        .unwrap_or_default();
    Ok(lang.tf(key, &[("name", &name), ("what", &what), ("when", &when)]))
}

async fn load(state: &AppState, token: String, lang: Lang) -> Result<Loaded, AppError> {
    Ok(state
        .db
        .read(move |c| {
            let link = links::link_state(c, &token)?;
            let facts = match &link {
                LinkState::Valid { ticket, node, .. } => {
                    Request::read(c, ticket, &node.node_key)?.lines(lang)
                }
                _ => Vec::new(),
            };
            let used = match &link {
                LinkState::Used {
                    became, sent_to, ..
                } => Some(became_text(c, lang, became, *sent_to)?),
                _ => None,
            };
            let (approver, stand_in, applicant) = match &link {
                LinkState::Valid {
                    assignment,
                    sent_to,
                    ticket,
                    ..
                } => {
                    let people = users::people_by_id(
                        c,
                        &[assignment.user_id, *sent_to, ticket.applicant_id],
                    )?;
                    let name = |id| {
                        people
                            .get(&id)
                            .map(|p| p.display_name.clone())
                            .unwrap_or_default()
                    };
                    let stand_in = (*sent_to != assignment.user_id).then(|| name(*sent_to));
                    (
                        name(assignment.user_id),
                        stand_in,
                        name(ticket.applicant_id),
                    )
                }
                LinkState::Returned { assignee } => {
                    // Whose the decision is again, for the page to say.
                    let name = users::people_by_id(c, &[*assignee])?
                        .remove(assignee)
                        .map(|p| p.display_name)
                        .unwrap_or_default();
                    (name, None, String::new())
                }
                LinkState::Deactivated { person, now_with } => {
                    let ids: Vec<_> = std::iter::once(*person).chain(*now_with).collect();
                    let people = users::people_by_id(c, &ids)?;
                    let name = |id| {
                        people
                            .get(&id)
                            .map(|p| p.display_name.clone())
                            .unwrap_or_default()
                    };
                    let with = now_with.map(name);
                    return Ok(Loaded {
                        approver: name(*person),
                        now_with: with,
                        state: link,
                        stand_in: None,
                        applicant: String::new(),
                        facts,
                        used,
                    });
                }
                _ => (String::new(), None, String::new()),
            };
            Ok(Loaded {
                state: link,
                approver,
                stand_in,
                applicant,
                now_with: None,
                facts,
                used,
            })
        })
        .await?)
}

fn page(
    ctx: Ctx,
    token: String,
    action: String,
    loaded: Loaded,
    comment: String,
    error: Option<String>,
) -> (StatusCode, LinkPage) {
    let (state, status, key, ticket, node) = match loaded.state {
        LinkState::Valid { ticket, node, .. } => (
            "valid",
            StatusCode::OK,
            "email_link.confirm",
            Some(*ticket),
            Some(*node),
        ),
        LinkState::Unknown => (
            "unknown",
            StatusCode::NOT_FOUND,
            "email_link.unknown",
            None,
            None,
        ),
        LinkState::Expired => (
            "expired",
            StatusCode::GONE,
            "email_link.expired",
            None,
            None,
        ),
        LinkState::Used { ticket, .. } => (
            "used",
            StatusCode::CONFLICT,
            "email_link.used",
            Some(*ticket),
            None,
        ),
        LinkState::Deactivated { now_with, .. } => (
            "deactivated",
            StatusCode::GONE,
            if now_with.is_some() {
                "email_link.deactivated_moved"
            } else {
                "email_link.deactivated"
            },
            None,
            None,
        ),
        LinkState::Returned { .. } => (
            "returned",
            StatusCode::CONFLICT,
            "email_link.returned",
            None,
            None,
        ),
        LinkState::Closed(ticket) => {
            let key = match ticket.status.as_str() {
                "withdrawn" => "email_link.withdrawn",
                "sent_back" => "email_link.sent_back",
                _ => "email_link.closed",
            };
            ("closed", StatusCode::CONFLICT, key, Some(*ticket), None)
        }
    };
    let now_with = loaded.now_with.clone().unwrap_or_default();
    let message = match &loaded.used {
        Some(used) => used.clone(),
        None => ctx.tf(key, &[("name", &loaded.approver), ("now_with", &now_with)]),
    };
    // "Lin Tao for He Jun" when the link went to a stand-in.
    let approver = match &loaded.stand_in {
        Some(stand_in) => ctx.tf(
            "timeline.for",
            &[("actor", stand_in), ("for", &loaded.approver)],
        ),
        None => loaded.approver,
    };
    let action = if action == "reject" {
        "reject".to_string()
    } else {
        "approve".to_string()
    };
    (
        status,
        LinkPage {
            ctx,
            state,
            message,
            token,
            action,
            ticket,
            node,
            approver,
            applicant: loaded.applicant,
            comment,
            error,
            facts: loaded.facts,
        },
    )
}

/// GET and HEAD: show what the link is for; change nothing.
pub async fn confirm(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<LinkQuery>,
) -> Result<HttpResponse, AppError> {
    let token = path.into_inner();
    let loaded = load(&state, token.clone(), ctx.lang).await?;
    let (status, page) = page(
        ctx,
        token,
        query.into_inner().action,
        loaded,
        String::new(),
        None,
    );
    respond(status, &page)
}

#[derive(Deserialize)]
pub struct DecideForm {
    #[serde(default)]
    intent: String,
    #[serde(default)]
    comment: String,
}

/// POST from the confirmation page: decide, as the person the link was
/// mailed to (the assignee or their stand-in).
pub async fn decide(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
    CsrfForm(form): CsrfForm<DecideForm>,
) -> Result<HttpResponse, AppError> {
    let token = path.into_inner();
    let approve = match form.intent.as_str() {
        "approve" => true,
        "reject" => false,
        _ => return Err(AppError::BadRequest("email link intent".into())),
    };
    let (t, comment) = (token.clone(), form.comment.clone());
    match state
        .db
        .write(move |c| links::act_by_link(c, &t, approve, &comment))
        .await
    {
        Ok(_) => {
            let key = if approve {
                "email_link.approved"
            } else {
                "email_link.rejected"
            };
            let message = ctx.t(key).into_owned();
            let done = LinkPage {
                ctx,
                state: "done",
                message,
                token: String::new(),
                action: String::new(),
                ticket: None,
                node: None,
                approver: String::new(),
                applicant: String::new(),
                comment: String::new(),
                error: None,
                facts: Vec::new(),
            };
            respond(StatusCode::OK, &done)
        }
        // A rejection says why: the form again, with what was typed.
        Err(StoreError::Refused(r))
            if matches!(*r, Refusal::CommentRequired | Refusal::TooLong(_)) =>
        {
            let loaded = load(&state, token.clone(), ctx.lang).await?;
            let error = Some(ctx.t(r.key()).into_owned());
            let (_, page) = page(ctx, token, form.intent, loaded, form.comment, error);
            respond(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        // Someone or something got there first: say what, from the live state.
        Err(e) if e.refused_key().is_some() => {
            let key = e.refused_key().map(|(_, key)| key).unwrap_or_default();
            let loaded = load(&state, token.clone(), ctx.lang).await?;
            // Still valid by the live state: the refusal itself says why.
            let error =
                matches!(loaded.state, LinkState::Valid { .. }).then(|| ctx.t(key).into_owned());
            let (status, page) = page(ctx, token, String::new(), loaded, form.comment, error);
            respond(
                if status == StatusCode::OK {
                    StatusCode::CONFLICT
                } else {
                    status
                },
                &page,
            )
        }
        Err(e) => Err(e.into()),
    }
}
