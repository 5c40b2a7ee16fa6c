//! Webhooks: endpoints an administrator registers, and the deliveries of
//! ticket events to them — written in the event's own transaction (an
//! outbox: a delivery exists exactly when its event does), claimed by one
//! instance at a time with a lease, retried with backoff, and logged with
//! each attempt's answer. Chat robots are endpoints of another kind: the
//! same deliveries, worded for a group by `notify::hooks`.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::audit::{self, Audit};
use super::cache::ShortCache;
use super::{StoreError, StoreResult, now};
use crate::db::DbConn;
use crate::db::ids::{ApplyId, DeliveryId, UserId, WebhookId};
use crate::db::schema::{
    applies as a, services as sv, users, webhook_deliveries as d, webhooks as w,
};
use crate::db::stamp::At;
use crate::db::states::TicketEvent;

/// What an endpoint is: a plain signed webhook, or a team chat's robot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Webhook,
    Slack,
    Feishu,
    DingTalk,
    WeCom,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Webhook,
        Kind::Slack,
        Kind::Feishu,
        Kind::DingTalk,
        Kind::WeCom,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Webhook => "webhook",
            Kind::Slack => "slack",
            Kind::Feishu => "feishu",
            Kind::DingTalk => "dingtalk",
            Kind::WeCom => "wecom",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// An endpoint.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = w)]
pub struct Webhook {
    pub id: WebhookId,
    pub name: String,
    pub url: String,
    pub secret: String,
    pub kind: String,
    pub language: String,
    pub events: String,
    pub services: String,
    pub businesses: String,
    pub active: bool,
    pub created_at: NaiveDateTime,
    pub created_by: Option<UserId>,
}

impl Webhook {
    pub fn kind(&self) -> Kind {
        Kind::parse(&self.kind).unwrap_or(Kind::Webhook)
    }

    fn list<T: serde::de::DeserializeOwned>(text: &str) -> Vec<T> {
        serde_json::from_str(text).unwrap_or_default()
    }
}

/// What an active endpoint wants, its lists read once as it is cached,
/// not at every event.
#[derive(Debug, Clone)]
struct Subscription {
    id: WebhookId,
    /// Empty: every one.
    events: Vec<String>,
    services: Vec<i32>,
    businesses: Vec<i32>,
}

impl Subscription {
    fn of(hook: &Webhook) -> Subscription {
        Subscription {
            id: hook.id,
            events: Webhook::list(&hook.events),
            services: Webhook::list(&hook.services),
            businesses: Webhook::list(&hook.businesses),
        }
    }

    /// Whether it wants `event` of a ticket filed for `service` in `business`.
    fn wants(&self, event: &str, service: i32, business: Option<i32>) -> bool {
        (self.events.is_empty() || self.events.iter().any(|e| e == event))
            && (self.services.is_empty() || self.services.contains(&service))
            && (self.businesses.is_empty()
                || business.is_some_and(|b| self.businesses.contains(&b)))
    }
}

/// The event a test button sends.
pub const PING: &str = "ping";

/// An endpoint as an administrator enters it, checked.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub name: String,
    pub url: String,
    pub secret: String,
    pub kind: Kind,
    pub language: String,
    pub events: Vec<String>,
    pub services: Vec<i32>,
    pub businesses: Vec<i32>,
}

/// The active endpoints, for a few seconds (another instance's change
/// shows here within them; this instance's at once).
static ACTIVE: ShortCache<Vec<Subscription>> = ShortCache::new(std::time::Duration::from_secs(5));

fn active(conn: &mut DbConn) -> StoreResult<Arc<Vec<Subscription>>> {
    ACTIVE.get(|| {
        let hooks: Vec<Webhook> = w::table
            .filter(w::active.eq(true))
            .order(w::id)
            .select(Webhook::as_select())
            .load(conn)?;
        Ok(hooks.iter().map(Subscription::of).collect())
    })
}

/// A list kept as JSON text.
fn json<T: Serialize>(list: &[T]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".into())
}

pub fn create(conn: &mut DbConn, new: &NewWebhook, by: UserId) -> StoreResult<WebhookId> {
    let id: WebhookId = diesel::insert_into(w::table)
        .values((
            w::name.eq(&new.name),
            w::url.eq(&new.url),
            w::secret.eq(&new.secret),
            w::kind.eq(new.kind.as_str()),
            w::language.eq(&new.language),
            w::events.eq(json(&new.events)),
            w::services.eq(json(&new.services)),
            w::businesses.eq(json(&new.businesses)),
            w::active.eq(true),
            w::created_at.eq(At(now())),
            w::created_by.eq(Some(by)),
        ))
        .returning(w::id)
        .get_result(conn)?;
    ACTIVE.forget();
    audit::record(
        conn,
        Audit::web(by, "webhook.created", "webhook", id.0)
            .with_detail(serde_json::json!({ "name": new.name, "kind": new.kind.as_str() })),
    )?;
    Ok(id)
}

/// Turns endpoint `id` on or off.
pub fn set_active(conn: &mut DbConn, id: WebhookId, on: bool, by: UserId) -> StoreResult<()> {
    let n = diesel::update(w::table.find(id))
        .set(w::active.eq(on))
        .execute(conn)?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    ACTIVE.forget();
    let action = if on {
        "webhook.enabled"
    } else {
        "webhook.disabled"
    };
    audit::record(conn, Audit::web(by, action, "webhook", id.0))
}

pub fn all(conn: &mut DbConn) -> StoreResult<Vec<Webhook>> {
    Ok(w::table
        .order(w::id)
        .select(Webhook::as_select())
        .load(conn)?)
}

pub fn find(conn: &mut DbConn, id: WebhookId) -> StoreResult<Webhook> {
    Ok(w::table.find(id).select(Webhook::as_select()).first(conn)?)
}

/// A ticket event as a webhook carries it.
#[derive(Debug, Clone)]
pub struct Noticed {
    pub event: String,
    pub apply_id: i32,
    pub actor: Option<UserId>,
    pub on_behalf_of: Option<UserId>,
    pub channel: &'static str,
    pub detail: serde_json::Value,
    pub at: NaiveDateTime,
}

/// What `record` hands on: a ticket event, when any endpoint is active
/// (with none, nothing is kept and nothing read beyond the cached list).
pub(super) fn notice(conn: &mut DbConn, event: &Audit<'_>) -> StoreResult<Option<Noticed>> {
    let Some(apply_id) = event.apply_id else {
        return Ok(None);
    };
    if TicketEvent::parse(event.action).is_none() || active(conn)?.is_empty() {
        return Ok(None);
    }
    Ok(Some(Noticed {
        event: event.action.to_string(),
        apply_id,
        actor: event.actor,
        on_behalf_of: event.on_behalf_of,
        channel: event.channel.as_str(),
        detail: event.detail.clone(),
        at: now(),
    }))
}

/// The body a delivery carries (also what chat robots word).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Payload {
    /// The same for every endpoint and every attempt: receivers drop
    /// what they have seen.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket: Option<TicketPart>,
    pub detail: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TicketPart {
    pub id: i32,
    pub serial: String,
    pub title: String,
    pub kind: String,
    pub status: String,
    pub service: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub business_id: Option<i32>,
    /// The ticket's page, relative to countersign's address.
    pub path: String,
}

const PENDING: &str = "pending";
const DELIVERED: &str = "delivered";
const FAILED: &str = "failed";

/// Writes the deliveries of `events` (an action's, at its end, in its
/// transaction) to every active endpoint that wants them.
pub(super) fn enqueue(conn: &mut DbConn, events: Vec<Noticed>) -> StoreResult<usize> {
    if events.is_empty() {
        return Ok(0);
    }
    let hooks = active(conn)?;
    if hooks.is_empty() {
        return Ok(0);
    }
    let mut ids: Vec<ApplyId> = events.iter().map(|e| ApplyId(e.apply_id)).collect();
    ids.sort();
    ids.dedup();
    type TicketRow = (
        ApplyId,
        String,
        String,
        String,
        String,
        i32,
        Option<i32>,
        String,
    );
    let tickets: HashMap<i32, TicketRow> = a::table
        .inner_join(sv::table)
        .filter(a::id.eq_any(&ids))
        .select((
            a::id,
            a::serial,
            a::title,
            a::kind,
            a::status,
            a::service_id,
            a::business_id,
            sv::name_en,
        ))
        .load::<(
            ApplyId,
            String,
            String,
            String,
            String,
            crate::db::ids::ServiceId,
            Option<crate::db::ids::BusinessId>,
            String,
        )>(conn)?
        .into_iter()
        .map(
            |(id, serial, title, kind, status, service, business, name)| {
                (
                    id.0,
                    (
                        id,
                        serial,
                        title,
                        kind,
                        status,
                        service.0,
                        business.map(|b| b.0),
                        name,
                    ),
                )
            },
        )
        .collect();
    let mut people: Vec<UserId> = events
        .iter()
        .flat_map(|e| e.actor.into_iter().chain(e.on_behalf_of))
        .collect();
    people.sort();
    people.dedup();
    let names: HashMap<UserId, String> = users::table
        .filter(users::id.eq_any(&people))
        .select((users::id, users::username))
        .load(conn)?
        .into_iter()
        .collect();
    let at = now();
    let mut rows = Vec::new();
    for event in events {
        let Some((id, serial, title, kind, status, service, business, service_name)) =
            tickets.get(&event.apply_id).cloned()
        else {
            continue;
        };
        let wanting: Vec<&Subscription> = hooks
            .iter()
            .filter(|h| h.wants(&event.event, service, business))
            .collect();
        if wanting.is_empty() {
            continue;
        }
        let payload = Payload {
            id: format!("evt_{}", crate::token::random_hex::<12>()),
            kind: event.event.clone(),
            created_at: event.at.and_utc(),
            channel: Some(event.channel.to_string()),
            actor: event.actor.and_then(|u| names.get(&u).cloned()),
            on_behalf_of: event.on_behalf_of.and_then(|u| names.get(&u).cloned()),
            ticket: Some(TicketPart {
                id: id.0,
                serial,
                title,
                kind,
                status,
                service: service_name,
                business_id: business,
                path: format!("/tickets/{}", id.0),
            }),
            detail: event.detail,
        };
        let body = serde_json::to_string(&payload).unwrap_or_default();
        for hook in wanting {
            rows.push((
                d::webhook_id.eq(hook.id),
                d::event_id.eq(payload.id.clone()),
                d::event_type.eq(payload.kind.clone()),
                d::apply_id.eq(Some(id.0)),
                d::payload.eq(body.clone()),
                d::status.eq(PENDING),
                d::attempts.eq(0),
                d::next_attempt_at.eq(At(at)),
                d::error.eq(""),
                d::created_at.eq(At(at)),
            ));
        }
    }
    if rows.is_empty() {
        return Ok(0);
    }
    let n = rows.len();
    crate::direct!(conn, |c| diesel::insert_into(d::table)
        .values(&rows)
        .execute(c))?;
    WAKE.notify_one();
    Ok(n)
}

/// Woken when deliveries are written here, so the sender need not wait
/// for its next look.
pub static WAKE: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// Queues a `ping` to endpoint `id` (the test button).
pub fn ping(conn: &mut DbConn, id: WebhookId, by: UserId) -> StoreResult<()> {
    let at = now();
    let username: String = users::table.find(by).select(users::username).first(conn)?;
    let payload = Payload {
        id: format!("evt_{}", crate::token::random_hex::<12>()),
        kind: PING.to_string(),
        created_at: at.and_utc(),
        channel: None,
        actor: Some(username),
        on_behalf_of: None,
        ticket: None,
        detail: serde_json::json!({ "webhook": id.0 }),
    };
    diesel::insert_into(d::table)
        .values((
            d::webhook_id.eq(id),
            d::event_id.eq(&payload.id),
            d::event_type.eq(PING),
            d::apply_id.eq(None::<i32>),
            d::payload.eq(serde_json::to_string(&payload).unwrap_or_default()),
            d::status.eq(PENDING),
            d::attempts.eq(0),
            d::next_attempt_at.eq(At(at)),
            d::error.eq(""),
            d::created_at.eq(At(at)),
        ))
        .execute(conn)?;
    WAKE.notify_one();
    Ok(())
}

/// A delivery, as the sender and the log see it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = d)]
pub struct Delivery {
    pub id: DeliveryId,
    pub webhook_id: WebhookId,
    pub event_id: String,
    pub event_type: String,
    pub apply_id: Option<i32>,
    pub payload: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub response_code: Option<i32>,
    pub latency_ms: Option<i32>,
    pub error: String,
    pub created_at: NaiveDateTime,
    pub delivered_at: Option<NaiveDateTime>,
}

diesel::alias!(d as due: Due);

/// Claims up to `limit` due deliveries for `worker` for `lease_secs`,
/// oldest first, with their endpoints: one conditional update, so two
/// instances never take the same one (the second finds the first's lease
/// when it re-checks the row).
pub fn claim(
    conn: &mut DbConn,
    worker: &str,
    limit: i64,
    lease_secs: i64,
) -> StoreResult<Vec<(Delivery, Webhook)>> {
    let at = now();
    let until = at + Duration::seconds(lease_secs);
    let ready = due
        .filter(due.field(d::status).eq(PENDING))
        .filter(due.field(d::next_attempt_at).le(At(at)))
        .filter(
            due.field(d::claimed_until)
                .is_null()
                .or(due.field(d::claimed_until).lt(At(at))),
        )
        .order(due.field(d::id))
        .limit(limit)
        .select(due.field(d::id));
    let claimed: Vec<Delivery> = crate::direct!(conn, |c| diesel::update(
        d::table
            .filter(d::id.eq_any(ready))
            .filter(d::status.eq(PENDING))
            .filter(d::claimed_until.is_null().or(d::claimed_until.lt(At(at)))),
    )
    .set((d::claimed_by.eq(worker), d::claimed_until.eq(At(until))))
    .returning(Delivery::as_returning())
    .get_results(c))?;
    if claimed.is_empty() {
        return Ok(Vec::new());
    }
    let mut ids: Vec<WebhookId> = claimed.iter().map(|d| d.webhook_id).collect();
    ids.sort();
    ids.dedup();
    let hooks: HashMap<WebhookId, Webhook> = w::table
        .filter(w::id.eq_any(&ids))
        .select(Webhook::as_select())
        .load(conn)?
        .into_iter()
        .map(|h| (h.id, h))
        .collect();
    let mut out: Vec<(Delivery, Webhook)> = claimed
        .into_iter()
        .filter_map(|d| hooks.get(&d.webhook_id).cloned().map(|h| (d, h)))
        .collect();
    out.sort_by_key(|(d, _)| d.id);
    Ok(out)
}

/// How one attempt went.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub id: DeliveryId,
    /// The receiver's status, if it answered.
    pub code: Option<u16>,
    pub latency_ms: i32,
    /// Empty when it succeeded.
    pub error: String,
}

impl Attempt {
    pub fn succeeded(&self) -> bool {
        self.error.is_empty() && self.code.is_some_and(|c| (200..300).contains(&c))
    }
}

/// How long a delivery is retried before it is given up on.
pub const GIVE_UP_HOURS: i64 = 24;

/// Records attempts made by `worker` (only on deliveries it still holds):
/// the successes as delivered (a statement for many; the latency kept to
/// ten milliseconds), a failure put back after its backoff, or failed once
/// it has been retried for `GIVE_UP_HOURS`.
pub fn record(conn: &mut DbConn, worker: &str, attempts: &[Attempt]) -> StoreResult<()> {
    let at = now();
    // Those taken, in one statement per latency (most share a few).
    let mut taken: HashMap<(i32, i32), Vec<DeliveryId>> = HashMap::new();
    for a in attempts.iter().filter(|a| a.succeeded()) {
        let code = a.code.map_or(200, i32::from);
        taken
            .entry((code, a.latency_ms / 10 * 10))
            .or_default()
            .push(a.id);
    }
    for ((code, latency), ids) in taken {
        for chunk in ids.chunks(500) {
            diesel::update(
                d::table
                    .filter(d::id.eq_any(chunk))
                    .filter(d::claimed_by.eq(worker))
                    .filter(d::status.eq(PENDING)),
            )
            .set((
                d::status.eq(DELIVERED),
                d::attempts.eq(d::attempts + 1),
                d::response_code.eq(Some(code)),
                d::latency_ms.eq(Some(latency)),
                d::error.eq(""),
                d::delivered_at.eq(Some(At(at))),
                d::claimed_until.eq(None::<At>),
            ))
            .execute(conn)?;
        }
    }
    for attempt in attempts.iter().filter(|a| !a.succeeded()) {
        let held = d::table
            .filter(d::id.eq(attempt.id))
            .filter(d::claimed_by.eq(worker))
            .filter(d::status.eq(PENDING));
        let code = attempt.code.map(i32::from);
        let row: Option<(i32, NaiveDateTime)> = d::table
            .filter(d::id.eq(attempt.id))
            .select((d::attempts, d::created_at))
            .first(conn)
            .optional()?;
        let Some((tried, created)) = row else {
            continue;
        };
        let give_up = at - created >= Duration::hours(GIVE_UP_HOURS);
        diesel::update(held)
            .set((
                d::status.eq(if give_up { FAILED } else { PENDING }),
                d::attempts.eq(tried + 1),
                d::response_code.eq(code),
                d::latency_ms.eq(Some(attempt.latency_ms)),
                d::error.eq(&attempt.error),
                d::next_attempt_at.eq(At(at + super::outbox::backoff(tried))),
                d::claimed_until.eq(None::<At>),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Hands back what `worker` claimed and has not recorded (at a stop).
pub fn release(conn: &mut DbConn, worker: &str) -> StoreResult<usize> {
    Ok(diesel::update(
        d::table
            .filter(d::claimed_by.eq(worker))
            .filter(d::status.eq(PENDING))
            .filter(d::claimed_until.is_not_null()),
    )
    .set(d::claimed_until.eq(None::<At>))
    .execute(conn)?)
}

/// Endpoint `id`'s newest deliveries, newest first.
pub fn log(conn: &mut DbConn, id: WebhookId, limit: i64) -> StoreResult<Vec<Delivery>> {
    Ok(d::table
        .filter(d::webhook_id.eq(id))
        .order(d::id.desc())
        .limit(limit)
        .select(Delivery::as_select())
        .load(conn)?)
}

/// Sends delivery `id` of endpoint `hook` again, as soon as can be (the
/// same event id: a receiver that had it drops it).
pub fn send_again(conn: &mut DbConn, hook: WebhookId, id: DeliveryId) -> StoreResult<()> {
    let n = diesel::update(d::table.filter(d::id.eq(id)).filter(d::webhook_id.eq(hook)))
        .set((
            d::status.eq(PENDING),
            d::next_attempt_at.eq(At(now())),
            d::claimed_until.eq(None::<At>),
        ))
        .execute(conn)?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    WAKE.notify_one();
    Ok(())
}

/// How many deliveries wait, and since when the oldest.
pub fn backlog(conn: &mut DbConn) -> StoreResult<(i64, Option<NaiveDateTime>)> {
    let waiting: i64 = d::table
        .filter(d::status.eq(PENDING))
        .count()
        .get_result(conn)?;
    let oldest: Option<NaiveDateTime> = d::table
        .filter(d::status.eq(PENDING))
        .select(diesel::dsl::min(d::created_at))
        .first(conn)?;
    Ok((waiting, oldest))
}
