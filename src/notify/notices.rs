//! Composes the mail a ticket event causes — who gets it follows the
//! process's notification policy — and writes it to the outbox inside the
//! caller's transaction, so a change and its mail commit together.

use askama::Template;
use diesel::prelude::*;

use crate::db::DbConn;
use crate::db::ids::UserId;
use crate::db::models::{Apply, User};
use crate::db::schema::users;
use crate::db::stamp::At;
use crate::flow::{NotifyEvent, ProcessDef, ProcessKind, Recipient};
use crate::i18n::Lang;
use crate::store::outbox::{self, BASE, Mail};
use crate::store::request::Request;
use crate::store::{StoreResult, delegations, now};

#[derive(Template)]
#[template(path = "email/notice.txt")]
struct TextMail<'a> {
    /// Between a label and its value: ": ", or in Chinese "：".
    colon: &'a str,
    greeting: &'a str,
    headline: &'a str,
    serial: &'a str,
    title: &'a str,
    facts: &'a [(String, String)],
    comment: &'a str,
    links: &'a [(String, String, bool)],
    open_label: &'a str,
    ticket_link: &'a str,
}

#[derive(Template)]
#[template(path = "email/notice.html")]
struct HtmlMail<'a> {
    lang: &'a str,
    greeting: &'a str,
    headline: &'a str,
    serial: &'a str,
    title: &'a str,
    facts: &'a [(String, String)],
    comment: &'a str,
    links: &'a [(String, String, bool)],
    open_label: &'a str,
    ticket_link: &'a str,
}

/// What happened, for the words of the mail.
pub struct Event<'a> {
    pub kind: NotifyEvent,
    pub ticket: &'a Apply,
    /// The node's name in English and Chinese.
    pub node: Option<(&'a str, &'a str)>,
    pub comment: &'a str,
    /// What is being decided, for a mail that asks someone to decide.
    pub request: Option<&'a Request>,
}

/// One-click links for one recipient (the approval links of issue 5).
pub type Links = Vec<(&'static str, String)>;

/// The assignee `to` and the applicant, and with `away` (the ticket's kind,
/// for a notice a stand-in takes over) whoever stands in for `to` now. One
/// statement reads both people and, as a subselect, the stand-in's id.
fn people(
    conn: &mut DbConn,
    to: UserId,
    applicant: UserId,
    away: Option<ProcessKind>,
) -> StoreResult<(User, User, Option<User>)> {
    let rows: Vec<(User, Option<UserId>)> = match away {
        None => crate::direct!(conn, |c| users::table
            .filter(users::id.eq(to).or(users::id.eq(applicant)))
            .select(User::as_select())
            .load::<User>(c))?
        .into_iter()
        .map(|u| (u, None))
        .collect(),
        Some(kind) => {
            let stand_in = delegations::stand_in(to, At(now()), kind.as_str()).single_value();
            crate::direct!(conn, |c| users::table
                .filter(users::id.eq(to).or(users::id.eq(applicant)))
                .select((User::as_select(), stand_in))
                .load(c))?
        }
    };
    let find = |id: UserId| {
        rows.iter()
            .find(|(u, _)| u.id == id)
            .map(|(u, _)| u.clone())
            .ok_or(crate::store::StoreError::NotFound)
    };
    // Someone stands in now and then; only then is a second statement read.
    let stand_in = match rows.first().and_then(|(_, d)| *d) {
        Some(d) => match rows.iter().find(|(u, _)| u.id == d) {
            Some((u, _)) => Some(u.clone()),
            None => Some(crate::direct!(conn, |c| users::table
                .find(d)
                .select(User::as_select())
                .first(c))?),
        },
        None => None,
    };
    Ok((find(to)?, find(applicant)?, stand_in))
}

/// Writes one notice to `to` (or, when `to` is away, to whoever stands in
/// — unless that is the applicant, who is not asked about their own
/// ticket for someone else). `links` makes the one-click links for the
/// recipient it is given.
pub fn send(
    conn: &mut DbConn,
    event: &Event<'_>,
    to: UserId,
    links: impl FnOnce(&mut DbConn, UserId) -> StoreResult<Links>,
) -> StoreResult<()> {
    let kind = ProcessKind::parse(&event.ticket.kind).unwrap_or(ProcessKind::Request);
    let away =
        (event.kind == NotifyEvent::Waiting || event.kind == NotifyEvent::Urged).then_some(kind);
    let (assignee, applicant, stand_in) = people(conn, to, event.ticket.applicant_id, away)?;
    // An inactive person stands in for no one; the applicant is never
    // asked about their own ticket for someone else.
    let stand_in = stand_in.filter(|s| s.active && s.id != applicant.id);
    let standing_in = stand_in.is_some();
    let recipient = stand_in.unwrap_or_else(|| assignee.clone());
    if !recipient.active {
        return Ok(());
    }
    let links = links(conn, recipient.id)?;
    // Their chosen language, else the one they last used countersign in.
    let lang = recipient
        .language
        .as_deref()
        .or(recipient.last_language.as_deref())
        .and_then(Lang::parse)
        .unwrap_or_default();
    let node = event
        .node
        .map(|(en, zh)| {
            if lang == Lang::ZhCn && !zh.is_empty() {
                zh
            } else {
                en
            }
        })
        .unwrap_or_default();
    let key = format!("email.{}", event.kind.as_str());
    let args = [
        ("serial", event.ticket.serial.as_str()),
        ("node", node),
        ("applicant", applicant.display_name.as_str()),
    ];
    let subject = lang.tf(&format!("{key}_subject"), &args);
    let mut headline = lang.tf(&format!("{key}_headline"), &args);
    if standing_in {
        headline = format!(
            "{headline} {}",
            lang.tf("email.for", &[("name", &assignee.display_name)])
        );
    }
    let greeting = lang.tf("email.greeting", &[("name", &recipient.display_name)]);
    let mut facts = vec![
        (
            lang.t("tickets.applicant").into_owned(),
            applicant.display_name.clone(),
        ),
        (lang.t("design.node").into_owned(), node.to_string()),
    ];
    if let Some(request) = event.request {
        facts.extend(request.lines(lang));
    }
    // Rejecting is the action to think twice about: it looks like one.
    let links: Vec<(String, String, bool)> = links
        .into_iter()
        .map(|(label, path)| {
            (
                lang.t(label).into_owned(),
                format!("{BASE}{path}"),
                label == "email.reject",
            )
        })
        .collect();
    let ticket_link = format!("{BASE}/tickets/{}", event.ticket.id);
    let open_label = lang.t("email.open_ticket");
    let text = TextMail {
        colon: if lang == Lang::ZhCn { "：" } else { ": " },
        greeting: &greeting,
        headline: &headline,
        serial: &event.ticket.serial,
        title: &event.ticket.title,
        facts: &facts,
        comment: event.comment,
        links: &links,
        open_label: &open_label,
        ticket_link: &ticket_link,
    }
    .render()
    .map_err(|e| crate::store::StoreError::Unexpected(e.into()))?;
    let html = HtmlMail {
        lang: lang.code(),
        greeting: &greeting,
        headline: &headline,
        serial: &event.ticket.serial,
        title: &event.ticket.title,
        facts: &facts,
        comment: event.comment,
        links: &links,
        open_label: &open_label,
        ticket_link: &ticket_link,
    }
    .render()
    .map_err(|e| crate::store::StoreError::Unexpected(e.into()))?;
    outbox::enqueue(
        conn,
        &Mail {
            to_user: Some(recipient.id),
            to_email: &recipient.email,
            subject: &subject,
            text: &text,
            html: &html,
            kind: event.kind.as_str(),
            apply: Some(event.ticket.id),
        },
    )
}

/// Whom the policy mails for `event`, besides the node's people (whom the
/// caller passes, since only it knows them).
pub fn recipients(
    conn: &mut DbConn,
    def: &ProcessDef,
    event: NotifyEvent,
    ticket: &Apply,
    assignees: &[UserId],
) -> StoreResult<Vec<UserId>> {
    let mut out = Vec::new();
    for rule in def.notifications.iter().filter(|r| r.event == event) {
        match rule.to {
            Recipient::Assignees => out.extend_from_slice(assignees),
            Recipient::Applicant => out.push(ticket.applicant_id),
            Recipient::ApplicantManager => {
                if let Some(m) = crate::direct!(conn, |c| users::table
                    .find(ticket.applicant_id)
                    .select(users::manager_id)
                    .first::<Option<UserId>>(c))?
                {
                    out.push(m);
                }
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}
