//! Signing in and out, throttling, and sessions.

use countersign::db::schema::sign_in_failures;
use diesel::prelude::*;
use reqwest::StatusCode;

use crate::helpers::*;

#[actix_web::test]
async fn signing_in_with_the_right_password_shows_the_home_page_with_the_persons_name() {
    let app = TestApp::spawn().await;
    app.create_user("ops.wang", false);

    let page = app.sign_in("ops.wang").await;

    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.path, "/");
    assert_eq!(page.h1(), "Welcome, ops.wang Person");
    assert_eq!(page.text(".me-name").as_deref(), Some("ops.wang Person"));
}

#[actix_web::test]
async fn a_wrong_password_shows_the_form_again_with_a_message_and_the_username_kept() {
    let app = TestApp::spawn().await;
    app.create_user("ops.wang", false);

    let page = sign_in_as(&app, &app.client, "Ops.Wang", "not the password").await;

    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        page.form_error().as_deref(),
        Some("Wrong username or password.")
    );
    assert_eq!(
        page.input_value("#sign-in-form", "username").as_deref(),
        Some("ops.wang")
    );
    assert_eq!(
        page.input_value("#sign-in-form", "password").as_deref(),
        Some("")
    );
    assert_eq!(app.get("/").await.path, "/sign-in?next=/");
}

#[actix_web::test]
async fn an_unknown_username_gets_the_same_message_as_a_wrong_password() {
    let app = TestApp::spawn().await;

    let page = sign_in_as(&app, &app.client, "nobody", "whatever-it-is").await;

    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        page.form_error().as_deref(),
        Some("Wrong username or password.")
    );
}

#[actix_web::test]
async fn empty_sign_in_fields_are_marked_beside_each_field() {
    let app = TestApp::spawn().await;

    let page = sign_in_as(&app, &app.client, "", "").await;

    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        page.field_error("username").as_deref(),
        Some("This field is required.")
    );
    assert_eq!(
        page.field_error("password").as_deref(),
        Some("This field is required.")
    );
}

#[actix_web::test]
async fn five_failed_sign_ins_lock_the_username_even_for_the_right_password() {
    let app = TestApp::spawn().await;
    app.create_user("ops.wang", false);
    for _ in 0..5 {
        let page = sign_in_as(&app, &app.client, "ops.wang", "guess-guess").await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    }
    let failures: i64 = app.query(|c| {
        sign_in_failures::table
            .filter(sign_in_failures::username.eq("ops.wang"))
            .count()
            .get_result(c)
    });
    assert_eq!(failures, 5);

    let page = app.sign_in("ops.wang").await;

    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        page.form_error()
            .unwrap()
            .starts_with("Too many failed sign-ins")
    );
    assert_eq!(app.get("/").await.path, "/sign-in?next=/");
}

#[actix_web::test]
async fn a_successful_sign_in_clears_earlier_failures() {
    let app = TestApp::spawn().await;
    app.create_user("ops.wang", false);
    sign_in_as(&app, &app.client, "ops.wang", "guess-guess").await;

    app.sign_in("ops.wang").await;

    let failures: i64 = app.query(|c| sign_in_failures::table.count().get_result(c));
    assert_eq!(failures, 0);
}

#[actix_web::test]
async fn a_deactivated_person_cannot_sign_in() {
    let app = TestApp::spawn().await;
    let admin = app.create_user("admin", true);
    let id = app.create_user("ops.wang", false);
    app.db
        .write_sync(|c| countersign::store::users::set_active(c, id, false, admin))
        .unwrap();

    let page = app.sign_in("ops.wang").await;

    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        page.form_error().as_deref(),
        Some("Wrong username or password.")
    );
}

#[actix_web::test]
async fn a_person_deactivated_while_signed_in_is_signed_out_on_the_next_request() {
    let app = TestApp::spawn().await;
    let admin = app.create_user("admin", true);
    let id = app.create_user("ops.wang", false);
    app.sign_in("ops.wang").await;
    assert_eq!(app.get("/profile").await.path, "/profile");

    app.db
        .write_sync(|c| countersign::store::users::set_active(c, id, false, admin))
        .unwrap();

    assert_eq!(app.get("/profile").await.path, "/sign-in?next=/profile");
}

#[actix_web::test]
async fn the_inbox_sends_visitors_and_deactivated_people_to_sign_in() {
    let app = TestApp::spawn().await;
    let admin = app.create_user("admin", true);
    let id = app.create_user("ops.lead", false);
    assert_eq!(app.get("/inbox").await.path, "/sign-in?next=/inbox");

    app.sign_in("ops.lead").await;
    let page = app.get("/inbox").await;
    assert_eq!(page.path, "/inbox");
    assert_eq!(page.text(".me-name").as_deref(), Some("ops.lead Person"));

    app.db
        .write_sync(|c| countersign::store::users::set_active(c, id, false, admin))
        .unwrap();
    assert_eq!(app.get("/inbox").await.path, "/sign-in?next=/inbox");
    // The session forgot the person: other pages need signing in too.
    assert_eq!(app.get("/profile").await.path, "/sign-in?next=/profile");
}

#[actix_web::test]
async fn a_page_that_needs_sign_in_comes_back_after_it() {
    let app = TestApp::spawn().await;
    app.create_user("ops.wang", false);

    let page = app.get("/profile").await;
    assert_eq!(page.path, "/sign-in?next=/profile");
    assert_eq!(
        page.input_value("#sign-in-form", "next").as_deref(),
        Some("/profile")
    );

    let page = post_as(
        &app,
        &app.client,
        "/sign-in",
        &[
            ("username", "ops.wang"),
            ("password", PASSWORD),
            ("next", "/profile"),
        ],
    )
    .await;
    assert_eq!(page.path, "/profile");
}

#[actix_web::test]
async fn sign_in_never_redirects_to_another_site() {
    let app = TestApp::spawn().await;
    app.create_user("ops.wang", false);

    for next in [
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil.example",
    ] {
        let browser = TestApp::browser();
        let page = post_as(
            &app,
            &browser,
            "/sign-in",
            &[
                ("username", "ops.wang"),
                ("password", PASSWORD),
                ("next", next),
            ],
        )
        .await;
        assert_eq!(page.path, "/", "next={next}");
    }
}

#[actix_web::test]
async fn signing_in_starts_a_new_session_so_an_earlier_form_token_is_void() {
    let app = TestApp::spawn().await;
    app.create_user("ops.wang", false);
    let before = csrf_token(&app, &app.client).await;

    app.sign_in("ops.wang").await;
    let after = csrf_token(&app, &app.client).await;

    assert_ne!(before, after);
    let res = app
        .client
        .post(app.url("/profile"))
        .form(&[
            ("csrf_token", before.as_str()),
            ("display_name", "Changed"),
            ("language", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn signing_out_ends_the_session() {
    let app = TestApp::spawn().await;
    app.create_user("ops.wang", false);
    app.sign_in("ops.wang").await;

    let page = app.post("/sign-out", &[]).await;

    assert_eq!(page.path, "/sign-in");
    assert_eq!(app.get("/").await.path, "/sign-in?next=/");
}
