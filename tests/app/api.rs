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
fn token_for(app: &TestApp, username: &str, scope: Scope) -> String {
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
async fn get_json(
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
