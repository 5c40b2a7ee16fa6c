//! Webhooks and chat robots against a real HTTP receiver started here:
//! each event delivered signed, a refusal retried until taken and then
//! not again, a receiver that was down served once it is back, two
//! instances on one database delivering each event once, events taken
//! together in one request by an endpoint that asks so, an event whose
//! transaction commits late sent in its turn, and each chat platform's
//! own message format and signing.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use countersign::db::schema::webhook_deliveries;
use countersign::flow::Mode;
use countersign::store::api_tokens::Scope;
use diesel::prelude::*;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::mpsc;

use crate::api::{post_json, token_for};
use crate::approval_rules::{approval, deploy, people};
use crate::helpers::*;

/// One request the receiver took.
#[derive(Debug, Clone)]
pub struct Received {
    /// Path and query.
    pub target: String,
    /// Lower-case names.
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// A real HTTP receiver on a port of this machine: answers each request
/// with the next queued status (200 once none is queued), and hands every
/// request it took to the test as it arrives.
pub struct Receiver {
    pub port: u16,
    answers: Arc<Mutex<Vec<u16>>>,
    arrived: mpsc::UnboundedReceiver<Received>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Receiver {
    pub fn start() -> Receiver {
        Self::on(TcpListener::bind("127.0.0.1:0").unwrap())
    }

    /// A receiver on `port` (one that was stopped comes back).
    pub fn restart(port: u16) -> Receiver {
        Self::on(TcpListener::bind(("127.0.0.1", port)).unwrap())
    }

    fn on(listener: TcpListener) -> Receiver {
        let port = listener.local_addr().unwrap().port();
        let answers: Arc<Mutex<Vec<u16>>> = Arc::default();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (tx, arrived) = mpsc::unbounded_channel();
        let (queue, stopped) = (answers.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                let Ok(mut stream) = stream else { continue };
                let Some(got) = read_request(&mut stream) else {
                    continue;
                };
                let status = {
                    let mut q = queue.lock().unwrap();
                    if q.is_empty() { 200 } else { q.remove(0) }
                };
                let body = if status == 200 { "ok" } else { "not now" };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.flush();
                let _ = tx.send(got);
            }
        });
        Receiver {
            port,
            answers,
            arrived,
            stop,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The next requests get these statuses, in order.
    pub fn answer(&self, statuses: &[u16]) {
        self.answers.lock().unwrap().extend_from_slice(statuses);
    }

    /// The next request to arrive (within ten seconds).
    pub async fn next(&mut self) -> Received {
        tokio::time::timeout(Duration::from_secs(10), self.arrived.recv())
            .await
            .expect("a delivery within ten seconds")
            .expect("the receiver runs")
    }

    /// Whether anything more arrives within `wait`.
    pub async fn nothing_more(&mut self, wait: Duration) -> bool {
        tokio::time::timeout(wait, self.arrived.recv())
            .await
            .is_err()
    }

    /// Stops taking connections (the port closes).
    pub fn stop(self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wake the accept loop so it sees the flag and drops the listener.
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn read_request(stream: &mut std::net::TcpStream) -> Option<Received> {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let target = line.split_whitespace().nth(1)?.to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.insert(k.trim().to_lowercase(), v.trim().to_string());
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(Received {
        target,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// Registers an endpoint on the admin page as "admin"; its id and secret.
async fn register(
    app: &TestApp,
    admin: &reqwest::Client,
    fields: &[(&str, &str)],
) -> (i32, String) {
    let page = post_as(app, admin, "/admin/webhooks", fields).await;
    let id: i32 = page
        .path
        .strip_prefix("/admin/webhooks/")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "not an endpoint page: {} {:?}",
                page.path,
                page.text("main")
            )
        });
    (id, page.text("#webhook-secret").unwrap_or_default())
}

async fn file(app: &TestApp, service: i32) -> i64 {
    let (status, filed) = post_json(
        app,
        &format!("/api/v1/services/{service}/tickets"),
        &token_for(app, "applicant", Scope::Act),
        json!({ "fields": { "what": "A laptop" } }),
        None,
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{filed}");
    filed["id"].as_i64().unwrap()
}

#[actix_web::test]
async fn a_webhook_gets_each_event_signed_and_a_refused_delivery_again_until_taken_then_never_again()
 {
    let app = TestApp::spawn().await;
    people(&app, &["approver"]);
    let service = deploy(&app, vec![approval("check", Mode::Any, &["approver"])]);
    let mut receiver = Receiver::start();
    let admin = browser_for(&app, "admin").await;
    let (hook, secret) = register(
        &app,
        &admin,
        &[
            ("name", "audit sink"),
            ("kind", "webhook"),
            ("url", &receiver.url("/hooks")),
            ("secret", ""),
            ("language", "en"),
            ("events", "ticket.submitted"),
        ],
    )
    .await;
    assert!(secret.starts_with("whsec_"), "a secret was made: {secret}");
    receiver.answer(&[500]);

    let id = file(&app, service).await;

    // The first attempt is refused…
    let first = receiver.next().await;
    assert_eq!(first.target, "/hooks");
    // …and is tried again after its backoff (the clock moved, not slept).
    app.db.clock().advance(chrono::Duration::seconds(5));
    let second = receiver.next().await;
    let event = second.json();
    assert_eq!(event["type"], "ticket.submitted");
    assert_eq!(event["ticket"]["id"], id);
    assert_eq!(event["ticket"]["status"], "running");
    assert_eq!(event["actor"], "applicant");
    assert_eq!(event["channel"], "api");
    assert_eq!(
        first.json()["id"],
        event["id"],
        "the same event id: a receiver drops what it has seen"
    );
    assert_eq!(second.headers["countersign-event"], "ticket.submitted");
    assert_eq!(
        second.headers["countersign-event-id"],
        event["id"].as_str().unwrap()
    );

    // The signature: HMAC-SHA256 of "<t>.<body>" with the secret.
    let sig = &second.headers["countersign-signature"];
    let (t, v1) = sig
        .strip_prefix("t=")
        .and_then(|s| s.split_once(",v1="))
        .expect("t=…,v1=…");
    let expected = hex::encode(hmac_sha256(
        secret.as_bytes(),
        format!("{t}.{}", second.body).as_bytes(),
    ));
    assert_eq!(v1, expected);
    let forged = hex::encode(hmac_sha256(
        b"not the secret",
        format!("{t}.{}", second.body).as_bytes(),
    ));
    assert_ne!(v1, forged);

    // Taken: not sent again, and the log says how it went.
    app.db.clock().advance(chrono::Duration::minutes(30));
    assert!(receiver.nothing_more(Duration::from_millis(1500)).await);
    let (status, attempts, code): (String, i32, Option<i32>) = app.query(|c| {
        webhook_deliveries::table
            .select((
                webhook_deliveries::status,
                webhook_deliveries::attempts,
                webhook_deliveries::response_code,
            ))
            .first(c)
    });
    assert_eq!(
        (status.as_str(), attempts, code),
        ("delivered", 2, Some(200))
    );
    let log = get(&admin, &app.url(&format!("/admin/webhooks/{hook}"))).await;
    assert_eq!(
        log.attr("#delivery-log tbody tr", "data-status").as_deref(),
        Some("delivered")
    );

    // Only the events it asked for: the approval is not sent.
    let approver = token_for(&app, "approver", Scope::Act);
    let approver_id = app.user_id("approver");
    let assignment: i32 = app
        .query(move |c| {
            countersign::db::schema::approve_users::table
                .filter(
                    countersign::db::schema::approve_users::apply_id
                        .eq(countersign::db::ids::ApplyId(id as i32)),
                )
                .filter(countersign::db::schema::approve_users::user_id.eq(approver_id))
                .select(countersign::db::schema::approve_users::id)
                .first::<countersign::db::ids::ApproveUserId>(c)
        })
        .0;
    let (s, _) = post_json(
        &app,
        &format!("/api/v1/tickets/{id}/actions"),
        &approver,
        json!({ "action": "approve", "assignment": assignment }),
        None,
    )
    .await;
    assert_eq!(s, reqwest::StatusCode::OK);
    assert!(receiver.nothing_more(Duration::from_millis(1500)).await);

    // "Send again" sends the same event once more.
    let delivery: i32 = app
        .query(|c| {
            webhook_deliveries::table
                .select(webhook_deliveries::id)
                .first::<countersign::db::ids::DeliveryId>(c)
        })
        .0;
    post_as(
        &app,
        &admin,
        &format!("/admin/webhooks/{hook}/deliveries/{delivery}/again"),
        &[],
    )
    .await;
    assert_eq!(receiver.next().await.json()["id"], event["id"]);
}

#[actix_web::test]
async fn deliveries_wait_while_the_receiver_is_down_and_arrive_once_it_is_back() {
    let app = TestApp::spawn().await;
    people(&app, &["approver"]);
    let service = deploy(&app, vec![approval("check", Mode::Any, &["approver"])]);
    let receiver = Receiver::start();
    let port = receiver.port;
    let admin = browser_for(&app, "admin").await;
    register(
        &app,
        &admin,
        &[
            ("name", "sink"),
            ("kind", "webhook"),
            ("url", &receiver.url("/in")),
            ("secret", "s3cret"),
            ("language", "en"),
            ("events", "ticket.submitted"),
        ],
    )
    .await;
    receiver.stop();

    let id = file(&app, service).await;
    // Tried and refused (nobody listens): it waits, with the error kept.
    let mut failed = 0;
    for _ in 0..100 {
        failed = app.query(|c| {
            webhook_deliveries::table
                .filter(webhook_deliveries::attempts.gt(0))
                .count()
                .get_result::<i64>(c)
        });
        if failed > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(failed, 1, "an attempt was made and failed");
    let (status, error): (String, String) = app.query(|c| {
        webhook_deliveries::table
            .select((webhook_deliveries::status, webhook_deliveries::error))
            .first(c)
    });
    assert_eq!(status, "pending");
    assert!(!error.is_empty());

    // Back, and a second server on the same database (a restart): delivered.
    let mut back = Receiver::restart(port);
    app.second_instance(countersign::config::MailConfig {
        poll_ms: 50,
        ..countersign::config::MailConfig::files()
    })
    .await;
    app.advance(chrono::Duration::minutes(15));
    let got = back.next().await;
    assert_eq!(got.json()["ticket"]["id"], id);
    assert!(
        back.nothing_more(Duration::from_millis(1500)).await,
        "delivered once"
    );
}

#[actix_web::test]
async fn two_instances_on_one_database_deliver_each_event_once() {
    let app = TestApp::spawn().await;
    people(&app, &["approver"]);
    let service = deploy(&app, vec![approval("check", Mode::Any, &["approver"])]);
    let mut receiver = Receiver::start();
    let admin = browser_for(&app, "admin").await;
    register(
        &app,
        &admin,
        &[
            ("name", "sink"),
            ("kind", "webhook"),
            ("url", &receiver.url("/in")),
            ("secret", "s3cret"),
            ("language", "en"),
            ("events", "ticket.submitted"),
        ],
    )
    .await;
    app.second_instance(countersign::config::MailConfig {
        poll_ms: 50,
        ..countersign::config::MailConfig::files()
    })
    .await;
    for _ in 0..12 {
        file(&app, service).await;
    }
    let mut seen = Vec::new();
    for _ in 0..12 {
        seen.push(
            receiver.next().await.json()["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    assert!(
        receiver.nothing_more(Duration::from_millis(2500)).await,
        "nothing twice"
    );
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 12);
}

#[actix_web::test]
async fn chat_robots_get_a_line_with_the_ticket_link_in_their_own_format_and_signing() {
    let app = TestApp::spawn().await;
    people(&app, &["approver"]);
    let service = deploy(&app, vec![approval("check", Mode::Any, &["approver"])]);
    let mut receiver = Receiver::start();
    let admin = browser_for(&app, "admin").await;
    for (kind, lang, secret) in [
        ("slack", "en", ""),
        ("wecom", "zh-CN", ""),
        ("dingtalk", "zh-CN", "SECdingtalk"),
        ("feishu", "zh-CN", "feishu-secret"),
    ] {
        register(
            &app,
            &admin,
            &[
                ("name", kind),
                ("kind", kind),
                ("url", &receiver.url(&format!("/{kind}?access_token=abc"))),
                ("secret", secret),
                ("language", lang),
                ("events", "ticket.submitted"),
            ],
        )
        .await;
    }
    let id = file(&app, service).await;
    let serial: String = app.query(move |c| {
        countersign::db::schema::applies::table
            .find(countersign::db::ids::ApplyId(id as i32))
            .select(countersign::db::schema::applies::serial)
            .first(c)
    });
    let link = app.url(&format!("/tickets/{id}"));
    let mut got: HashMap<String, Received> = HashMap::new();
    for _ in 0..4 {
        let r = receiver.next().await;
        let kind = r
            .target
            .trim_start_matches('/')
            .split('?')
            .next()
            .unwrap()
            .to_string();
        got.insert(kind, r);
    }

    let slack = got["slack"].json();
    let text = slack["text"].as_str().unwrap();
    assert!(
        text.contains(&serial) && text.contains(&link) && text.contains("filed"),
        "{text}"
    );

    let wecom = got["wecom"].json();
    assert_eq!(wecom["msgtype"], "text");
    let text = wecom["text"]["content"].as_str().unwrap();
    assert!(text.contains("已提交") && text.contains(&link), "{text}");

    // DingTalk: timestamp (ms) and sign in the address.
    let ding = &got["dingtalk"];
    assert_eq!(ding.json()["msgtype"], "text");
    let query: HashMap<String, String> = ding
        .target
        .split_once('?')
        .unwrap()
        .1
        .split('&')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect();
    assert_eq!(query["access_token"], "abc");
    let ts = &query["timestamp"];
    let sign = base64::engine::general_purpose::STANDARD.encode(hmac_sha256(
        b"SECdingtalk",
        format!("{ts}\nSECdingtalk").as_bytes(),
    ));
    let decoded = query["sign"]
        .replace("%2B", "+")
        .replace("%2F", "/")
        .replace("%3D", "=");
    assert_eq!(decoded, sign);

    // Feishu: timestamp (s) and sign in the body.
    let feishu = got["feishu"].json();
    assert_eq!(feishu["msg_type"], "text");
    let ts = feishu["timestamp"].as_str().unwrap();
    let sign = base64::engine::general_purpose::STANDARD
        .encode(hmac_sha256(format!("{ts}\nfeishu-secret").as_bytes(), b""));
    assert_eq!(feishu["sign"], sign);
    let text = feishu["content"]["text"].as_str().unwrap();
    assert!(text.contains(&serial), "{text}");

    // A group is not one approver: no one-click link in any of them.
    for r in got.values() {
        assert!(!r.body.contains("/email/"), "{}", r.body);
    }
}

#[actix_web::test]
async fn an_endpoint_is_refused_with_its_input_kept_and_the_test_button_reaches_it() {
    let app = TestApp::spawn().await;
    people(&app, &[]);
    let admin = browser_for(&app, "admin").await;
    let page = post_as(
        &app,
        &admin,
        "/admin/webhooks",
        &[
            ("name", "sink"),
            ("kind", "webhook"),
            ("url", "ftp://example.com"),
            ("secret", ""),
            ("language", "en"),
            ("events", "ticket.submitted"),
        ],
    )
    .await;
    assert_eq!(page.status, reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.field_error("url").is_some());
    assert_eq!(
        page.input_value("#webhook-form", "name").as_deref(),
        Some("sink")
    );
    assert!(
        page.attr("input[value='ticket.submitted']", "checked")
            .is_some(),
        "the ticked event stays ticked"
    );

    let mut receiver = Receiver::start();
    let (hook, _) = register(
        &app,
        &admin,
        &[
            ("name", "sink"),
            ("kind", "webhook"),
            ("url", &receiver.url("/in")),
            ("secret", "x"),
            ("language", "en"),
        ],
    )
    .await;
    post_as(&app, &admin, &format!("/admin/webhooks/{hook}/test"), &[]).await;
    let ping = receiver.next().await;
    assert_eq!(ping.json()["type"], "ping");
    assert_eq!(ping.json()["actor"], "admin");
}

#[actix_web::test]
async fn an_endpoint_that_takes_events_together_gets_those_that_wait_in_one_signed_request_logged_and_retried_as_one()
 {
    let app = TestApp::spawn().await;
    people(&app, &["approver"]);
    let service = deploy(&app, vec![approval("check", Mode::Any, &["approver"])]);
    let mut receiver = Receiver::start();
    let admin = browser_for(&app, "admin").await;
    let (hook, secret) = register(
        &app,
        &admin,
        &[
            ("name", "warehouse"),
            ("kind", "webhook"),
            ("url", &receiver.url("/batch")),
            ("secret", ""),
            ("language", "en"),
            ("batch", "on"),
        ],
    )
    .await;
    let page = get(&admin, &app.url(&format!("/admin/webhooks/{hook}"))).await;
    assert!(page.text("#webhook-batch").is_some(), "the page says so");

    // Filing records several events in one transaction: they wait
    // together and go in one request. The first is refused; the same
    // request goes again after its backoff (the clock moved, not slept).
    receiver.answer(&[500]);
    let id = file(&app, service).await;
    let refused = receiver.next().await;
    app.db.clock().advance(chrono::Duration::seconds(5));
    let got = receiver.next().await;
    assert_eq!(got.body, refused.body, "the same events, as they went");
    let body = got.json();
    let events = body["events"].as_array().expect("{\"events\": [...]}");
    assert!(events.len() >= 2, "several events: {body}");
    assert_eq!(got.headers["countersign-batch"], events.len().to_string());
    assert_eq!(events[0]["type"], "ticket.submitted");
    assert!(events.iter().all(|e| e["ticket"]["id"] == id));
    let mut ids: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), events.len(), "each event keeps its own id");
    let (t, v1) = got.headers["countersign-signature"]
        .strip_prefix("t=")
        .and_then(|s| s.split_once(",v1="))
        .expect("t=…,v1=…");
    assert_eq!(
        v1,
        hex::encode(hmac_sha256(
            secret.as_bytes(),
            format!("{t}.{}", got.body).as_bytes()
        )),
        "the request is signed as a whole"
    );
    // The request is in the log once, naming its events, delivered at
    // the second attempt (once the sender has written the answer down).
    let mut logged: Vec<(String, i32, Option<String>)> = Vec::new();
    for _ in 0..100 {
        logged = app.query(|c| {
            webhook_deliveries::table
                .order(webhook_deliveries::id)
                .select((
                    webhook_deliveries::status,
                    webhook_deliveries::attempts,
                    webhook_deliveries::event_rows,
                ))
                .load(c)
        });
        if logged.iter().any(|(status, _, _)| status == "delivered") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(logged.len(), 1, "one row for the request: {logged:?}");
    let (status, attempts, rows) = &logged[0];
    assert_eq!((status.as_str(), *attempts), ("delivered", 2));
    assert_eq!(
        rows.as_deref().map(|r| r.split(',').count()),
        Some(events.len())
    );
    let log = get(&admin, &app.url(&format!("/admin/webhooks/{hook}"))).await;
    assert_eq!(
        log.attr("#delivery-log .delivery-carried", "data-events"),
        Some(events.len().to_string())
    );
    assert_eq!(
        log.text("#delivery-log .delivery-carried"),
        Some(match events.len() - 1 {
            1 => "and 1 more event".to_string(),
            n => format!("and {n} more events"),
        })
    );
}

#[actix_web::test]
async fn an_event_whose_transaction_commits_late_is_sent_in_its_turn_not_passed_over() {
    let app = TestApp::spawn().await;
    if app.db.backend() != countersign::db::Backend::Postgres {
        // SQLite commits one write at a time: events are read in the
        // order they committed, and none can commit late.
        return;
    }
    people(&app, &["approver"]);
    let service = deploy(&app, vec![approval("check", Mode::Any, &["approver"])]);
    let mut receiver = Receiver::start();
    let admin = browser_for(&app, "admin").await;
    register(
        &app,
        &admin,
        &[
            ("name", "sink"),
            ("kind", "webhook"),
            ("url", &receiver.url("/in")),
            ("secret", "s3cret"),
            ("language", "en"),
            ("events", "ticket.submitted"),
        ],
    )
    .await;

    // A transaction writes an event to the stream and stays open…
    let (wrote, written) = std::sync::mpsc::channel::<()>();
    let (commit, committing) = std::sync::mpsc::channel::<()>();
    let db = app.db.clone();
    let held = std::thread::spawn(move || {
        db.write_sync(move |c| {
            use countersign::db::schema::webhook_events as ev;
            diesel::insert_into(ev::table)
                .values((
                    ev::event_id.eq("evt_late"),
                    ev::event_type.eq("ticket.submitted"),
                    ev::service_id.eq(Some(service)),
                    ev::payload.eq(r#"{"id":"evt_late","type":"ticket.submitted"}"#),
                    ev::created_at.eq(countersign::db::stamp::At(countersign::store::now())),
                ))
                .execute(c)?;
            wrote.send(()).unwrap();
            committing.recv().unwrap();
            Ok(())
        })
    });
    written.recv().unwrap();
    // …while a ticket filed after it commits first: its event waits for
    // the earlier transaction rather than pass it.
    file(&app, service).await;
    assert!(
        receiver.nothing_more(Duration::from_millis(1500)).await,
        "nothing is sent past an open transaction's event"
    );
    commit.send(()).unwrap();
    held.join().unwrap().unwrap();
    // Both now (sent side by side, so in either order), each once.
    let mut ids = vec![
        receiver.next().await.json()["id"]
            .as_str()
            .unwrap()
            .to_string(),
        receiver.next().await.json()["id"]
            .as_str()
            .unwrap()
            .to_string(),
    ];
    ids.sort();
    assert_eq!(ids[1], "evt_late");
    assert!(
        ids[0].starts_with("evt_") && ids[0] != "evt_late",
        "{ids:?}"
    );
    assert!(receiver.nothing_more(Duration::from_millis(1000)).await);
}

#[actix_web::test]
async fn the_stream_is_read_from_an_endpoints_place_not_from_its_beginning() {
    use countersign::db::Backend;
    use countersign::db::schema::webhook_events as ev;
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    let receiver = Receiver::start();
    let admin = browser_for(&app, "admin").await;
    register(
        &app,
        &admin,
        &[
            ("name", "sink"),
            ("kind", "webhook"),
            ("url", &receiver.url("/x")),
            ("secret", ""),
            ("language", "en"),
        ],
    )
    .await;
    // A long stream, as after months of tickets.
    app.db
        .write_sync(|c| {
            let rows: Vec<_> = (0..2000)
                .map(|i| {
                    (
                        ev::event_id.eq(format!("evt_{i}")),
                        ev::event_type.eq("ticket.submitted"),
                        ev::payload.eq("{}"),
                        ev::created_at.eq(countersign::db::stamp::At(app.db.now())),
                    )
                })
                .collect();
            for chunk in rows.chunks(500) {
                countersign::direct!(c, |c| diesel::insert_into(ev::table)
                    .values(chunk)
                    .execute(c))?;
            }
            if app.db.backend() == Backend::Postgres {
                diesel::sql_query("ANALYZE webhook_events").execute(c)?;
            }
            Ok(())
        })
        .unwrap();
    let leased = app
        .db
        .write_sync(|c| countersign::store::webhooks::lease(c, "plan", 60))
        .unwrap();
    assert_eq!(leased.len(), 1);
    app.db.keep_statements(true);
    app.db
        .read_sync(move |c| countersign::store::webhooks::read(c, leased, 256))
        .unwrap();
    let read = app
        .db
        .keep_statements(false)
        .into_iter()
        .find(|s| s.contains("webhook_events") && s.contains("ORDER BY"))
        .expect("the stream was read");

    // How the database plans that read: a search of the (tx, id) index
    // from the endpoint's place, never a walk from the stream's start.
    #[derive(QueryableByName)]
    struct Line {
        #[diesel(sql_type = diesel::sql_types::Text)]
        detail: String,
    }
    #[derive(QueryableByName)]
    struct PgLine {
        #[diesel(sql_type = diesel::sql_types::Text, column_name = "QUERY PLAN")]
        plan: String,
    }
    let sent = read.clone();
    let backend = app.db.backend();
    let plan: Vec<String> = app.query(move |c| match backend {
        Backend::Sqlite => diesel::sql_query(format!("EXPLAIN QUERY PLAN {sent}"))
            .load::<Line>(c)
            .map(|l| l.into_iter().map(|l| l.detail).collect()),
        Backend::Postgres => {
            // The place is past all but the newest events.
            let sql = sent
                .replace("$1", "0")
                .replace("$2", "1990")
                .replace("$3", "256");
            diesel::sql_query(format!("EXPLAIN {sql}"))
                .load::<PgLine>(c)
                .map(|l| l.into_iter().map(|l| l.plan).collect())
        }
    });
    let plan = plan.join("\n");
    match backend {
        Backend::Sqlite => assert!(
            plan.contains("webhook_events_stream (tx=? AND id>?)"),
            "{read}\n{plan}"
        ),
        Backend::Postgres => assert!(
            plan.contains("Index") && plan.contains("webhook_events_stream"),
            "{read}\n{plan}"
        ),
    }
}
