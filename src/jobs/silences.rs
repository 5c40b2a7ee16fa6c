//! Monitoring silences in Prometheus Alertmanager for approved changes:
//! each turn takes the changes out of step with their tickets
//! (`store::silences::due`), claims each under a lease, works out the
//! silence it wants, and makes, moves or expires it through
//! Alertmanager's API v2 — the call made between two short writes, never
//! inside a transaction — then records what Alertmanager holds, or the
//! error (the change stays out of step and is tried again next turn).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::config::{AlertmanagerConfig, redact_url};
use crate::db::Db;
use crate::store::silences::{self, Candidate, Desired, SilenceRow, Synced, Wanted};

/// Alertmanager's longest wait.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// Changes looked at in one turn; how many calls are in flight at once.
pub const BATCH: i64 = 64;
const IN_FLIGHT: usize = 8;

/// What the runner needs to talk to Alertmanager.
pub struct SilenceSync {
    client: reqwest::Client,
    /// Without a trailing slash.
    url: String,
    /// The label matched against a change's hosts and resources' names.
    label: String,
}

impl SilenceSync {
    pub fn new(config: &AlertmanagerConfig) -> anyhow::Result<SilenceSync> {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("countersign-silences")
            .build()?;
        Ok(SilenceSync {
            client,
            url: config.url.trim_end_matches('/').to_string(),
            label: config.label.clone(),
        })
    }
}

/// Runs a turn each `POLL` until `stopping` says stop, then hands back
/// what it holds.
pub async fn run(
    db: Db,
    sync: Arc<SilenceSync>,
    runner: String,
    mut stopping: watch::Receiver<bool>,
) {
    loop {
        if *stopping.borrow() {
            break;
        }
        turn(&db, &sync, &runner).await;
        tokio::select! {
            _ = stopping.changed() => {}
            _ = actix_web::rt::time::sleep(super::POLL) => {}
        }
    }
    let name = runner.clone();
    if let Err(e) = db.write(move |c| silences::release(c, &name)).await {
        tracing::warn!(error = %e, "handing back silences failed");
    }
}

/// Looks at the changes out of step with their tickets and brings their
/// silences in step; how many it claimed.
pub async fn turn(db: &Db, sync: &SilenceSync, runner: &str) -> usize {
    use futures_util::StreamExt;
    let at = db.now();
    let due = db
        .read(move |c| silences::due(c, at, BATCH))
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "looking for changes to silence failed");
            Vec::new()
        });
    let looked: Vec<bool> = futures_util::stream::iter(due)
        .map(|candidate| reconcile(db, sync, runner, candidate))
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    looked.into_iter().filter(|claimed| *claimed).count()
}

/// Claims one change, brings its silence in step and records it; whether
/// it was ours to look at.
async fn reconcile(db: &Db, sync: &SilenceSync, runner: &str, candidate: Candidate) -> bool {
    let apply = candidate.apply;
    let name = runner.to_string();
    let looked = db
        .write(move |c| {
            let until = crate::store::now() + super::LEASE;
            if !silences::claim(c, apply, &name, until)? {
                return Ok(None);
            }
            Ok(Some((
                silences::wanted(c, apply)?,
                silences::of_ticket(c, apply)?,
            )))
        })
        .await;
    let (desired, recorded) = match looked {
        Ok(Some(looked)) => looked,
        Ok(None) => return false,
        Err(e) => {
            tracing::warn!(apply = apply.0, error = %e, "claiming a change's silence failed");
            return false;
        }
    };
    let outcome = bring_in_step(sync, &candidate, desired, recorded, db.now()).await;
    if let Err(error) = &outcome {
        tracing::warn!(apply = apply.0, %error, "Alertmanager could not be brought in step");
    }
    let name = runner.to_string();
    match db
        .write(move |c| silences::record(c, apply, &name, outcome.as_ref().map_err(String::as_str)))
        .await
    {
        Ok(true) => {}
        Ok(false) => tracing::warn!(
            apply = apply.0,
            "a change's silence was taken over meanwhile"
        ),
        // Left claimed: looked at again once the lease lapses.
        Err(e) => {
            tracing::warn!(apply = apply.0, error = %e, "recording a change's silence failed")
        }
    }
    true
}

/// Makes Alertmanager hold what the change wants: a silence made, moved
/// (Alertmanager may answer another id) or left as it is, one expired, or
/// nothing. What it holds then, or why not.
async fn bring_in_step(
    sync: &SilenceSync,
    candidate: &Candidate,
    desired: Desired,
    recorded: Option<SilenceRow>,
    at: NaiveDateTime,
) -> Result<Synced, String> {
    let version = desired.version;
    let live = recorded.as_ref().filter(|r| r.live(at));
    match (desired.wanted, live) {
        (Some(wanted), Some(live))
            if live.window == Some(wanted.window) && live.matchers == wanted.matchers =>
        {
            Ok(Synced {
                silence_id: live.silence_id.clone(),
                window: live.window,
                matchers: live.matchers.clone(),
                version,
            })
        }
        (Some(wanted), live) => {
            let id = post(
                sync,
                candidate,
                &wanted,
                live.and_then(|l| l.silence_id.as_deref()),
            )
            .await?;
            Ok(Synced {
                silence_id: Some(id),
                window: Some(wanted.window),
                matchers: wanted.matchers,
                version,
            })
        }
        (None, Some(live)) => {
            let id = live.silence_id.clone().expect("a live silence has an id");
            expire(sync, &id).await?;
            let (starts, _) = live.window.expect("a live silence has a window");
            Ok(Synced {
                silence_id: Some(id),
                window: Some((starts.min(at), at)),
                matchers: live.matchers.clone(),
                version,
            })
        }
        (None, None) => Ok(Synced {
            silence_id: recorded.as_ref().and_then(|r| r.silence_id.clone()),
            window: recorded.as_ref().and_then(|r| r.window),
            matchers: recorded.map(|r| r.matchers).unwrap_or_default(),
            version,
        }),
    }
}

/// A time as Alertmanager reads it (RFC 3339, UTC).
fn rfc3339(at: NaiveDateTime) -> String {
    DateTime::<Utc>::from_naive_utc_and_offset(at, Utc).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `text` as a literal inside a regular expression (Go's `QuoteMeta`).
pub fn quote_meta(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if r"\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The matcher of a silence on `label` for `names`: a regular expression
/// (Alertmanager anchors it) of the names, each taken literally, with an
/// optional port after it, since `instance` is usually `host:port`.
pub fn matcher(label: &str, names: &[String]) -> Value {
    let names = names
        .iter()
        .map(|n| quote_meta(n))
        .collect::<Vec<_>>()
        .join("|");
    json!({
        "name": label,
        "value": format!("({names})(:[0-9]+)?"),
        "isRegex": true,
        "isEqual": true,
    })
}

/// The body of a silence for `candidate` as `wanted`, replacing `id`.
fn silence_body(
    sync: &SilenceSync,
    candidate: &Candidate,
    wanted: &Wanted,
    id: Option<&str>,
) -> Value {
    let mut body = json!({
        "matchers": [matcher(&sync.label, &wanted.matchers)],
        "startsAt": rfc3339(wanted.window.0),
        "endsAt": rfc3339(wanted.window.1),
        "createdBy": "countersign",
        "comment": format!("{}: {}", candidate.serial, candidate.title),
    });
    if let Some(id) = id {
        body["id"] = Value::String(id.to_string());
    }
    body
}

/// Makes the silence, or moves silence `id` (one Alertmanager no longer
/// knows is made afresh); the id Alertmanager answers.
async fn post(
    sync: &SilenceSync,
    candidate: &Candidate,
    wanted: &Wanted,
    id: Option<&str>,
) -> Result<String, String> {
    let url = format!("{}/api/v2/silences", sync.url);
    let send = |id: Option<&str>| {
        sync.client
            .post(&url)
            .header("Content-Type", "application/json")
            .body(silence_body(sync, candidate, wanted, id).to_string())
            .send()
    };
    let mut res = send(id).await.map_err(|e| failed("POST", &url, e))?;
    if id.is_some() && res.status() == reqwest::StatusCode::NOT_FOUND {
        res = send(None).await.map_err(|e| failed("POST", &url, e))?;
    }
    let status = res.status();
    let text = res.text().await.map_err(|e| failed("POST", &url, e))?;
    if !status.is_success() {
        return Err(refused("POST", &url, status, &text));
    }
    serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v["silenceID"].as_str().map(str::to_string))
        .ok_or_else(|| format!("POST {}: no silenceID in {}", redact_url(&url), cut(&text)))
}

/// Expires silence `id`; one Alertmanager does not know, or that has
/// already ended, counts as expired.
async fn expire(sync: &SilenceSync, id: &str) -> Result<(), String> {
    let url = format!("{}/api/v2/silence/{id}", sync.url);
    let res = sync
        .client
        .delete(&url)
        .send()
        .await
        .map_err(|e| failed("DELETE", &url, e))?;
    let status = res.status();
    if status.is_success() || status == reqwest::StatusCode::NOT_FOUND {
        return Ok(());
    }
    let text = res.text().await.unwrap_or_default();
    // Alertmanager refuses to expire an expired silence: ask how it is.
    let state = match sync.client.get(&url).send().await {
        Ok(got) if got.status().is_success() => got
            .text()
            .await
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|v| v["status"]["state"].as_str().map(str::to_string)),
        Ok(got) if got.status() == reqwest::StatusCode::NOT_FOUND => Some("expired".into()),
        _ => None,
    };
    if state.as_deref() == Some("expired") {
        return Ok(());
    }
    Err(refused("DELETE", &url, status, &text))
}

/// Why a call failed, as recorded (the ticket page may show it): the URL
/// without any password in it.
fn failed(method: &str, url: &str, e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut cause = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(inner) = source {
        cause = format!("{cause}: {inner}");
        source = inner.source();
    }
    format!("{method} {}: {}", redact_url(url), cut(&cause))
}

fn refused(method: &str, url: &str, status: reqwest::StatusCode, text: &str) -> String {
    format!(
        "{method} {}: HTTP {}: {}",
        redact_url(url),
        status.as_u16(),
        cut(text)
    )
}

/// At most 200 characters of an answer, on one line.
fn cut(text: &str) -> String {
    text.trim()
        .chars()
        .take(200)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_matched_literally_inside_an_alternation() {
        assert_eq!(quote_meta("db01.example"), r"db01\.example");
        assert_eq!(
            quote_meta("a+b(c)|[d]{e}^$*?\\"),
            r"a\+b\(c\)\|\[d\]\{e\}\^\$\*\?\\"
        );
        let one = matcher("instance", &["db01.example".into()]);
        assert_eq!(one["value"], r"(db01\.example)(:[0-9]+)?");
        assert_eq!(one["isRegex"], true);
        let two = matcher("instance", &["db01.example".into(), "web01".into()]);
        assert_eq!(two["value"], r"(db01\.example|web01)(:[0-9]+)?");
        assert_eq!(two["isRegex"], true);
        assert_eq!(two["isEqual"], true);
    }

    #[test]
    fn times_go_to_alertmanager_in_utc() {
        let at = NaiveDateTime::parse_from_str("2027-01-02 03:04:05", "%Y-%m-%d %H:%M:%S").unwrap();
        assert_eq!(rfc3339(at), "2027-01-02T03:04:05.000Z");
    }
}
