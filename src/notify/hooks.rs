//! The webhook sender: reads each endpoint's part of the event stream
//! (a lease on the endpoint, so one instance at a time sends it), and the
//! deliveries due again, sends them at once — signed JSON to a webhook,
//! one event to a request or several (`{"events": [...]}`), or a chat
//! robot's own message — and records each answer in one write; a failure
//! waits its backoff and is tried again. Woken as soon as this instance
//! commits events, and looking every second for those another instance
//! wrote.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::watch;

use crate::db::Db;
use crate::i18n::Lang;
use crate::store::webhooks::{self, Again, Attempt, Kind, Payload, Stream, Streamed, Webhook};

/// How many deliveries due again one claim takes, and how many events of
/// each endpoint's stream one look reads; how long a lease lasts.
const BATCH: i64 = 256;
const STREAM: i64 = 256;
/// Long enough for most looks (a slow receiver's outlast it: another
/// instance may then send its events again, and the first to finish
/// moves the endpoint on).
const LEASE_SECS: i64 = 60;
/// The most events a request of an endpoint that takes them together
/// carries.
pub const MAX_BATCH: usize = 100;
/// The most requests in flight at once.
const IN_FLIGHT: usize = 64;
/// A receiver's longest wait.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// How often it looks for deliveries another instance wrote.
const POLL: Duration = Duration::from_secs(1);

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// The `Countersign-Signature` header of `body` sent at `unix`:
/// `t=<unix>,v1=<hex HMAC-SHA256 of "<unix>.<body>" with the secret>`.
pub fn signature(secret: &str, unix: i64, body: &str) -> String {
    let signed = hmac(secret.as_bytes(), format!("{unix}.{body}").as_bytes());
    format!("t={unix},v1={}", hex::encode(signed))
}

/// The line a chat robot posts, in the robot's language: what happened
/// to which ticket, by whom, and a link to its page (never a one-click
/// approval: a group is not one approver).
pub fn chat_line(payload: &Payload, lang: Lang, base_url: &str) -> String {
    let what = lang
        .t(&format!("hooks.events.{}", payload.kind.replace('.', "_")))
        .into_owned();
    let who = payload
        .actor
        .clone()
        .unwrap_or_else(|| "countersign".into());
    match &payload.ticket {
        Some(t) => lang.tf(
            "hooks.line",
            &[
                ("serial", &t.serial),
                ("title", &t.title),
                ("what", &what),
                ("who", &who),
                ("url", &format!("{base_url}{}", t.path)),
            ],
        ),
        None => lang.tf("hooks.ping", &[("who", &who)]),
    }
}

/// The request one delivery makes: where, with which headers and body.
pub struct Outgoing {
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

/// One event as it goes out: its id, its type and its body as written.
#[derive(Debug, Clone, Copy)]
pub struct Out<'a> {
    pub id: &'a str,
    pub kind: &'a str,
    pub payload: &'a str,
}

/// Builds the request carrying `events` to endpoint `hook` at `now_ms`
/// (Unix milliseconds): a webhook that takes them together gets
/// `{"events": [...]}` (one or more), any other one event (the first).
pub fn outgoing(events: &[Out<'_>], hook: &Webhook, base_url: &str, now_ms: i64) -> Outgoing {
    let unix = now_ms / 1000;
    let Some(first) = events.first().copied() else {
        return Outgoing {
            url: hook.url.clone(),
            headers: Vec::new(),
            body: String::new(),
        };
    };
    // A chat robot's line is worded from the event; a webhook sends the
    // event as it was written.
    let line = || {
        let lang = Lang::parse(&hook.language).unwrap_or_default();
        serde_json::from_str::<Payload>(first.payload)
            .map(|p| chat_line(&p, lang, base_url))
            .unwrap_or_default()
    };
    let secret = hook.secret.trim();
    match hook.kind() {
        Kind::Webhook if hook.batch => {
            let mut body = String::with_capacity(
                12 + events.iter().map(|e| e.payload.len() + 1).sum::<usize>(),
            );
            body.push_str("{\"events\":[");
            for (i, e) in events.iter().enumerate() {
                if i > 0 {
                    body.push(',');
                }
                body.push_str(e.payload);
            }
            body.push_str("]}");
            Outgoing {
                url: hook.url.clone(),
                headers: vec![
                    ("Countersign-Batch", events.len().to_string()),
                    ("Countersign-Signature", signature(secret, unix, &body)),
                ],
                body,
            }
        }
        Kind::Webhook => Outgoing {
            url: hook.url.clone(),
            headers: vec![
                ("Countersign-Event", first.kind.to_string()),
                ("Countersign-Event-Id", first.id.to_string()),
                (
                    "Countersign-Signature",
                    signature(secret, unix, first.payload),
                ),
            ],
            body: first.payload.to_string(),
        },
        Kind::Slack => Outgoing {
            url: hook.url.clone(),
            headers: Vec::new(),
            body: serde_json::json!({ "text": line() }).to_string(),
        },
        Kind::WeCom => Outgoing {
            url: hook.url.clone(),
            headers: Vec::new(),
            body: serde_json::json!({ "msgtype": "text", "text": { "content": line() } })
                .to_string(),
        },
        Kind::DingTalk => {
            // A signed robot: the URL carries the time in milliseconds and
            // the HMAC-SHA256 of "<time>\n<secret>" keyed by the secret.
            let mut url = hook.url.clone();
            if !secret.is_empty() {
                let sign = base64::engine::general_purpose::STANDARD.encode(hmac(
                    secret.as_bytes(),
                    format!("{now_ms}\n{secret}").as_bytes(),
                ));
                let sep = if url.contains('?') { '&' } else { '?' };
                url = format!("{url}{sep}timestamp={now_ms}&sign={}", percent(&sign));
            }
            Outgoing {
                url,
                headers: Vec::new(),
                body: serde_json::json!({ "msgtype": "text", "text": { "content": line() } })
                    .to_string(),
            }
        }
        Kind::Feishu => {
            // A signed robot: the body carries the time in seconds and the
            // HMAC-SHA256 of nothing keyed by "<time>\n<secret>".
            let mut body = serde_json::json!({ "msg_type": "text", "content": { "text": line() } });
            if !secret.is_empty() {
                let sign = base64::engine::general_purpose::STANDARD
                    .encode(hmac(format!("{unix}\n{secret}").as_bytes(), b""));
                body["timestamp"] = serde_json::json!(unix.to_string());
                body["sign"] = serde_json::json!(sign);
            }
            Outgoing {
                url: hook.url.clone(),
                headers: Vec::new(),
                body: body.to_string(),
            }
        }
    }
}

/// `text` percent-encoded for a query value.
fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Sends `events` to `hook` in one request; how it went.
async fn send(
    client: &reqwest::Client,
    events: &[Out<'_>],
    hook: &Webhook,
    base_url: &str,
) -> Attempt {
    let out = outgoing(
        events,
        hook,
        base_url,
        chrono::Utc::now().timestamp_millis(),
    );
    let started = Instant::now();
    let mut req = client
        .post(&out.url)
        .header("Content-Type", "application/json")
        .header("User-Agent", "countersign-webhooks")
        .body(out.body);
    for (name, value) in out.headers {
        req = req.header(name, value);
    }
    let answer = req.send().await;
    let latency_ms = started.elapsed().as_millis().min(i32::MAX as u128) as i32;
    let id = crate::db::ids::DeliveryId(0);
    match answer {
        Ok(res) => {
            let code = res.status().as_u16();
            let error = if res.status().is_success() {
                String::new()
            } else {
                let text = res.text().await.unwrap_or_default();
                format!(
                    "HTTP {code}: {}",
                    text.chars().take(200).collect::<String>()
                )
            };
            Attempt {
                id,
                code: Some(code),
                latency_ms,
                error,
            }
        }
        Err(e) => Attempt {
            id,
            code: None,
            latency_ms,
            error: e.to_string().chars().take(300).collect(),
        },
    }
}

/// Whether `hook` takes events together (up to `MAX_BATCH` a request).
fn together(hook: &Webhook) -> bool {
    hook.batch && hook.kind() == Kind::Webhook
}

/// Sends a logged delivery again: its events as they went, together, or
/// each in a request of its own to an endpoint that no longer takes them
/// together (a refusal among them is the attempt's outcome; the receiver
/// drops again those it had by their ids).
async fn send_again(client: &reqwest::Client, again: &Again, base_url: &str) -> Attempt {
    let outs: Vec<Out<'_>> = again
        .events
        .iter()
        .map(|e| Out {
            id: &e.id,
            kind: &e.kind,
            payload: &e.payload,
        })
        .collect();
    let id = again.delivery.id;
    if outs.is_empty() {
        return Attempt {
            id,
            code: None,
            latency_ms: 0,
            error: "its events are no longer kept".to_string(),
        };
    }
    if together(&again.hook) || outs.len() == 1 {
        return Attempt {
            id,
            ..send(client, &outs, &again.hook, base_url).await
        };
    }
    // Together in flight, so the lot takes no longer than one request.
    let attempts = futures_util::future::join_all(
        outs.iter()
            .map(|out| send(client, std::slice::from_ref(out), &again.hook, base_url)),
    )
    .await;
    let outcome = attempts
        .iter()
        .find(|a| !a.succeeded())
        .or(attempts.last())
        .cloned()
        .expect("at least one event");
    Attempt { id, ..outcome }
}

/// One request's worth of work: some of an endpoint's stream (which one,
/// and which of its events), or a delivery due again.
enum Job<'a> {
    Stream(usize, &'a [Arc<webhooks::StreamEvent>]),
    Again(usize),
}

/// Sends what was taken — each endpoint's events one to a request, or
/// together up to `MAX_BATCH` for one that takes them so, and each
/// delivery due again — at most `IN_FLIGHT` requests at a time; how each
/// went.
async fn send_all(
    client: &reqwest::Client,
    streams: &[Stream],
    again: &[Again],
    base_url: &str,
) -> (Vec<Streamed>, Vec<Attempt>) {
    use futures_util::StreamExt;
    let mut jobs = Vec::new();
    for (i, s) in streams.iter().enumerate() {
        let size = if together(&s.hook) { MAX_BATCH } else { 1 };
        jobs.extend(s.events.chunks(size).map(|chunk| Job::Stream(i, chunk)));
    }
    jobs.extend((0..again.len()).map(Job::Again));
    let results: Vec<(Job<'_>, Attempt)> = futures_util::stream::iter(jobs)
        .map(|job| async move {
            let attempt = match &job {
                Job::Stream(i, chunk) => {
                    let outs: Vec<Out<'_>> = chunk
                        .iter()
                        .map(|e| Out {
                            id: &e.event_id,
                            kind: &e.event_type,
                            payload: &e.payload,
                        })
                        .collect();
                    send(client, &outs, &streams[*i].hook, base_url).await
                }
                Job::Again(i) => send_again(client, &again[*i], base_url).await,
            };
            (job, attempt)
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    let mut streamed: Vec<Streamed> = streams
        .iter()
        .map(|s| Streamed {
            hook: s.hook.id,
            from: s.from,
            to: s.to,
            sent: Vec::new(),
        })
        .collect();
    let mut attempts = Vec::new();
    for (job, attempt) in results {
        if !attempt.succeeded() {
            tracing::info!(error = %attempt.error, "webhook delivery failed");
        }
        match job {
            Job::Stream(i, chunk) => streamed[i].sent.push((chunk.to_vec(), attempt)),
            Job::Again(_) => attempts.push(attempt),
        }
    }
    (streamed, attempts)
}

pub async fn run(db: Db, base_url: String, worker: String, mut stopping: watch::Receiver<bool>) {
    let client = match reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            tracing::error!(error = %e, "the webhook sender could not start");
            return;
        }
    };
    let base_url = base_url.trim_end_matches('/').to_string();
    // Deliveries due again wait a second at least (their backoff), so
    // they are looked for once a `POLL`, or at once when an administrator
    // asks (a test, "send again") or the last look found a full batch —
    // not at every turn of the stream.
    let mut looked_again: Option<(Instant, u64)> = None;
    loop {
        if *stopping.borrow() {
            break;
        }
        let name = worker.clone();
        let asked = webhooks::asked();
        let look_again =
            looked_again.is_none_or(|(at, seen)| seen != asked || at.elapsed() >= POLL);
        if look_again {
            looked_again = Some((Instant::now(), asked));
        }
        let (leased, again) = db
            .write(move |c| {
                Ok((
                    webhooks::lease(c, &name, LEASE_SECS)?,
                    if look_again {
                        webhooks::claim(c, &name, BATCH, LEASE_SECS)?
                    } else {
                        Vec::new()
                    },
                ))
            })
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "taking webhook endpoints failed");
                (Vec::new(), Vec::new())
            });
        // The events themselves are read beside the writers, not in turn
        // with them.
        let streams = if leased.is_empty() {
            Vec::new()
        } else {
            db.read(move |c| webhooks::read(c, leased, STREAM))
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "reading webhook events failed");
                    Vec::new()
                })
        };
        if streams.is_empty() && again.is_empty() {
            tokio::select! {
                _ = webhooks::WAKE.notified() => {}
                _ = actix_web::rt::time::sleep(POLL) => {}
                _ = stopping.changed() => {}
            }
            continue;
        }
        if again.len() as i64 >= BATCH {
            // A backlog (after an outage): the next look takes more at once.
            looked_again = None;
        }
        let (streamed, attempts) = send_all(&client, &streams, &again, &base_url).await;
        let name = worker.clone();
        if let Err(e) = db
            .write(move |c| {
                webhooks::advance(c, &streamed, LEASE_SECS)?;
                webhooks::record(c, &name, &attempts)
            })
            .await
        {
            tracing::warn!(error = %e, "recording webhook deliveries failed");
            // Sent again after a pause (receivers drop what they have seen).
            tokio::select! {
                _ = actix_web::rt::time::sleep(POLL) => {}
                _ = stopping.changed() => {}
            }
        }
    }
    let name = worker.clone();
    let _ = db.write(move |c| webhooks::release(c, &name)).await;
}
