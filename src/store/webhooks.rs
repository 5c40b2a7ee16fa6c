//! Webhooks: endpoints an administrator registers, and the ticket events
//! they are sent. Each event some endpoint wants is written once, in the
//! event's own transaction, to a stream (`webhook_events`) that every
//! endpoint reads in order from where it got to, one instance at a time
//! (a lease on the endpoint). Each attempt is logged as a delivery; a
//! failed one waits in the log and is tried again with backoff until it is
//! taken or given up on. Chat robots are endpoints of another kind: the
//! same events, worded for a group by `notify::hooks`.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::audit::{self, Audit};
use super::cache::ShortCache;
use super::held::CHUNK;
use super::{StoreError, StoreResult, now};
use crate::db::DbConn;
use crate::db::ids::{ApplyId, DeliveryId, UserId, WebhookId};
use crate::db::schema::{
    applies as a, services as sv, users, webhook_deliveries as d, webhook_events as ev,
    webhooks as w,
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
    /// Its events several to a request (`{"events": [...]}`).
    pub batch: bool,
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
    /// Empty: every one.
    events: Vec<String>,
    services: Vec<i32>,
    businesses: Vec<i32>,
}

impl Subscription {
    fn of(hook: &Webhook) -> Subscription {
        Subscription {
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
    /// Several events to a request (plain webhooks only).
    pub batch: bool,
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

/// Where the stream ends now (`(tx, id)` of its last event; `(0, 0)`
/// when empty): an endpoint added or turned on reads from here.
fn stream_end(conn: &mut DbConn) -> StoreResult<(i64, i32)> {
    Ok(ev::table
        .order((ev::tx.desc(), ev::id.desc()))
        .select((ev::tx, ev::id))
        .first(conn)
        .optional()?
        .unwrap_or((0, 0)))
}

pub fn create(conn: &mut DbConn, new: &NewWebhook, by: UserId) -> StoreResult<WebhookId> {
    let (end_tx, end) = stream_end(conn)?;
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
            w::batch.eq(new.batch && new.kind == Kind::Webhook),
            w::read_tx.eq(end_tx),
            w::read_through.eq(end),
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
    // Turned on, it reads from the stream's end: what happened while it
    // was off is not sent (as it was not while it was off).
    let (end_tx, end) = stream_end(conn)?;
    let n = diesel::update(w::table.find(id).filter(w::active.ne(on)))
        .set((
            w::active.eq(on),
            w::read_tx.eq(end_tx),
            w::read_through.eq(end),
        ))
        .execute(conn)?;
    if n == 0 {
        // Already so (a second click), or not there.
        find(conn, id)?;
        return Ok(());
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

/// Writes `events` (an action's, at its end, in its transaction) to the
/// stream, each once, when any active endpoint wants it.
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
    type TicketRow = (String, String, String, String, i32, Option<i32>, String);
    // One ticket and a person or two an action, each read by a statement
    // prepared once (a list of ids would be planned at every action).
    let mut tickets: HashMap<ApplyId, TicketRow> = HashMap::new();
    for id in ids {
        let row = a::table
            .inner_join(sv::table)
            .filter(a::id.eq(id))
            .select((
                a::serial,
                a::title,
                a::kind,
                a::status,
                a::service_id,
                a::business_id,
                sv::name_en,
            ))
            .first::<(
                String,
                String,
                String,
                String,
                crate::db::ids::ServiceId,
                Option<crate::db::ids::BusinessId>,
                String,
            )>(conn)
            .optional()?;
        if let Some((serial, title, kind, status, service, business, name)) = row {
            tickets.insert(
                id,
                (
                    serial,
                    title,
                    kind,
                    status,
                    service.0,
                    business.map(|b| b.0),
                    name,
                ),
            );
        }
    }
    let mut people: Vec<UserId> = events
        .iter()
        .flat_map(|e| e.actor.into_iter().chain(e.on_behalf_of))
        .collect();
    people.sort();
    people.dedup();
    let mut names: HashMap<UserId, String> = HashMap::new();
    for person in people {
        if let Some(name) = username(conn, person)? {
            names.insert(person, name);
        }
    }
    let at = now();
    let mut rows = Vec::new();
    for event in events {
        let id = ApplyId(event.apply_id);
        let Some((serial, title, kind, status, service, business, service_name)) =
            tickets.get(&id).cloned()
        else {
            continue;
        };
        if !hooks
            .iter()
            .any(|h| h.wants(&event.event, service, business))
        {
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
        rows.push((
            ev::event_id.eq(payload.id.clone()),
            ev::event_type.eq(event.event),
            ev::apply_id.eq(Some(id.0)),
            ev::service_id.eq(Some(service)),
            ev::business_id.eq(business),
            ev::payload.eq(serde_json::to_string(&payload).unwrap_or_default()),
            ev::created_at.eq(At(at)),
        ));
    }
    if rows.is_empty() {
        return Ok(0);
    }
    let n = rows.len();
    match conn {
        DbConn::Pg(pg) => {
            for chunk in rows.chunks(CHUNK) {
                diesel::insert_into(ev::table).values(chunk).execute(pg)?;
            }
        }
        // A row at a time on SQLite: a one-row insert stays prepared.
        DbConn::Sqlite(lite) => {
            for row in rows {
                diesel::insert_into(ev::table).values(row).execute(lite)?;
            }
        }
    }
    crate::db::after_commit(wake);
    Ok(n)
}

/// Usernames by database and person, as events name their actors: a
/// username never changes, so one read serves every later event (the
/// map is emptied once it holds `NAMES_KEPT`).
static NAMES: std::sync::Mutex<Option<HashMap<(u64, UserId), String>>> =
    std::sync::Mutex::new(None);
const NAMES_KEPT: usize = 10_000;

fn username(conn: &mut DbConn, person: UserId) -> StoreResult<Option<String>> {
    type Names = HashMap<(u64, UserId), String>;
    let kept = || -> std::sync::MutexGuard<'static, Option<Names>> {
        NAMES.lock().unwrap_or_else(|p| p.into_inner())
    };
    let key = (crate::db::unit_of().unwrap_or(0), person);
    if let Some(name) = kept().get_or_insert_with(HashMap::new).get(&key) {
        return Ok(Some(name.clone()));
    }
    let name = users::table
        .find(person)
        .select(users::username)
        .first::<String>(conn)
        .optional()?;
    if let Some(name) = &name {
        let mut names = kept();
        let names = names.get_or_insert_with(HashMap::new);
        if names.len() >= NAMES_KEPT {
            names.clear();
        }
        names.insert(key, name.clone());
    }
    Ok(name)
}

/// Woken when events or deliveries written here have committed, so the
/// sender need not wait for its next look.
pub static WAKE: tokio::sync::Notify = tokio::sync::Notify::const_new();

fn wake() {
    WAKE.notify_one();
}

/// Counts the times an administrator asked for a delivery (a test, "send
/// again"), so each sender looks for those due at once when it changed.
static ASKED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn ask() {
    ASKED.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    WAKE.notify_one();
}

/// How many times deliveries were asked for so far: a sender that saw
/// another number last looks for them at once.
pub fn asked() -> u64 {
    ASKED.load(std::sync::atomic::Ordering::Acquire)
}

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
    crate::db::after_commit(ask);
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
    /// Its event in the stream, whose body it carries (`None`: a ping,
    /// or one written before the stream, its body its own); the first of
    /// them for a request that carried several.
    pub event_row: Option<i32>,
    /// The stream's rows a request of several events carried, in order
    /// (`1,4,9`); `None` for one event.
    pub event_rows: Option<String>,
}

impl Delivery {
    /// The stream's rows this delivery carries, in order.
    pub fn rows(&self) -> Vec<i32> {
        match &self.event_rows {
            Some(list) => list.split(',').filter_map(|r| r.parse().ok()).collect(),
            None => self.event_row.into_iter().collect(),
        }
    }

    /// How many events this delivery carries.
    pub fn events(&self) -> usize {
        self.rows().len().max(1)
    }
}

diesel::alias!(d as due: Due);

/// An event of the stream, as an endpoint is sent it.
#[derive(Debug, Clone, Queryable)]
pub struct StreamEvent {
    pub row: i32,
    pub tx: i64,
    pub event_id: String,
    pub event_type: String,
    pub apply_id: Option<i32>,
    pub service_id: Option<i32>,
    pub business_id: Option<i32>,
    pub payload: String,
}

/// What an endpoint is to be sent from the stream: the events after
/// where it got to (`from`) that it wants, and where it will have got to
/// once they are sent (`to`).
#[derive(Debug, Clone)]
pub struct Stream {
    pub hook: Webhook,
    pub from: (i64, i32),
    pub to: (i64, i32),
    /// Shared by the endpoints that read them, not copied for each.
    pub events: Vec<Arc<StreamEvent>>,
}

/// An endpoint this instance reads for the moment, and where it got to.
pub type Leased = (Webhook, i64, i32);

/// Takes the active endpoints no other instance reads: a lease of
/// `lease_secs` for `worker`, renewed at each look.
pub fn lease(conn: &mut DbConn, worker: &str, lease_secs: i64) -> StoreResult<Vec<Leased>> {
    let at = now();
    let until = at + Duration::seconds(lease_secs);
    Ok(crate::direct!(conn, |c| crate::db::prepared::update(
        w::table.filter(w::active.eq(true)).filter(
            w::claimed_until
                .is_null()
                .or(w::claimed_until.lt(At(at)))
                .or(w::claimed_by.eq(worker)),
        ),
        (w::claimed_by.eq(worker), w::claimed_until.eq(At(until))),
    )
    .returning((Webhook::as_returning(), w::read_tx, w::read_through))
    .get_results(c))?)
}

/// For each endpoint `leased`, up to `limit` events of the stream after
/// where it got to, in order — a read, beside the writes of tickets. On
/// PostgreSQL only events of transactions older than every one still
/// running are read: one that commits late is read in its turn, never
/// passed over.
pub fn read(conn: &mut DbConn, leased: Vec<Leased>, limit: i64) -> StoreResult<Vec<Stream>> {
    // One read for each place endpoints got to (those that keep up read
    // together), so one far behind holds up no other.
    let mut places: Vec<(i64, i32)> = leased.iter().map(|(_, tx, id)| (*tx, *id)).collect();
    places.sort();
    places.dedup();
    let mut events: Vec<StreamEvent> = Vec::new();
    for (from_tx, from) in places {
        let fields = (
            ev::id,
            ev::tx,
            ev::event_id,
            ev::event_type,
            ev::apply_id,
            ev::service_id,
            ev::business_id,
            ev::payload,
        );
        let read: Vec<StreamEvent> = match conn {
            // A row-value comparison: PostgreSQL walks the (tx, id) index
            // from that place.
            DbConn::Pg(pg) => ev::table
                .filter(
                    diesel::dsl::sql::<diesel::sql_types::Bool>(
                        "(webhook_events.tx, webhook_events.id) > (",
                    )
                    .bind::<diesel::sql_types::BigInt, _>(from_tx)
                    .sql(", ")
                    .bind::<diesel::sql_types::Integer, _>(from)
                    .sql(")"),
                )
                .filter(ev::tx.lt(diesel::dsl::sql::<diesel::sql_types::BigInt>(
                    "txid_snapshot_xmin(txid_current_snapshot())",
                )))
                .order((ev::tx, ev::id))
                .limit(limit)
                .select(fields)
                .load(pg)?,
            // On SQLite every event's `tx` is 0 (one writer: ids grow in
            // commit order). SQLite would walk a row-value comparison's
            // index from the first column only, every event from the
            // start at each read; `tx = 0 AND id > ?` starts at the place.
            DbConn::Sqlite(lite) => ev::table
                .filter(ev::tx.eq(from_tx))
                .filter(ev::id.gt(from))
                .order((ev::tx, ev::id))
                .limit(limit)
                .select(fields)
                .load(lite)?,
        };
        events.extend(read);
    }
    events.sort_by_key(|e| (e.tx, e.row));
    events.dedup_by_key(|e| (e.tx, e.row));
    let events: Vec<Arc<StreamEvent>> = events.into_iter().map(Arc::new).collect();
    let mut out = Vec::new();
    for (hook, tx, id) in leased {
        let mine: Vec<&Arc<StreamEvent>> = events
            .iter()
            .filter(|e| (e.tx, e.row) > (tx, id))
            .take(limit as usize)
            .collect();
        let Some(last) = mine.last() else {
            continue;
        };
        let wants = Subscription::of(&hook);
        out.push(Stream {
            from: (tx, id),
            to: (last.tx, last.row),
            events: mine
                .iter()
                .filter(|e| {
                    wants.wants(
                        &e.event_type,
                        e.service_id.unwrap_or_default(),
                        e.business_id,
                    )
                })
                .map(|e| Arc::clone(e))
                .collect(),
            hook,
        });
    }
    Ok(out)
}

/// How sending one endpoint its part of the stream went: each request
/// with the events it carried (one, or several taken together).
#[derive(Debug, Clone)]
pub struct Streamed {
    pub hook: WebhookId,
    pub from: (i64, i32),
    pub to: (i64, i32),
    pub sent: Vec<(Vec<Arc<StreamEvent>>, Attempt)>,
}

/// Moves each endpoint on to where it got to, renewing its lease, and
/// logs each request: taken ones as delivered, the others to be tried
/// again after their backoff (a request of several events again as one).
/// An endpoint another instance has moved on meanwhile (this one's lease
/// ran out as it sent) is left as it is, its requests unlogged: the
/// events went out twice, with the same ids.
pub fn advance(conn: &mut DbConn, streamed: &[Streamed], lease_secs: i64) -> StoreResult<()> {
    let at = now();
    let mut rows = Vec::new();
    for s in streamed {
        // Only from where it was read: whoever sent a stretch first moves
        // the endpoint on (an instance whose lease ran out while it sent
        // may be that one — the events went out either way).
        let moved = diesel::update(
            w::table
                .find(s.hook)
                .filter(w::read_tx.eq(s.from.0))
                .filter(w::read_through.eq(s.from.1)),
        )
        .set((
            w::read_tx.eq(s.to.0),
            w::read_through.eq(s.to.1),
            w::claimed_until.eq(At(at + Duration::seconds(lease_secs))),
        ))
        .execute(conn)?;
        if moved == 0 {
            continue;
        }
        for (events, attempt) in &s.sent {
            let Some(first) = events.first() else {
                continue;
            };
            let taken = attempt.succeeded();
            let several = (events.len() > 1).then(|| {
                events
                    .iter()
                    .map(|e| e.row.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            });
            let one_ticket = events.iter().all(|e| e.apply_id == first.apply_id);
            rows.push((
                d::webhook_id.eq(s.hook),
                d::event_id.eq(first.event_id.clone()),
                d::event_type.eq(first.event_type.clone()),
                d::apply_id.eq(if one_ticket { first.apply_id } else { None }),
                d::payload.eq(""),
                d::status.eq(if taken { DELIVERED } else { PENDING }),
                d::attempts.eq(1),
                d::next_attempt_at.eq(At(if taken {
                    at
                } else {
                    at + super::outbox::backoff(0)
                })),
                d::response_code.eq(attempt.code.map(i32::from)),
                d::latency_ms.eq(Some(attempt.latency_ms)),
                d::error.eq(attempt.error.clone()),
                d::created_at.eq(At(at)),
                d::delivered_at.eq(taken.then_some(At(at))),
                (d::event_row.eq(Some(first.row)), d::event_rows.eq(several)),
            ));
        }
    }
    for chunk in rows.chunks(CHUNK) {
        crate::direct!(conn, |c| diesel::insert_into(d::table)
            .values(chunk)
            .execute(c))?;
    }
    Ok(())
}

/// An event a delivery carries, as it is sent again.
#[derive(Debug, Clone)]
pub struct Carried {
    pub id: String,
    pub kind: String,
    pub payload: String,
}

/// A delivery to be tried again, with its endpoint and its events (more
/// than one when they went together).
#[derive(Debug, Clone)]
pub struct Again {
    pub delivery: Delivery,
    pub hook: Webhook,
    pub events: Vec<Carried>,
}

/// Claims up to `limit` due deliveries for `worker` for `lease_secs`,
/// oldest first, with their endpoints: one conditional update, so two
/// instances never take the same one (the second finds the first's lease
/// when it re-checks the row).
pub fn claim(
    conn: &mut DbConn,
    worker: &str,
    limit: i64,
    lease_secs: i64,
) -> StoreResult<Vec<Again>> {
    let at = now();
    let until = at + Duration::seconds(lease_secs);
    // `status = 'pending'` as written in the index of those waiting, so
    // both databases use it (a bound value would not match it).
    let ready = due
        .filter(diesel::dsl::sql::<diesel::sql_types::Bool>(
            "due.status = 'pending'",
        ))
        .filter(due.field(d::next_attempt_at).le(At(at)))
        .filter(
            due.field(d::claimed_until)
                .is_null()
                .or(due.field(d::claimed_until).lt(At(at))),
        )
        .order(due.field(d::id))
        .limit(limit)
        .select(due.field(d::id));
    let claimed: Vec<Delivery> = crate::direct!(conn, |c| crate::db::prepared::update(
        d::table
            .filter(d::id.eq_any(ready))
            .filter(d::status.eq(PENDING))
            .filter(d::claimed_until.is_null().or(d::claimed_until.lt(At(at)))),
        (d::claimed_by.eq(worker), d::claimed_until.eq(At(until))),
    )
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
    // A delivery of the stream carries its events' bodies.
    let rows: Vec<i32> = claimed.iter().flat_map(Delivery::rows).collect();
    let mut bodies: HashMap<i32, Carried> = HashMap::new();
    for chunk in rows.chunks(CHUNK) {
        let found: Vec<(i32, String, String, String)> = ev::table
            .filter(ev::id.eq_any(chunk))
            .select((ev::id, ev::event_id, ev::event_type, ev::payload))
            .load(conn)?;
        bodies.extend(
            found
                .into_iter()
                .map(|(row, id, kind, payload)| (row, Carried { id, kind, payload })),
        );
    }
    let mut out: Vec<Again> = claimed
        .into_iter()
        .filter_map(|delivery| {
            let events: Vec<Carried> = if delivery.event_row.is_some() {
                delivery
                    .rows()
                    .iter()
                    .filter_map(|row| bodies.get(row).cloned())
                    .collect()
            } else {
                vec![Carried {
                    id: delivery.event_id.clone(),
                    kind: delivery.event_type.clone(),
                    payload: delivery.payload.clone(),
                }]
            };
            let hook = hooks.get(&delivery.webhook_id).cloned()?;
            Some(Again {
                delivery,
                hook,
                events,
            })
        })
        .collect();
    out.sort_by_key(|a| a.delivery.id);
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

/// Hands back the endpoints `worker` reads and the deliveries it claimed
/// and has not recorded (at a stop).
pub fn release(conn: &mut DbConn, worker: &str) -> StoreResult<usize> {
    diesel::update(w::table.filter(w::claimed_by.eq(worker)))
        .set(w::claimed_until.eq(None::<At>))
        .execute(conn)?;
    Ok(diesel::update(
        d::table
            .filter(diesel::dsl::sql::<diesel::sql_types::Bool>(
                "webhook_deliveries.status = 'pending'",
            ))
            .filter(d::claimed_by.eq(worker))
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
    crate::db::after_commit(ask);
    Ok(())
}
