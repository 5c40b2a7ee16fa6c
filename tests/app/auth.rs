//! Signing in and out, throttling, and sessions.

use countersign::db::schema::sign_in_throttle;
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
async fn five_failed_sign_ins_from_one_address_lock_the_username_there_even_for_the_right_password()
{
    let app = TestApp::spawn().await;
    app.create_user("ops.wang", false);
    for _ in 0..5 {
        let page = sign_in_as(&app, &app.client, "ops.wang", "guess-guess").await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    }
    let failures: i32 = app.query(|c| {
        sign_in_throttle::table
            .find("a:ops.wang|127.0.0.1")
            .select(sign_in_throttle::attempts)
            .first(c)
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

    let from_here: i64 = app.query(|c| {
        sign_in_throttle::table
            .filter(sign_in_throttle::key.eq("a:ops.wang|127.0.0.1"))
            .count()
            .get_result(c)
    });
    assert_eq!(from_here, 0, "the failures from this address are forgotten");
    let for_the_name: i32 = app.query(|c| {
        sign_in_throttle::table
            .find("u:ops.wang")
            .select(sign_in_throttle::attempts)
            .first(c)
    });
    assert_eq!(
        for_the_name, 1,
        "the wrong guess still counts for the username"
    );
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

/// A browser whose connections come from `address` (another machine, as
/// far as the server can tell: any 127.x.y.z reaches it on loopback).
fn browser_from(address: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .local_address(Some(address.parse().unwrap()))
        .build()
        .unwrap()
}

#[actix_web::test]
async fn forty_guesses_in_parallel_for_one_name_have_only_five_passwords_checked() {
    let app = TestApp::spawn().await;
    app.create_user("ops.wang", false);
    // Each guess from a browser of its own, form token ready, sent at once.
    let mut ready = Vec::new();
    for _ in 0..40 {
        let browser = TestApp::browser();
        let token = csrf_token(&app, &browser).await;
        ready.push((browser, token));
    }
    let url = app.url("/sign-in");
    let guesses = ready.into_iter().map(|(browser, token)| {
        let url = url.clone();
        actix_web::rt::spawn(async move {
            browser
                .post(url)
                .form(&[
                    ("csrf_token", token.as_str()),
                    ("username", "ops.wang"),
                    ("password", "guess-guess"),
                ])
                .send()
                .await
                .unwrap()
                .status()
        })
    });
    let mut statuses = Vec::new();
    for guess in guesses.collect::<Vec<_>>() {
        statuses.push(guess.await.unwrap());
    }

    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((checked, refused), (5, 35), "{statuses:?}");
}

#[actix_web::test]
async fn a_burst_of_guesses_from_one_address_does_not_lock_the_person_out_from_their_own_desk() {
    let app = TestApp::spawn().await;
    app.create_user("ops.wang", false);
    let attacker = browser_from("127.0.0.2");
    for _ in 0..5 {
        let page = sign_in_as(&app, &attacker, "ops.wang", "guess-guess").await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    }
    let page = sign_in_as(&app, &attacker, "ops.wang", PASSWORD).await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS);

    let desk = browser_from("127.0.0.3");
    let page = sign_in_as(&app, &desk, "ops.wang", PASSWORD).await;

    assert_eq!(page.path, "/");
}

#[actix_web::test]
async fn guesses_spread_over_many_addresses_meet_the_slower_limit_for_the_name() {
    let app = TestApp::spawn().await;
    app.create_user("ops.wang", false);
    // Fifty wrong guesses from ten addresses, five each: each address at
    // its own limit, and the name at its.
    for host in 10..20 {
        let from = browser_from(&format!("127.0.0.{host}"));
        for _ in 0..5 {
            let page = sign_in_as(&app, &from, "ops.wang", "guess-guess").await;
            assert_eq!(page.status, StatusCode::UNAUTHORIZED);
        }
    }

    let fresh = browser_from("127.0.0.20");
    let page = sign_in_as(&app, &fresh, "ops.wang", PASSWORD).await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS);

    // An hour later the name's window has passed.
    app.db.clock().advance(chrono::Duration::minutes(61));
    let page = sign_in_as(&app, &fresh, "ops.wang", PASSWORD).await;
    assert_eq!(page.path, "/");
}

#[actix_web::test]
async fn an_address_may_try_again_once_its_fifteen_minutes_have_passed() {
    let app = TestApp::spawn().await;
    app.create_user("ops.wang", false);
    for _ in 0..5 {
        sign_in_as(&app, &app.client, "ops.wang", "guess-guess").await;
    }
    app.db.clock().advance(chrono::Duration::minutes(14));
    assert_eq!(
        app.sign_in("ops.wang").await.status,
        StatusCode::TOO_MANY_REQUESTS
    );

    app.db.clock().advance(chrono::Duration::minutes(2));

    assert_eq!(app.sign_in("ops.wang").await.path, "/");
}

#[actix_web::test]
async fn one_address_guessing_all_hour_never_locks_the_person_out_from_elsewhere() {
    let app = TestApp::spawn().await;
    app.create_user("ops.wang", false);
    let attacker = browser_from("127.0.0.2");
    // Five guesses in each of four quarters of an hour: all one address may.
    for quarter in 0..4 {
        for _ in 0..5 {
            let page = sign_in_as(&app, &attacker, "ops.wang", "guess-guess").await;
            assert_eq!(page.status, StatusCode::UNAUTHORIZED, "quarter {quarter}");
        }
        let page = sign_in_as(&app, &attacker, "ops.wang", "guess-guess").await;
        assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS);
        app.db.clock().advance(chrono::Duration::minutes(15));
    }

    let desk = browser_from("127.0.0.3");
    assert_eq!(
        sign_in_as(&app, &desk, "ops.wang", PASSWORD).await.path,
        "/"
    );
}

#[actix_web::test]
async fn a_name_no_one_could_have_is_refused_like_a_wrong_password_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let huge = "x".repeat(100 * 1024);
    for name in [huge.as_str(), "Ops Wang", "<script>"] {
        let page = sign_in_as(&app, &app.client, name, "guess-guess").await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            page.form_error().as_deref(),
            Some("Wrong username or password.")
        );
    }
    let counters: i64 = app.query(|c| sign_in_throttle::table.count().get_result(c));
    assert_eq!(counters, 0);
}
