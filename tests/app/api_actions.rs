//! Acting through the API: every action of the ticket page through the
//! one door as the token's person, recorded with channel `api`; a retry
//! with the same Idempotency-Key changes nothing; each refusal a problem
//! with its status; lists in pages; and the change gate a pipeline asks.

use chrono::Duration;
use countersign::db::ids::ApplyId;
use countersign::db::schema::{approve_users, audit_events, idempotency_keys};
use countersign::flow::*;
use countersign::store::api_tokens::Scope;
use diesel::prelude::*;
use reqwest::StatusCode;
use reqwest::header::AUTHORIZATION;
use serde_json::{Value, json};

use crate::api::{get_json, post_json, token_for};
use crate::approval_rules::{approval, deploy, people};
use crate::helpers::*;

/// Files a ticket through the API as `secret`'s person; its id.
async fn file_api(app: &TestApp, service: i32, secret: &str, fields: Value) -> i64 {
    let (status, filed) = post_json(
        app,
        &format!("/api/v1/services/{service}/tickets"),
        secret,
        json!({ "fields": fields }),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{filed}");
    filed["id"].as_i64().unwrap()
}

/// The pending assignment of `username` on ticket `id`.
fn assignment_of(app: &TestApp, id: i64, username: &str) -> i32 {
    let user = app.user_id(username);
    app.query(move |c| {
        approve_users::table
            .filter(approve_users::apply_id.eq(ApplyId(id as i32)))
            .filter(approve_users::user_id.eq(user))
            .order(approve_users::id.desc())
            .select(approve_users::id)
            .first::<countersign::db::ids::ApproveUserId>(c)
    })
    .0
}

fn act_path(id: i64) -> String {
    format!("/api/v1/tickets/{id}/actions")
}

#[actix_web::test]
async fn an_approver_decides_through_the_api_once_however_often_the_request_is_retried() {
    let app = TestApp::spawn().await;
    people(&app, &["approver", "second"]);
    let service = deploy(
        &app,
        vec![approval("check", Mode::Any, &["approver", "second"])],
    );
    let id = file_api(
        &app,
        service,
        &token_for(&app, "applicant", Scope::Act),
        json!({ "what": "A laptop" }),
    )
    .await;
    let secret = token_for(&app, "approver", Scope::Act);
    let mine = assignment_of(&app, id, "approver");
    let approve = json!({ "action": "approve", "assignment": mine, "comment": "fine" });

    // The same request sent twice at once, and once more after.
    let path = act_path(id);
    let (a, b) = tokio::join!(
        post_json(&app, &path, &secret, approve.clone(), Some("ok-1")),
        post_json(&app, &path, &secret, approve.clone(), Some("ok-1")),
    );
    let (status, first) = a;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["done"], "decided");
    assert_eq!(first["ticket"], format!("/api/v1/tickets/{id}"));
    assert_eq!(
        b,
        (StatusCode::OK, first.clone()),
        "the racing retry gets the first answer"
    );
    let again = post_json(&app, &act_path(id), &secret, approve, Some("ok-1")).await;
    assert_eq!(again, (StatusCode::OK, first), "so does a later one");

    // Decided once, through the API, and the ticket finished.
    assert_eq!(ticket_status(&app, id as i32), "finished");
    let decisions: Vec<String> = app.query(move |c| {
        audit_events::table
            .filter(audit_events::apply_id.eq(ApplyId(id as i32)))
            .filter(audit_events::action.eq("assignment.approved"))
            .select(audit_events::channel)
            .load(c)
    });
    assert_eq!(decisions.len(), 1, "{decisions:?}");
    assert_eq!(decisions[0], "api");
    let kept: i64 = app.query(|c| idempotency_keys::table.count().get_result(c));
    assert_eq!(kept, 1);

    // The key again with another request: said so, nothing done.
    let (status, problem) = post_json(
        &app,
        &act_path(id),
        &secret,
        json!({ "action": "comment", "text": "hello" }),
        Some("ok-1"),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        problem["type"],
        "urn:countersign:problem:idempotency_key_reused"
    );

    // The other approver, a moment late: who got there first, and what.
    let theirs = assignment_of(&app, id, "second");
    let (status, problem) = post_json(
        &app,
        &act_path(id),
        &token_for(&app, "second", Scope::Act),
        json!({ "action": "reject", "assignment": theirs, "comment": "no" }),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert_eq!(
        problem["type"],
        "urn:countersign:problem:node_already_decided"
    );
    assert_eq!(problem["by"]["username"], "approver");
    assert_eq!(problem["decision"], "approve");
    assert!(problem["at"].is_string());
    assert!(
        problem["detail"].as_str().unwrap().contains("approver"),
        "{problem}"
    );
}

#[actix_web::test]
async fn every_api_action_is_refused_to_those_who_may_not_take_it_with_its_own_status() {
    let app = TestApp::spawn().await;
    people(&app, &["approver", "stranger"]);
    let service = deploy(&app, vec![approval("check", Mode::Any, &["approver"])]);
    let applicant = token_for(&app, "applicant", Scope::Act);
    let id = file_api(&app, service, &applicant, json!({ "what": "A laptop" })).await;
    let mine = assignment_of(&app, id, "approver");
    let approve = json!({ "action": "approve", "assignment": mine });
    let code = |p: &Value| {
        p["type"]
            .as_str()
            .unwrap()
            .trim_start_matches("urn:countersign:problem:")
            .to_string()
    };

    // A read token acts on nothing.
    let reader = token_for(&app, "approver", Scope::Read);
    let (status, p) = post_json(&app, &act_path(id), &reader, approve.clone(), None).await;
    assert_eq!(
        (status, code(&p).as_str()),
        (StatusCode::FORBIDDEN, "token_scope")
    );

    // Someone who is none of the ticket's people: it is not there.
    let stranger = token_for(&app, "stranger", Scope::Act);
    let (status, p) = post_json(&app, &act_path(id), &stranger, approve.clone(), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{p}");

    // The applicant deciding the approver's step.
    let (status, p) = post_json(&app, &act_path(id), &applicant, approve.clone(), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{p}");

    // The approver rejecting without saying why: a pointer to the comment.
    let approver = token_for(&app, "approver", Scope::Act);
    let (status, p) = post_json(
        &app,
        &act_path(id),
        &approver,
        json!({ "action": "reject", "assignment": mine, "comment": " " }),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(code(&p), "comment_required");
    assert_eq!(p["errors"][0]["pointer"], "/comment");

    // Completing an approval: the action does not fit the step.
    let (status, p) = post_json(
        &app,
        &act_path(id),
        &approver,
        json!({ "action": "complete", "assignment": mine }),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(p["errors"][0]["pointer"], "/action");

    // Not an action at all, not JSON, and far too much of it.
    let (status, p) = post_json(
        &app,
        &act_path(id),
        &approver,
        json!({ "action": "delete_everything" }),
        None,
    )
    .await;
    assert_eq!(
        (status, code(&p).as_str()),
        (StatusCode::BAD_REQUEST, "bad_json")
    );
    let res = reqwest::Client::new()
        .post(app.url(&act_path(id)))
        .header(AUTHORIZATION, format!("Bearer {approver}"))
        .header(reqwest::header::CONTENT_TYPE, "text/plain")
        .body("approve")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = json!({ "action": "comment", "text": "x".repeat(2 * 1024 * 1024) });
    let (status, p) = post_json(&app, &act_path(id), &applicant, huge, None).await;
    assert_eq!(
        (status, code(&p).as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "too_large")
    );

    // The applicant urges once; again at once is too soon.
    let urge = json!({ "action": "urge" });
    let (status, p) = post_json(&app, &act_path(id), &applicant, urge.clone(), None).await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(p["done"], "urged");
    let (status, p) = post_json(&app, &act_path(id), &applicant, urge, None).await;
    assert_eq!(
        (status, code(&p).as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "urged_recently")
    );

    // The approver's person deactivated: their token stops at once.
    let (who, admin) = (app.user_id("approver"), app.user_id("admin"));
    app.db
        .write_sync(move |c| countersign::store::users::set_active(c, who, false, admin))
        .unwrap();
    let (status, p) = post_json(&app, &act_path(id), &approver, approve, None).await;
    assert_eq!(
        (status, code(&p).as_str()),
        (StatusCode::UNAUTHORIZED, "token_owner_inactive")
    );

    // Nothing above decided anything; the applicant's withdrawal works.
    assert_eq!(ticket_status(&app, id as i32), "running");
    let (status, p) = post_json(
        &app,
        &act_path(id),
        &applicant,
        json!({ "action": "withdraw", "reason": "bought one" }),
        None,
    )
    .await;
    assert_eq!(
        (status, p["done"].as_str()),
        (StatusCode::OK, Some("withdrawn"))
    );
    assert_eq!(ticket_status(&app, id as i32), "withdrawn");
}

#[actix_web::test]
async fn a_revoked_token_acts_on_nothing_its_check_and_the_action_being_one_transaction() {
    let app = TestApp::spawn().await;
    people(&app, &["approver"]);
    let service = deploy(&app, vec![approval("check", Mode::Any, &["approver"])]);
    let id = file_api(
        &app,
        service,
        &token_for(&app, "applicant", Scope::Act),
        json!({ "what": "A laptop" }),
    )
    .await;
    let approver = app.user_id("approver");
    let now = app.db.now();
    let secret = token_for(&app, "approver", Scope::Act);
    let token = app.query(|c| {
        countersign::db::schema::api_tokens::table
            .order(countersign::db::schema::api_tokens::id.desc())
            .select(countersign::db::schema::api_tokens::id)
            .first::<countersign::db::ids::ApiTokenId>(c)
    });
    app.db
        .write_sync(move |c| countersign::store::api_tokens::revoke(c, token, approver, false, now))
        .unwrap();
    let mine = assignment_of(&app, id, "approver");
    let (status, problem) = post_json(
        &app,
        &act_path(id),
        &secret,
        json!({ "action": "approve", "assignment": mine }),
        Some("after-revoke"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(problem["type"], "urn:countersign:problem:token_revoked");
    assert_eq!(ticket_status(&app, id as i32), "running");
    let kept: i64 = app.query(|c| idempotency_keys::table.count().get_result(c));
    assert_eq!(kept, 0, "nothing kept for a refused token");
}

#[actix_web::test]
async fn a_preview_says_who_would_be_asked_without_filing_and_points_at_bad_fields() {
    let app = TestApp::spawn().await;
    people(&app, &["approver"]);
    let service = deploy(&app, vec![approval("check", Mode::Any, &["approver"])]);
    let secret = token_for(&app, "applicant", Scope::Read);
    let path = format!("/api/v1/services/{service}/preview");

    let (status, plan) = post_json(
        &app,
        &path,
        &secret,
        json!({ "fields": { "what": "A laptop" } }),
        None,
    )
    .await;

    assert_eq!(status, StatusCode::OK, "{plan}");
    assert_eq!(plan[0]["key"], "check");
    assert_eq!(plan[0]["kind"], "approval");
    assert_eq!(plan[0]["included"], true);
    assert_eq!(plan[0]["people"][0]["username"], "approver");
    let filed: i64 = app.query(|c| {
        countersign::db::schema::applies::table
            .count()
            .get_result(c)
    });
    assert_eq!(filed, 0, "a preview files nothing");

    let (status, problem) = post_json(&app, &path, &secret, json!({ "fields": {} }), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["errors"][0]["pointer"], "/fields/what");
}

#[actix_web::test]
async fn my_inbox_and_my_tickets_come_in_pages_with_a_cursor() {
    let app = TestApp::spawn().await;
    people(&app, &["approver"]);
    let service = deploy(&app, vec![approval("check", Mode::Any, &["approver"])]);
    let applicant = token_for(&app, "applicant", Scope::Read);
    let filer = token_for(&app, "applicant", Scope::Act);
    let mut ids = Vec::new();
    for what in ["one", "two", "three"] {
        ids.push(file_api(&app, service, &filer, json!({ "what": what })).await);
    }

    let approver = token_for(&app, "approver", Scope::Read);
    let (status, first) = get_json(&app, "/api/v1/me/inbox?limit=2", &approver, "zh-CN").await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let items = first["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["ticket"]["id"], ids[2], "newest first");
    assert_eq!(items[0]["applicant"]["username"], "applicant");
    assert_eq!(
        items[0]["service"], "Purchase",
        "no Chinese name was entered"
    );
    assert_eq!(
        items[0]["fields"][0]["label"], "内容",
        "in the reader's language"
    );
    assert_eq!(items[0]["fields"][0]["value"], "three");
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = get_json(
        &app,
        &format!("/api/v1/me/inbox?limit=2&cursor={cursor}"),
        &approver,
        "en",
    )
    .await;
    let items = second["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["ticket"]["id"], ids[0]);
    assert!(second.get("next_cursor").is_none(), "the last page");

    let (_, mine) = get_json(&app, "/api/v1/me/tickets?limit=2", &applicant, "en").await;
    let listed: Vec<i64> = mine["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    assert_eq!(listed, vec![ids[2], ids[1]]);
    assert_eq!(mine["items"][0]["status"], "running");
    let (_, rest) = get_json(
        &app,
        &format!(
            "/api/v1/me/tickets?limit=2&cursor={}",
            mine["next_cursor"].as_str().unwrap()
        ),
        &applicant,
        "en",
    )
    .await;
    assert_eq!(rest["items"][0]["id"], ids[0]);
    // The approver filed nothing.
    let (_, none) = get_json(&app, "/api/v1/me/tickets", &approver, "en").await;
    assert_eq!(none["items"], json!([]));

    // A cursor or limit that does not parse: pointed at.
    let (status, p) = get_json(
        &app,
        "/api/v1/me/inbox?limit=1000&cursor=x",
        &approver,
        "en",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let pointers: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(pointers, vec!["/cursor", "/limit"]);
}

#[actix_web::test]
async fn every_ticket_is_listed_for_administrators_with_the_admin_lists_filters_and_for_no_one_else()
 {
    let app = TestApp::spawn().await;
    people(&app, &["approver", "other"]);
    let service = deploy(&app, vec![approval("check", Mode::Any, &["approver"])]);
    let one = file_api(
        &app,
        service,
        &token_for(&app, "applicant", Scope::Act),
        json!({ "what": "A" }),
    )
    .await;
    let two = file_api(
        &app,
        service,
        &token_for(&app, "other", Scope::Act),
        json!({ "what": "B" }),
    )
    .await;
    let admin = token_for(&app, "admin", Scope::Read);

    let (status, all) = get_json(&app, "/api/v1/tickets", &admin, "en").await;
    assert_eq!(status, StatusCode::OK, "{all}");
    let ids: Vec<i64> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![two, one]);
    assert_eq!(all["items"][0]["service"], "Purchase");
    assert_eq!(all["items"][0]["applicant"]["username"], "other");
    let (_, theirs) = get_json(&app, "/api/v1/tickets?applicant=applicant", &admin, "en").await;
    assert_eq!(theirs["items"].as_array().unwrap().len(), 1);
    assert_eq!(theirs["items"][0]["id"], one);
    let (_, none) = get_json(&app, "/api/v1/tickets?status=finished", &admin, "en").await;
    assert_eq!(none["items"], json!([]));

    let (status, p) = get_json(
        &app,
        "/api/v1/tickets",
        &token_for(&app, "approver", Scope::Read),
        "en",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(p["type"], "urn:countersign:problem:admin_only");
}

/// Deploys a change process with a change window and one approval; its service.
fn deploy_change(app: &TestApp) -> i32 {
    let mut def = ProcessDef::new(LocalText::new("Deploy", "部署"), ProcessKind::Change);
    def.nodes[0].fields.push(FieldDef {
        required: true,
        ..FieldDef::new(
            "window",
            LocalText::new("Change window", "变更时间"),
            FieldKind::DatetimeRange,
        )
    });
    def.nodes.push(approval("cab", Mode::Any, &["approver"]));
    app.deploy_service(&def, "Deploy").0
}

#[actix_web::test]
async fn the_pipeline_gate_opens_only_while_an_approved_change_is_inside_its_window() {
    let app = TestApp::spawn().await;
    people(&app, &["approver", "stranger"]);
    let service = deploy_change(&app);
    let at = |t: chrono::NaiveDateTime| t.format("%Y-%m-%dT%H:%M").to_string();
    let now = app.db.now();
    let (start, end) = (now + Duration::hours(2), now + Duration::hours(4));
    let filer = token_for(&app, "applicant", Scope::Act);
    let id = file_api(
        &app,
        service,
        &filer,
        json!({ "window": { "start": at(start), "end": at(end) } }),
    )
    .await;
    let serial: String = app.query(move |c| {
        countersign::db::schema::applies::table
            .find(ApplyId(id as i32))
            .select(countersign::db::schema::applies::serial)
            .first(c)
    });
    let gate = format!("/api/v1/changes/{serial}/gate");
    let pipeline = token_for(&app, "applicant", Scope::Read);

    let (status, p) = get_json(&app, &gate, &pipeline, "en").await;
    assert_eq!(status, StatusCode::CONFLICT, "{p}");
    assert_eq!(p["type"], "urn:countersign:problem:not_approved");
    assert!(p["detail"].as_str().unwrap().contains(&serial));

    let mine = assignment_of(&app, id, "approver");
    let (status, _) = post_json(
        &app,
        &act_path(id),
        &token_for(&app, "approver", Scope::Act),
        json!({ "action": "approve", "assignment": mine }),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // Approved, but too early: when it may go, in words and as data.
    let (status, p) = get_json(&app, &gate, &pipeline, "zh-CN").await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(p["type"], "urn:countersign:problem:before_window");
    assert_eq!(p["window"]["start"], format!("{}:00Z", at(start)));
    assert!(
        p["detail"].as_str().unwrap().contains("时间窗口尚未开始"),
        "{p}"
    );

    app.db.clock().advance(Duration::hours(3));
    let (status, open) = get_json(&app, &gate, &pipeline, "en").await;
    assert_eq!(status, StatusCode::OK, "{open}");
    assert_eq!(open["gate"], "open");
    assert_eq!(open["serial"], serial.as_str());

    app.db.clock().advance(Duration::hours(2));
    let (status, p) = get_json(&app, &gate, &pipeline, "en").await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(p["type"], "urn:countersign:problem:after_window");

    // Someone who may not see the change learns nothing of it.
    let (status, _) = get_json(&app, &gate, &token_for(&app, "stranger", Scope::Read), "en").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = get_json(&app, "/api/v1/changes/CHG-NOPE/gate", &pipeline, "en").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn a_withdrawn_change_shuts_the_gate_saying_so() {
    let app = TestApp::spawn().await;
    people(&app, &["approver"]);
    let service = deploy_change(&app);
    let now = app.db.now();
    let at = |t: chrono::NaiveDateTime| t.format("%Y-%m-%dT%H:%M").to_string();
    let filer = token_for(&app, "applicant", Scope::Act);
    let id = file_api(
        &app,
        service,
        &filer,
        json!({ "window": { "start": at(now - Duration::hours(1)), "end": at(now + Duration::hours(1)) } }),
    )
    .await;
    let (status, _) = post_json(
        &app,
        &act_path(id),
        &filer,
        json!({ "action": "withdraw", "reason": "not needed" }),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let serial: String = app.query(move |c| {
        countersign::db::schema::applies::table
            .find(ApplyId(id as i32))
            .select(countersign::db::schema::applies::serial)
            .first(c)
    });
    let (status, p) = get_json(
        &app,
        &format!("/api/v1/changes/{serial}/gate"),
        &filer,
        "en",
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(p["type"], "urn:countersign:problem:withdrawn");
}

#[actix_web::test]
async fn the_openapi_document_describes_every_address_the_api_answers_and_its_reference_reads_in_both_languages()
 {
    let app = TestApp::spawn().await;
    people(&app, &[]);
    // Open to anyone, as documentation is.
    let doc: Value = serde_json::from_str(
        &reqwest::get(app.url("/api/v1/openapi.json"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let documented: Vec<String> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |m| format!("{} {path}", m.to_uppercase()))
        })
        .collect();
    let routes =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/api/mod.rs")).unwrap();
    let routes: String = routes.split_whitespace().collect();
    let served: Vec<String> = routes
        .split(".service(only(\"")
        .skip(1)
        .map(|l| {
            let (path, rest) = l.split_once('"').unwrap();
            let method = if rest.starts_with(",Method::POST") {
                "POST"
            } else {
                "GET"
            };
            format!("{method} /api/v1{path}")
        })
        .filter(|r| r != "GET /api/v1/openapi.json")
        .collect();
    assert_eq!(served.len(), 12);
    for route in &served {
        assert!(documented.contains(route), "{route} is not in the document");
    }
    assert_eq!(documented.len(), served.len());
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let problem = &doc["paths"]["/api/v1/tickets/{id}/actions"]["post"]["responses"]["409"];
    assert!(problem["content"]["application/problem+json"].is_object());

    // A method an address does not take: 405, naming the one it does.
    let res = reqwest::Client::new()
        .delete(app.url("/api/v1/services"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(res.headers()["allow"], "GET");
    assert_eq!(res.headers()["content-type"], "application/problem+json");

    // The reference page lists every operation in the reader's language.
    for (lang, gate) in [
        ("en", "May this change be deployed now?"),
        ("zh-CN", "这个变更现在可以部署吗？"),
    ] {
        let res = reqwest::Client::new()
            .get(app.url("/help/api"))
            .header(reqwest::header::ACCEPT_LANGUAGE, lang)
            .send()
            .await
            .unwrap();
        let page = Page::from(res).await;
        assert_eq!(page.status, StatusCode::OK);
        assert_eq!(page.texts("section.operation").len(), 12);
        assert_eq!(page.text("#change_gate strong").as_deref(), Some(gate));
        assert!(
            !page
                .text("main")
                .unwrap_or_default()
                .contains("api.reference."),
            "every text is in the catalog ({lang})"
        );
    }
    // The profile page links to it.
    let browser = browser_for(&app, "applicant").await;
    let profile = get(&browser, &app.url("/profile")).await;
    assert_eq!(
        profile.attr("#api-reference-link", "href").as_deref(),
        Some("/help/api")
    );
}
