//! Composes a ticket's notice when the mail worker sends it: the words
//! of the event in the recipient's language, what an approver decides on,
//! and the one-click links of a waiting approval. The change that caused
//! it wrote only what these need (`store::outbox::Notice`), in its own
//! transaction; this reads the rest, outside any write.

use std::collections::HashMap;

use askama::Template;
use diesel::prelude::*;

use crate::db::DbConn;
use crate::db::ids::{ApplyId, ApproveId, UserId};
use crate::db::models::{Apply, Approve, OutboxMessage, User};
use crate::db::one_of::one_of;
use crate::db::schema::{applies, approves, businesses, services, users};
use crate::flow::{NodeKind, NotifyEvent};
use crate::i18n::Lang;
use crate::store::outbox::BASE;
use crate::store::request::Request;
use crate::store::{StoreError, StoreResult};

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

/// The words of a notice, ready to send.
pub struct Composed {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Composes the notice `m` (written by a ticket event's transaction),
/// reading the ticket, its step and the people as they are now.
pub fn compose(conn: &mut DbConn, m: &OutboxMessage) -> StoreResult<Composed> {
    let mut composer = Composer::default();
    composer.read(conn, std::slice::from_ref(m))?;
    composer.compose(conn, m)
}

/// Where a ticket was filed: its service (English and Chinese) and business.
type Filed = ((String, String), Option<String>);

/// Words a claim's notices, reading the tickets, steps and people they
/// name once for all of them (a claim holds several notices of the same
/// tickets), and what each step's approvers decide on once per step.
#[derive(Default)]
pub struct Composer {
    tickets: HashMap<ApplyId, Apply>,
    /// Each ticket's service (English and Chinese) and business.
    filed: HashMap<ApplyId, Filed>,
    steps: HashMap<ApproveId, Approve>,
    people: HashMap<UserId, User>,
    requests: HashMap<ApproveId, Request>,
}

impl Composer {
    /// Reads what `notices` name, three statements for all of them (the
    /// tickets with their services and businesses, the steps, the people).
    pub fn read(&mut self, conn: &mut DbConn, notices: &[OutboxMessage]) -> StoreResult<()> {
        let wanted = |ids: &mut Vec<i32>| {
            ids.sort_unstable();
            ids.dedup();
            std::mem::take(ids)
        };
        let mut ids: Vec<i32> = notices
            .iter()
            .filter_map(|m| m.apply_id)
            .map(|a| a.0)
            .collect();
        let wanted_tickets = wanted(&mut ids);
        let tickets: Vec<(Apply, Filed)> = crate::direct!(conn, |c| applies::table
            .inner_join(services::table.on(services::id.eq(applies::service_id)))
            .left_join(businesses::table.on(businesses::id.nullable().eq(applies::business_id)))
            .filter(one_of(applies::id, wanted_tickets))
            .select((
                Apply::as_select(),
                (
                    (services::name_en, services::name_zh),
                    businesses::name.nullable(),
                ),
            ))
            .load(c))?;
        ids = notices
            .iter()
            .filter_map(|m| m.node_id)
            .map(|n| n.0)
            .collect();
        let wanted_steps = wanted(&mut ids);
        let steps: Vec<Approve> = crate::direct!(conn, |c| approves::table
            .filter(one_of(approves::id, wanted_steps))
            .select(Approve::as_select())
            .load(c))?;
        ids = notices
            .iter()
            .flat_map(|m| [m.to_user_id, m.for_user_id])
            .flatten()
            .chain(tickets.iter().map(|(t, _)| t.applicant_id))
            .map(|u| u.0)
            .collect();
        let wanted_people = wanted(&mut ids);
        let people: Vec<User> = crate::direct!(conn, |c| users::table
            .filter(one_of(users::id, wanted_people))
            .select(User::as_select())
            .load(c))?;
        for (ticket, filed) in tickets {
            self.filed.insert(ticket.id, filed);
            self.tickets.insert(ticket.id, ticket);
        }
        self.steps.extend(steps.into_iter().map(|n| (n.id, n)));
        self.people.extend(people.into_iter().map(|u| (u.id, u)));
        Ok(())
    }

    /// The words of `m`, from what `read` read.
    pub fn compose(&mut self, conn: &mut DbConn, m: &OutboxMessage) -> StoreResult<Composed> {
        let event = NotifyEvent::parse(&m.kind)
            .ok_or_else(|| StoreError::Unexpected(anyhow::anyhow!("notice of {}", m.kind)))?;
        let ticket = m
            .apply_id
            .and_then(|a| self.tickets.get(&a))
            .ok_or(StoreError::NotFound)?;
        let node = match m.node_id {
            Some(id) => Some(self.steps.get(&id).ok_or(StoreError::NotFound)?),
            None => None,
        };
        let person = |id: Option<UserId>| {
            id.and_then(|id| self.people.get(&id))
                .ok_or(StoreError::NotFound)
        };
        let (recipient, applicant) = (person(m.to_user_id)?, person(Some(ticket.applicant_id))?);
        let for_name = match m.for_user_id {
            Some(id) => Some(person(Some(id))?.display_name.as_str()),
            None => None,
        };
        // Someone asked to decide sees what they decide on.
        let request = match node {
            Some(n)
                if matches!(
                    event,
                    NotifyEvent::Waiting | NotifyEvent::Reminder | NotifyEvent::Overdue
                ) && n.kind == NodeKind::Approval =>
            {
                if let std::collections::hash_map::Entry::Vacant(e) = self.requests.entry(n.id) {
                    let filed = self.filed.get(&ticket.id).cloned().unwrap_or_default();
                    e.insert(Request::read_filed(conn, ticket, &n.node_key, filed)?);
                }
                self.requests.get(&n.id)
            }
            _ => None,
        };
        let links = match &m.link_token {
            Some(token) => vec![
                ("email.approve", format!("/email/{token}?action=approve")),
                ("email.reject", format!("/email/{token}?action=reject")),
            ],
            None => Vec::new(),
        };
        let words = Words {
            kind: event,
            ticket,
            node: node.map(|n| (n.name_en.as_str(), n.name_zh.as_str())),
            comment: &m.comment,
            request,
        };
        words.compose(recipient, applicant, for_name, links)
    }
}

/// What happened, for the words of the mail.
struct Words<'a> {
    kind: NotifyEvent,
    ticket: &'a Apply,
    /// The node's name in English and Chinese.
    node: Option<(&'a str, &'a str)>,
    comment: &'a str,
    /// What is being decided, for a mail that asks someone to decide.
    request: Option<&'a Request>,
}

impl Words<'_> {
    /// The notice to `recipient` (standing in for `for_name`, if given),
    /// in their chosen language, else the one they last used countersign in.
    fn compose(
        &self,
        recipient: &User,
        applicant: &User,
        for_name: Option<&str>,
        links: Vec<(&'static str, String)>,
    ) -> StoreResult<Composed> {
        let lang = recipient
            .language
            .as_deref()
            .or(recipient.last_language.as_deref())
            .and_then(Lang::parse)
            .unwrap_or_default();
        let node = self
            .node
            .map(|(en, zh)| {
                if lang == Lang::ZhCn && !zh.is_empty() {
                    zh
                } else {
                    en
                }
            })
            .unwrap_or_default();
        let key = format!("email.{}", self.kind.as_str());
        // A manager's notice names the person it is about; anyone else's
        // the person they stand in for, if anyone.
        let about = (self.kind == NotifyEvent::Escalated)
            .then_some(for_name)
            .flatten();
        let args = [
            ("serial", self.ticket.serial.as_str()),
            ("node", node),
            ("applicant", applicant.display_name.as_str()),
            ("name", about.unwrap_or_default()),
        ];
        let subject = lang.tf(&format!("{key}_subject"), &args);
        let mut headline = lang.tf(&format!("{key}_headline"), &args);
        if let Some(name) = for_name.filter(|_| about.is_none()) {
            headline = format!("{headline} {}", lang.tf("email.for", &[("name", name)]));
        }
        let greeting = lang.tf("email.greeting", &[("name", &recipient.display_name)]);
        let mut facts = vec![
            (
                lang.t("tickets.applicant").into_owned(),
                applicant.display_name.clone(),
            ),
            (lang.t("design.node").into_owned(), node.to_string()),
        ];
        if let Some(request) = self.request {
            facts.extend(request.lines(lang));
            // Files as links to them, never attached to the mail.
            facts.extend(
                request
                    .files()
                    .into_iter()
                    .map(|(id, name)| (name, format!("{BASE}/attachments/{id}"))),
            );
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
        let ticket_link = format!("{BASE}/tickets/{}", self.ticket.id);
        let open_label = lang.t("email.open_ticket");
        let text = TextMail {
            colon: if lang == Lang::ZhCn { "：" } else { ": " },
            greeting: &greeting,
            headline: &headline,
            serial: &self.ticket.serial,
            title: &self.ticket.title,
            facts: &facts,
            comment: self.comment,
            links: &links,
            open_label: &open_label,
            ticket_link: &ticket_link,
        }
        .render()
        .map_err(|e| StoreError::Unexpected(e.into()))?;
        let html = HtmlMail {
            lang: lang.code(),
            greeting: &greeting,
            headline: &headline,
            serial: &self.ticket.serial,
            title: &self.ticket.title,
            facts: &facts,
            comment: self.comment,
            links: &links,
            open_label: &open_label,
            ticket_link: &ticket_link,
        }
        .render()
        .map_err(|e| StoreError::Unexpected(e.into()))?;
        Ok(Composed {
            subject,
            text,
            html,
        })
    }
}
