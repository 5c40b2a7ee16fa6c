//! The webhook sender: claims due deliveries a few at a time (a lease, so
//! each is attempted by one instance at a time), sends them at once —
//! signed JSON to a webhook, or a chat robot's own message — and records
//! each answer in one write; a failure waits its backoff and is tried
//! again. Woken as soon as this instance writes deliveries, and looking
//! every second for those another instance wrote.

use std::time::{Duration, Instant};

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::watch;

use crate::db::Db;
use crate::i18n::Lang;
use crate::store::webhooks::{self, Attempt, Delivery, Kind, Payload, Webhook};

/// How many deliveries one claim takes, and how long its lease lasts.
const BATCH: i64 = 256;
const LEASE_SECS: i64 = 30;
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

/// Builds delivery `d` for endpoint `hook` at `now_ms` (Unix milliseconds).
pub fn outgoing(d: &Delivery, hook: &Webhook, base_url: &str, now_ms: i64) -> Outgoing {
    let unix = now_ms / 1000;
    // A chat robot's line is worded from the event; a webhook sends the
    // event as it was written.
    let line = || {
        let lang = Lang::parse(&hook.language).unwrap_or_default();
        serde_json::from_str::<Payload>(&d.payload)
            .map(|p| chat_line(&p, lang, base_url))
            .unwrap_or_default()
    };
    let secret = hook.secret.trim();
    match hook.kind() {
        Kind::Webhook => Outgoing {
            url: hook.url.clone(),
            headers: vec![
                ("Countersign-Event", d.event_type.clone()),
                ("Countersign-Event-Id", d.event_id.clone()),
                ("Countersign-Delivery", d.id.0.to_string()),
                ("Countersign-Signature", signature(secret, unix, &d.payload)),
            ],
            body: d.payload.clone(),
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

/// Sends one delivery; how it went.
async fn send(client: &reqwest::Client, d: &Delivery, hook: &Webhook, base_url: &str) -> Attempt {
    let out = outgoing(d, hook, base_url, chrono::Utc::now().timestamp_millis());
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
                id: d.id,
                code: Some(code),
                latency_ms,
                error,
            }
        }
        Err(e) => Attempt {
            id: d.id,
            code: None,
            latency_ms,
            error: e.to_string().chars().take(300).collect(),
        },
    }
}

/// Runs until `stopping` says stop, then hands back what it holds.
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
    loop {
        if *stopping.borrow() {
            break;
        }
        let name = worker.clone();
        let claimed = db
            .write(move |c| webhooks::claim(c, &name, BATCH, LEASE_SECS))
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "claiming webhook deliveries failed");
                Vec::new()
            });
        if claimed.is_empty() {
            tokio::select! {
                _ = webhooks::WAKE.notified() => {}
                _ = actix_web::rt::time::sleep(POLL) => {}
                _ = stopping.changed() => {}
            }
            continue;
        }
        let sends = claimed
            .iter()
            .map(|(d, hook)| send(&client, d, hook, &base_url));
        let attempts: Vec<Attempt> = futures_util::future::join_all(sends).await;
        for (a, (d, hook)) in attempts.iter().zip(&claimed) {
            if !a.succeeded() {
                tracing::info!(webhook = hook.id.0, delivery = d.id.0, error = %a.error, "webhook delivery failed");
            }
        }
        let name = worker.clone();
        if let Err(e) = db
            .write(move |c| webhooks::record(c, &name, &attempts))
            .await
        {
            tracing::warn!(error = %e, "recording webhook deliveries failed");
        }
    }
    let name = worker.clone();
    let _ = db.write(move |c| webhooks::release(c, &name)).await;
}
