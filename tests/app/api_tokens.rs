//! Personal access tokens: made on the profile page and shown once, kept
//! only as a hash, listed and revoked; the API knows a token's person by
//! it, and answers every token it refuses — missing, unknown, expired,
//! revoked, its person deactivated — with a problem document.

use chrono::Duration;
use countersign::db::schema::api_tokens;
use diesel::prelude::*;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT_LANGUAGE, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};

use crate::helpers::*;

/// Makes a token on the profile page as `browser`'s person; the page.
async fn make_token(app: &TestApp, browser: &reqwest::Client, fields: &[(&str, &str)]) -> Page {
    post_as(app, browser, "/profile/tokens", fields).await
}

/// The secret a page shows for a token just made.
fn secret_on(page: &Page) -> String {
    page.text("#new-token code.secret").unwrap_or_else(|| {
        panic!(
            "the new token's secret is shown: {} {}\n{}",
            page.status,
            page.path,
            page.html.html()
        )
    })
}

/// `GET path` under the API with `secret` as the bearer token: status,
/// content type, `WWW-Authenticate`, and the body as JSON.
async fn api_get(
    app: &TestApp,
    path: &str,
    secret: Option<&str>,
) -> (StatusCode, String, String, serde_json::Value) {
    let mut req = reqwest::Client::new().get(app.url(path));
    if let Some(secret) = secret {
        req = req.header(AUTHORIZATION, format!("Bearer {secret}"));
    }
    let res = req.send().await.unwrap();
    let header = |name| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let (status, kind, challenge) = (res.status(), header(CONTENT_TYPE), header(WWW_AUTHENTICATE));
    (
        status,
        kind,
        challenge,
        serde_json::from_str(&res.text().await.unwrap()).unwrap(),
    )
}

/// The problem type an API refusal names.
fn problem_of(app_answer: &(StatusCode, String, String, serde_json::Value)) -> (StatusCode, &str) {
    assert_eq!(app_answer.1, "application/problem+json");
    assert_eq!(app_answer.3["status"], app_answer.0.as_u16());
    (
        app_answer.0,
        app_answer.3["type"].as_str().expect("a problem type"),
    )
}

#[actix_web::test]
async fn a_person_makes_a_token_sees_its_secret_once_and_the_api_knows_them_by_it() {
    let app = TestApp::spawn().await;
    app.create_user("ops.wang", false);
    let browser = browser_for(&app, "ops.wang").await;

    let page = make_token(
        &app,
        &browser,
        &[("name", "deploy pipeline"), ("scope", "act"), ("days", "")],
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    let secret = secret_on(&page);
    assert!(secret.starts_with("cs_") && secret.len() == 67, "{secret}");

    // Kept only as its hash; the list names it by its first characters.
    let (hash, shown, scope) = app.query(|c| {
        api_tokens::table
            .select((
                api_tokens::secret_hash,
                api_tokens::shown,
                api_tokens::scope,
            ))
            .first::<(String, String, String)>(c)
    });
    use sha2::Digest;
    assert_eq!(hash, hex::encode(sha2::Sha256::digest(secret.as_bytes())));
    assert_ne!(hash, secret);
    assert!(secret.starts_with(&shown) && shown.len() == 11);
    assert_eq!(scope, "act");

    // The profile lists it, and never shows the secret again.
    let profile = get(&browser, &app.url("/profile")).await;
    assert!(profile.text("#new-token").is_none());
    assert!(!profile.html.html().contains(&secret));
    let row = profile
        .text("#token-list tbody tr")
        .expect("the token is listed");
    assert!(
        row.contains("deploy pipeline") && row.contains("Active"),
        "{row}"
    );

    let answer = api_get(&app, "/api/v1/me", Some(&secret)).await;
    assert_eq!(answer.0, StatusCode::OK);
    assert_eq!(answer.3["username"], "ops.wang");
    assert_eq!(answer.3["token"]["name"], "deploy pipeline");
    assert_eq!(answer.3["token"]["scope"], "act");
    let expires: chrono::DateTime<chrono::Utc> = answer.3["token"]["expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let in_days = (expires.naive_utc() - app.db.now()).num_hours() as f64 / 24.0;
    assert!((89.9..=90.0).contains(&in_days), "{in_days}");
    let used: Option<chrono::NaiveDateTime> =
        app.query(|c| api_tokens::table.select(api_tokens::last_used_at).first(c));
    assert!(used.is_some(), "its use is recorded");
}

#[actix_web::test]
async fn a_token_form_with_bad_input_comes_back_beside_its_fields_and_makes_nothing() {
    let app = TestApp::spawn().await;
    app.create_user("ops.wang", false);
    let browser = browser_for(&app, "ops.wang").await;

    let page = make_token(
        &app,
        &browser,
        &[("name", ""), ("scope", "everything"), ("days", "400")],
    )
    .await;

    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        page.field_error("name").as_deref(),
        Some("This field is required.")
    );
    assert!(page.field_error("scope").is_some());
    assert_eq!(
        page.field_error("days").as_deref(),
        Some("Enter a number of days from 1 to 365.")
    );
    assert_eq!(
        page.input_value("#token-form", "days").as_deref(),
        Some("400")
    );
    let made: i64 = app.query(|c| api_tokens::table.count().get_result(c));
    assert_eq!(made, 0);
}

#[actix_web::test]
async fn the_api_refuses_a_missing_unknown_revoked_or_expired_token_and_one_whose_person_left() {
    let app = TestApp::spawn().await;
    let wang = app.create_user("ops.wang", false);
    let admin = app.create_user("root", true);
    let browser = browser_for(&app, "ops.wang").await;
    let read = |page: Page| secret_on(&page);
    let kept = read(make_token(&app, &browser, &[("name", "kept"), ("scope", "read")]).await);
    let revoked = read(make_token(&app, &browser, &[("name", "revoked"), ("scope", "read")]).await);
    let short = read(
        make_token(
            &app,
            &browser,
            &[("name", "short"), ("scope", "read"), ("days", "1")],
        )
        .await,
    );

    let missing = api_get(&app, "/api/v1/me", None).await;
    assert_eq!(
        problem_of(&missing),
        (
            StatusCode::UNAUTHORIZED,
            "urn:countersign:problem:token_missing"
        )
    );
    assert!(missing.2.starts_with("Bearer"), "{}", missing.2);
    let forged = format!("cs_{}", "0".repeat(64));
    assert_eq!(
        problem_of(&api_get(&app, "/api/v1/me", Some(&forged)).await),
        (
            StatusCode::UNAUTHORIZED,
            "urn:countersign:problem:token_unknown"
        )
    );

    // Revoked from the profile: its own button, then it opens nothing.
    let id: i32 = app.query(|c| {
        api_tokens::table
            .filter(api_tokens::name.eq("revoked"))
            .select(api_tokens::id)
            .first(c)
    });
    post_as(&app, &browser, &format!("/profile/tokens/{id}/revoke"), &[]).await;
    assert_eq!(
        problem_of(&api_get(&app, "/api/v1/me", Some(&revoked)).await),
        (
            StatusCode::UNAUTHORIZED,
            "urn:countersign:problem:token_revoked"
        )
    );
    let listed = get(&browser, &app.url("/profile")).await;
    assert!(
        listed
            .texts("#token-list td.token-state")
            .contains(&"Revoked".to_string())
    );

    // A day later the one-day token has expired; the other still works.
    app.db
        .clock()
        .advance(Duration::days(1) + Duration::minutes(1));
    assert_eq!(
        problem_of(&api_get(&app, "/api/v1/me", Some(&short)).await),
        (
            StatusCode::UNAUTHORIZED,
            "urn:countersign:problem:token_expired"
        )
    );
    assert_eq!(
        api_get(&app, "/api/v1/me", Some(&kept)).await.0,
        StatusCode::OK
    );

    // Deactivated: every token of theirs stops at once.
    app.db
        .write_sync(|c| countersign::store::users::set_active(c, wang, false, admin))
        .unwrap();
    assert_eq!(
        problem_of(&api_get(&app, "/api/v1/me", Some(&kept)).await),
        (
            StatusCode::UNAUTHORIZED,
            "urn:countersign:problem:token_owner_inactive"
        )
    );
}

#[actix_web::test]
async fn nobody_revokes_someone_elses_token_by_guessing_its_number() {
    let app = TestApp::spawn().await;
    app.create_user("ops.wang", false);
    app.create_user("qc.chen", false);
    let wang = browser_for(&app, "ops.wang").await;
    let secret = secret_on(&make_token(&app, &wang, &[("name", "mine"), ("scope", "read")]).await);
    let id: i32 = app.query(|c| api_tokens::table.select(api_tokens::id).first(c));

    let chen = browser_for(&app, "qc.chen").await;
    let tried = post_as(&app, &chen, &format!("/profile/tokens/{id}/revoke"), &[]).await;

    assert_eq!(tried.status, StatusCode::NOT_FOUND);
    assert_eq!(
        api_get(&app, "/api/v1/me", Some(&secret)).await.0,
        StatusCode::OK
    );
}

#[actix_web::test]
async fn the_api_answers_unknown_addresses_with_a_problem_in_the_readers_language() {
    let app = TestApp::spawn().await;
    let res = reqwest::Client::new()
        .get(app.url("/api/v1/nothing-here"))
        .header(ACCEPT_LANGUAGE, "zh-CN,zh;q=0.9")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        res.headers()[CONTENT_TYPE].to_str().unwrap(),
        "application/problem+json"
    );
    let body: serde_json::Value = serde_json::from_str(&res.text().await.unwrap()).unwrap();
    assert_eq!(body["type"], "urn:countersign:problem:not_found");
    assert_eq!(body["title"], "未找到。");

    // A method the address does not take is a problem too, not a page.
    let posted = reqwest::Client::new()
        .post(app.url("/api/v1/me"))
        .send()
        .await
        .unwrap();
    assert!(posted.status().is_client_error());
    assert_eq!(
        posted.headers()[CONTENT_TYPE].to_str().unwrap(),
        "application/problem+json"
    );
}

#[actix_web::test]
async fn an_administrator_sees_everyones_tokens_and_revokes_one_and_no_one_else_may() {
    let app = TestApp::spawn().await;
    app.create_user("ops.wang", false);
    app.create_user("root", true);
    let wang = browser_for(&app, "ops.wang").await;
    let secret =
        secret_on(&make_token(&app, &wang, &[("name", "nightly deploy"), ("scope", "act")]).await);
    assert_eq!(
        get(&wang, &app.url("/admin/tokens")).await.status,
        StatusCode::FORBIDDEN
    );

    let root = browser_for(&app, "root").await;
    let page = get(&root, &app.url("/admin/tokens")).await;
    let row = page
        .text("#token-list tbody tr")
        .expect("wang's token is listed");
    assert!(
        row.contains("ops.wang") && row.contains("nightly deploy"),
        "{row}"
    );
    let action = page
        .attr("#token-list form", "action")
        .expect("a revoke button");
    let after = post_as(&app, &root, &action, &[]).await;

    assert_eq!(after.path, "/admin/tokens");
    assert_eq!(
        after.texts("#token-list td.token-state"),
        vec!["Revoked".to_string()]
    );
    let revoked_by: Option<i32> =
        app.query(|c| api_tokens::table.select(api_tokens::revoked_by).first(c));
    assert_eq!(revoked_by, Some(app.user_id("root").0));
    assert_eq!(
        problem_of(&api_get(&app, "/api/v1/me", Some(&secret)).await),
        (
            StatusCode::UNAUTHORIZED,
            "urn:countersign:problem:token_revoked"
        )
    );
}

#[actix_web::test]
async fn an_administrator_makes_a_service_account_and_its_token_on_the_pages_and_it_never_signs_in()
{
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    let admin = browser_for(&app, "admin").await;

    let page = post_as(
        &app,
        &admin,
        "/admin/users",
        &[
            ("username", "ci-bot"),
            ("display_name", "CI bot"),
            ("email", "ci-bot@example.com"),
            ("password", ""),
            ("service_account", "on"),
        ],
    )
    .await;
    assert!(page.path.starts_with("/admin/users/"), "{}", page.path);
    assert!(page.text("#service-account-note").is_some());
    assert!(
        page.text("#reset-password-form").is_none(),
        "no password to reset"
    );

    // Without a name the token is not made, and what was picked stays.
    let page = post_as(
        &app,
        &admin,
        "/admin/tokens",
        &[
            ("account", "ci-bot"),
            ("name", ""),
            ("scope", "act"),
            ("days", "30"),
        ],
    )
    .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.field_error("name").is_some());
    // Someone who is not a service account gets no token from here.
    let page = post_as(
        &app,
        &admin,
        "/admin/tokens",
        &[
            ("account", "admin"),
            ("name", "sneaky"),
            ("scope", "act"),
            ("days", "30"),
        ],
    )
    .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.field_error("account").is_some());

    let page = post_as(
        &app,
        &admin,
        "/admin/tokens",
        &[
            ("account", "ci-bot"),
            ("name", "deploys"),
            ("scope", "act"),
            ("days", "30"),
        ],
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    let secret = page.text("#new-secret").expect("the secret, shown once");
    let answer = api_get(&app, "/api/v1/me", Some(&secret)).await;
    assert_eq!(answer.3["username"], "ci-bot");

    // The pages refuse it whatever it tries.
    let bot = TestApp::browser();
    let page = sign_in_as(&app, &bot, "ci-bot", "").await;
    assert_eq!(page.path, "/sign-in");
}
