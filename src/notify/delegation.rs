//! The mail a stand-in gets when someone asks them to decide in their
//! place: whose work, the window (or that it is scheduled), the note, and
//! what already waits that they can now decide.

use askama::Template;
use diesel::prelude::*;

use crate::db::DbConn;
use crate::db::ids::{DelegationId, UserId};
use crate::db::models::User;
use crate::db::schema::users;
use crate::i18n::Lang;
use crate::store::outbox::{self, BASE, Mail};
use crate::store::ticket_views::{self, Waiting};
use crate::store::{StoreError, StoreResult, delegations, now};

/// How many waiting items the mail lists by name; the inbox has the rest.
const LISTED: i64 = 20;

#[derive(Template)]
#[template(path = "email/delegation.txt")]
struct TextMail<'a> {
    colon: &'a str,
    words: &'a Words,
    items: &'a [(String, String)],
}

#[derive(Template)]
#[template(path = "email/delegation.html")]
struct HtmlMail<'a> {
    lang: &'a str,
    words: &'a Words,
    items: &'a [(String, String)],
}

/// The mail's sentences, in the stand-in's language.
struct Words {
    greeting: String,
    headline: String,
    facts: Vec<(String, String)>,
    /// "Already waiting for He Jun (3):" or "Nothing waits for He Jun now."
    waiting: String,
    /// "… and 5 more in your inbox", when not all are listed.
    more: Option<String>,
    inbox_label: String,
    inbox_link: String,
}

/// Writes the mail telling the stand-in of delegation `id` what they take
/// on, in the same transaction as the delegation. Nobody is mailed for a
/// window already over, or when the stand-in cannot sign in.
pub fn stand_in_asked(conn: &mut DbConn, id: DelegationId, actor: UserId) -> StoreResult<()> {
    let delegation = delegations::find(conn, id)?;
    let at = now();
    if delegation.ends_at <= at {
        return Ok(());
    }
    let people: Vec<User> = crate::direct!(conn, |c| users::table
        .filter(users::id.eq_any([delegation.from_user_id, delegation.to_user_id, actor]))
        .select(User::as_select())
        .load(c))?;
    let person = |id: UserId| {
        people
            .iter()
            .find(|u| u.id == id)
            .ok_or(StoreError::NotFound)
    };
    let (away, stand_in, by) = (
        person(delegation.from_user_id)?,
        person(delegation.to_user_id)?,
        person(actor)?,
    );
    if !stand_in.active {
        return Ok(());
    }
    let lang = stand_in
        .language
        .as_deref()
        .or(stand_in.last_language.as_deref())
        .and_then(Lang::parse)
        .unwrap_or_default();
    let (items, total) = ticket_views::waiting_for(
        conn,
        away.id,
        delegation.process_kind.as_deref(),
        stand_in.id,
        LISTED,
    )?;
    let when = |t: chrono::NaiveDateTime| format!("{} UTC", t.format("%Y-%m-%d %H:%M"));
    let (from, until) = (when(delegation.starts_at), when(delegation.ends_at));
    let scheduled = delegation.starts_at > at;
    let name = away.display_name.as_str();
    let args = [
        ("name", name),
        ("from", from.as_str()),
        ("until", until.as_str()),
    ];
    let subject = lang.tf("email.delegation_subject", &args);
    let headline = if scheduled {
        lang.tf("email.delegation_scheduled", &args)
    } else {
        lang.tf("email.delegation_now", &args)
    };
    let mut facts = vec![
        (
            lang.t("delegations.window").into_owned(),
            format!("{from} → {until}"),
        ),
        (
            lang.t("delegations.kind").into_owned(),
            match &delegation.process_kind {
                Some(k) => lang.t(&format!("kind.{k}")).into_owned(),
                None => lang.t("delegations.any_kind").into_owned(),
            },
        ),
    ];
    if by.id != away.id {
        facts.push((
            lang.t("email.delegation_set_by").into_owned(),
            by.display_name.clone(),
        ));
    }
    if !delegation.note.trim().is_empty() {
        facts.push((
            lang.t("delegations.note").into_owned(),
            delegation.note.trim().to_string(),
        ));
    }
    let count = total.to_string();
    let waiting = if total == 0 {
        lang.tf("email.delegation_nothing_waiting", &[("name", name)])
    } else {
        lang.tf(
            "email.delegation_waiting",
            &[("name", name), ("n", count.as_str())],
        )
    };
    let more = (total > items.len() as i64).then(|| {
        lang.tf(
            "email.delegation_more",
            &[("n", &(total - items.len() as i64).to_string())],
        )
    });
    let items: Vec<(String, String)> = items
        .iter()
        .map(|w: &Waiting| {
            let node = if lang == Lang::ZhCn && !w.node_zh.is_empty() {
                &w.node_zh
            } else {
                &w.node_en
            };
            (
                format!("{} · {} · {node}", w.serial, w.title),
                format!("{BASE}/tickets/{}", w.apply),
            )
        })
        .collect();
    let words = Words {
        greeting: lang.tf("email.greeting", &[("name", &stand_in.display_name)]),
        headline,
        facts,
        waiting,
        more,
        inbox_label: lang.t("home.to_inbox").into_owned(),
        inbox_link: format!("{BASE}/inbox"),
    };
    let unexpected = |e: askama::Error| StoreError::Unexpected(e.into());
    let text = TextMail {
        colon: if lang == Lang::ZhCn { "：" } else { ": " },
        words: &words,
        items: &items,
    }
    .render()
    .map_err(unexpected)?;
    let html = HtmlMail {
        lang: lang.code(),
        words: &words,
        items: &items,
    }
    .render()
    .map_err(unexpected)?;
    outbox::enqueue(
        conn,
        &Mail {
            to_user: Some(stand_in.id),
            to_email: &stand_in.email,
            subject: &subject,
            text: &text,
            html: &html,
            kind: "delegation",
            apply: None,
        },
    )
}
