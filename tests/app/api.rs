//! The JSON API as a pipeline uses it: what it may file, and with what
//! fields, in the reader's language.

use countersign::db::schema::services;
use countersign::domain::Name;
use countersign::flow::*;
use countersign::store::api_tokens::{self, NewToken, Scope};
use diesel::prelude::*;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT_LANGUAGE, AUTHORIZATION};

use crate::approval_rules::{approval, deploy, people};
use crate::helpers::*;

/// A token for `username` made straight in the store; its secret.
pub(crate) fn token_for(app: &TestApp, username: &str, scope: Scope) -> String {
    let user = app.user_id(username);
    let now = app.db.now();
    let new = NewToken {
        name: Name::parse("test").unwrap(),
        scope,
        days: 30,
    };
    app.db
        .write_sync(move |c| api_tokens::create(c, user, &new, user, now))
        .unwrap()
        .1
}

/// `GET path` as the token `secret`, in `lang`: status and JSON.
pub(crate) async fn get_json(
    app: &TestApp,
    path: &str,
    secret: &str,
    lang: &str,
) -> (StatusCode, serde_json::Value) {
    let res = reqwest::Client::new()
        .get(app.url(path))
        .header(AUTHORIZATION, format!("Bearer {secret}"))
        .header(ACCEPT_LANGUAGE, lang)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (
        status,
        serde_json::from_str(&res.text().await.unwrap()).unwrap(),
    )
}

#[actix_web::test]
async fn a_token_lists_the_services_its_person_may_use_with_their_form_fields() {
    let app = TestApp::spawn().await;
    people(&app, &["approver"]);
    let purchase = deploy(&app, vec![approval("check", Mode::Any, &["approver"])]);
    // A second service, open only to QC: not the applicant's to use.
    let restricted = deploy(&app, vec![approval("check", Mode::Any, &["approver"])]);
    app.db
        .write_sync(move |c| {
            Ok(
                diesel::update(services::table.find(countersign::db::ids::ServiceId(restricted)))
                    .set((
                        services::visible_roles.eq(r#"["qc"]"#),
                        services::name_zh.eq("采购（质检）"),
                    ))
                    .execute(c)?,
            )
        })
        .unwrap();
    let secret = token_for(&app, "applicant", Scope::Read);

    let (status, body) = get_json(&app, "/api/v1/services", &secret, "en").await;

    assert_eq!(status, StatusCode::OK);
    let listed: Vec<i64> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_i64().unwrap())
        .collect();
    assert_eq!(listed, vec![i64::from(purchase)]);
    let service = &body[0];
    assert_eq!(service["name"], "Purchase");
    assert_eq!(service["business_required"], false);
    let fields = service["fields"].as_array().unwrap();
    assert_eq!(fields.len(), 2);
    assert_eq!(fields[0]["key"], "what");
    assert_eq!(fields[0]["label"], "What");
    assert_eq!(fields[0]["type"], "text");
    assert_eq!(fields[0]["required"], true);
    assert_eq!(fields[1]["key"], "note");
    assert_eq!(fields[1]["required"], false);

    // In Chinese, the labels the administrator entered in Chinese.
    let (_, zh) = get_json(&app, "/api/v1/services", &secret, "zh-CN").await;
    assert_eq!(zh[0]["fields"][0]["label"], "内容");

    // Someone holding the role sees the restricted one too.
    let qc = app.create_user("qc.chen", false);
    let role = app.role_id("qc");
    let admin = app.user_id("admin");
    app.db
        .write_sync(move |c| {
            countersign::store::assignments::create(
                c,
                qc,
                role,
                countersign::store::assignments::Scope::Global,
                admin,
            )
        })
        .unwrap();
    let (_, theirs) = get_json(
        &app,
        "/api/v1/services",
        &token_for(&app, "qc.chen", Scope::Read),
        "zh-CN",
    )
    .await;
    assert_eq!(theirs.as_array().unwrap().len(), 2);
    assert!(
        theirs
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "采购（质检）")
    );
}

/// `POST path` with a JSON body as the token `secret`, with an optional
/// `Idempotency-Key`: status and JSON.
pub(crate) async fn post_json(
    app: &TestApp,
    path: &str,
    secret: &str,
    body: serde_json::Value,
    key: Option<&str>,
) -> (StatusCode, serde_json::Value) {
    let mut req = reqwest::Client::new()
        .post(app.url(path))
        .header(AUTHORIZATION, format!("Bearer {secret}"))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_string());
    if let Some(key) = key {
        req = req.header("Idempotency-Key", key);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    (
        status,
        serde_json::from_str(&res.text().await.unwrap()).unwrap(),
    )
}

fn tickets_filed(app: &TestApp) -> i64 {
    app.query(|c| {
        countersign::db::schema::applies::table
            .count()
            .get_result(c)
    })
}

#[actix_web::test]
async fn a_pipeline_files_a_ticket_once_however_often_it_retries_with_the_same_key() {
    let app = TestApp::spawn().await;
    people(&app, &["approver"]);
    let service = deploy(&app, vec![approval("check", Mode::Any, &["approver"])]);
    let secret = token_for(&app, "applicant", Scope::Act);
    let path = format!("/api/v1/services/{service}/tickets");
    let body = serde_json::json!({ "fields": { "what": "A laptop", "note": "for the new hire" } });

    let (status, first) = post_json(&app, &path, &secret, body.clone(), Some("deploy-42")).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let id = first["id"].as_i64().unwrap();
    assert_eq!(first["url"], format!("/tickets/{id}"));
    let (status, again) = post_json(&app, &path, &secret, body, Some("deploy-42")).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(again, first, "the retry answers with the first filing");
    assert_eq!(tickets_filed(&app), 1);

    // Filed as the token's person, through the API, waiting for the approver.
    assert_eq!(ticket_status(&app, id as i32), "running");
    let (applicant, channel): (i32, String) = app.query(move |c| {
        use countersign::db::schema::{applies, audit_events};
        let applicant = applies::table
            .find(countersign::db::ids::ApplyId(id as i32))
            .select(applies::applicant_id)
            .first::<countersign::db::ids::UserId>(c)?;
        let channel = audit_events::table
            .filter(audit_events::apply_id.eq(countersign::db::ids::ApplyId(id as i32)))
            .order(audit_events::id)
            .select(audit_events::channel)
            .first::<String>(c)?;
        Ok((applicant.0, channel))
    });
    assert_eq!(applicant, app.user_id("applicant").0);
    assert_eq!(channel, "api", "recorded as filed through the API");
    let (_, page) = get_json(&app, "/api/v1/me", &secret, "en").await;
    assert_eq!(page["username"], "applicant");
}

#[actix_web::test]
async fn filing_through_the_api_answers_bad_fields_with_a_pointer_to_each_and_files_nothing() {
    let app = TestApp::spawn().await;
    people(&app, &["approver"]);
    let service = deploy(&app, vec![approval("check", Mode::Any, &["approver"])]);
    let path = format!("/api/v1/services/{service}/tickets");
    let secret = token_for(&app, "applicant", Scope::Act);

    let (status, problem) = post_json(
        &app,
        &path,
        &secret,
        serde_json::json!({ "fields": { "note": "no what", "colour": "red" } }),
        None,
    )
    .await;

    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["type"], "urn:countersign:problem:invalid_fields");
    let mut pointers: Vec<(String, String)> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["pointer"].as_str().unwrap().to_string(),
                e["detail"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    pointers.sort();
    assert_eq!(
        pointers,
        vec![
            (
                "/fields/colour".to_string(),
                "Not a field of this service's form.".to_string()
            ),
            (
                "/fields/what".to_string(),
                "This field is required.".to_string()
            ),
        ]
    );

    // Not JSON, not the JSON expected, and a read token: each refused.
    let garbled = reqwest::Client::new()
        .post(app.url(&path))
        .header(AUTHORIZATION, format!("Bearer {secret}"))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(garbled.status(), StatusCode::BAD_REQUEST);
    let as_form = reqwest::Client::new()
        .post(app.url(&path))
        .header(AUTHORIZATION, format!("Bearer {secret}"))
        .form(&[("what", "A laptop")])
        .send()
        .await
        .unwrap();
    assert_eq!(as_form.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let reader = token_for(&app, "applicant", Scope::Read);
    let (status, refused) = post_json(
        &app,
        &path,
        &reader,
        serde_json::json!({ "fields": { "what": "A laptop" } }),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(refused["type"], "urn:countersign:problem:token_scope");
    // A service that is not theirs to use is not there.
    let (status, _) = post_json(
        &app,
        "/api/v1/services/999/tickets",
        &secret,
        serde_json::json!({ "fields": {} }),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(tickets_filed(&app), 0);
}

#[actix_web::test]
async fn a_ticket_reads_as_its_page_shows_it_to_those_who_may_see_it_and_is_not_there_for_others() {
    let app = TestApp::spawn().await;
    people(&app, &["approver", "stranger"]);
    let service = deploy(&app, vec![approval("check", Mode::Any, &["approver"])]);
    let filer = token_for(&app, "applicant", Scope::Act);
    let (_, filed) = post_json(
        &app,
        &format!("/api/v1/services/{service}/tickets"),
        &filer,
        serde_json::json!({ "fields": { "what": "A laptop" } }),
        None,
    )
    .await;
    let id = filed["id"].as_i64().unwrap();
    let path = format!("/api/v1/tickets/{id}");

    let (status, ticket) = get_json(
        &app,
        &path,
        &token_for(&app, "approver", Scope::Read),
        "zh-CN",
    )
    .await;

    assert_eq!(status, StatusCode::OK, "{ticket}");
    assert_eq!(ticket["serial"], filed["serial"]);
    assert_eq!(ticket["status"], "running");
    assert_eq!(ticket["applicant"]["username"], "applicant");
    assert_eq!(ticket["fields"]["what"], "A laptop");
    let nodes = ticket["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 2);
    assert_eq!(nodes[0]["kind"], "submit");
    assert_eq!(nodes[1]["key"], "check");
    assert_eq!(nodes[1]["status"], "active");
    assert_eq!(nodes[1]["people"][0]["person"]["username"], "approver");
    assert_eq!(nodes[1]["people"][0]["status"], "pending");
    let filed_event = ticket["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "ticket.submitted")
        .expect("the filing is in the timeline");
    assert_eq!(filed_event["channel"], "api");
    assert_eq!(filed_event["actor"]["username"], "applicant");

    // Someone who is none of its people: not there, as on the page.
    let (status, problem) =
        get_json(&app, &path, &token_for(&app, "stranger", Scope::Read), "en").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(problem["type"], "urn:countersign:problem:not_found");
}
