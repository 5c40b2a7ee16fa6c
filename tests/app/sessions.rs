//! Sessions end when they should: at sign-out (every session of the
//! person, also a cookie copied before), at a password change or reset, at
//! "sign out of all other sessions", and after an idle time and a lifetime
//! measured on the app's clock.

use std::sync::Arc;

use chrono::Duration;
use reqwest::StatusCode;
use reqwest::cookie::{CookieStore, Jar};
use reqwest::header::{COOKIE, HeaderValue, LOCATION};

use crate::helpers::*;

/// A browser whose cookie jar the test can read.
fn browser_with_jar() -> (reqwest::Client, Arc<Jar>) {
    let jar = Arc::new(Jar::default());
    let client = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .build()
        .unwrap();
    (client, jar)
}

/// Where `path` sends someone presenting exactly `cookie` (no redirects
/// followed, nothing kept): 200 for the page itself.
async fn with_cookie(app: &TestApp, path: &str, cookie: &HeaderValue) -> (StatusCode, String) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = client
        .get(app.url(path))
        .header(COOKIE, cookie.clone())
        .send()
        .await
        .unwrap();
    let location = res
        .headers()
        .get(LOCATION)
        .and_then(|l| l.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (res.status(), location)
}

fn cookie_of(app: &TestApp, jar: &Jar) -> HeaderValue {
    jar.cookies(&app.url("/").parse().unwrap())
        .expect("a session cookie")
}

#[actix_web::test]
async fn a_session_cookie_copied_before_signing_out_no_longer_opens_anything() {
    let app = TestApp::spawn().await;
    app.create_user("ops.wang", false);
    let (browser, jar) = browser_with_jar();
    sign_in_as(&app, &browser, "ops.wang", PASSWORD).await;
    let copied = cookie_of(&app, &jar);
    assert_eq!(with_cookie(&app, "/inbox", &copied).await.0, StatusCode::OK);

    post_as(&app, &browser, "/sign-out", &[]).await;

    assert_eq!(
        with_cookie(&app, "/inbox", &copied).await,
        (StatusCode::SEE_OTHER, "/sign-in?next=/inbox".to_string())
    );
}

#[actix_web::test]
async fn signing_out_ends_the_persons_sessions_on_every_browser() {
    let app = TestApp::spawn().await;
    app.create_user("ops.wang", false);
    let desk = browser_for(&app, "ops.wang").await;
    let phone = browser_for(&app, "ops.wang").await;

    post_as(&app, &desk, "/sign-out", &[]).await;

    assert_eq!(
        get(&phone, &app.url("/inbox")).await.path,
        "/sign-in?next=/inbox"
    );
}

#[actix_web::test]
async fn changing_ones_password_ends_every_other_session_and_keeps_this_one() {
    let app = TestApp::spawn().await;
    app.create_user("ops.wang", false);
    let desk = browser_for(&app, "ops.wang").await;
    let phone = browser_for(&app, "ops.wang").await;

    let page = post_as(
        &app,
        &desk,
        "/profile/password",
        &[
            ("current", PASSWORD),
            ("new_password", "a much longer new password"),
            ("confirm", "a much longer new password"),
        ],
    )
    .await;

    assert_eq!(page.flash().as_deref(), Some("Your password was changed."));
    assert_eq!(get(&desk, &app.url("/inbox")).await.path, "/inbox");
    assert_eq!(
        get(&phone, &app.url("/inbox")).await.path,
        "/sign-in?next=/inbox"
    );
}

#[actix_web::test]
async fn an_administrator_resetting_a_password_ends_the_persons_sessions() {
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    let wang = app.create_user("ops.wang", false);
    let theirs = browser_for(&app, "ops.wang").await;
    let admin = browser_for(&app, "admin").await;

    post_as(
        &app,
        &admin,
        &format!("/admin/users/{wang}/password"),
        &[("new_password", "a fresh password from the admin")],
    )
    .await;

    assert_eq!(
        get(&theirs, &app.url("/inbox")).await.path,
        "/sign-in?next=/inbox"
    );
    assert_eq!(get(&admin, &app.url("/inbox")).await.path, "/inbox");
}

#[actix_web::test]
async fn signing_out_of_all_other_sessions_from_the_profile_keeps_only_this_one() {
    let app = TestApp::spawn().await;
    app.create_user("ops.wang", false);
    let desk = browser_for(&app, "ops.wang").await;
    let phone = browser_for(&app, "ops.wang").await;
    let profile = get(&desk, &app.url("/profile")).await;
    assert_eq!(
        profile.text("#sessions-form button").as_deref(),
        Some("Sign out of all other sessions")
    );

    let page = post_as(&app, &desk, "/profile/sessions/end", &[]).await;

    assert_eq!(
        page.flash().as_deref(),
        Some("Every other session has been signed out.")
    );
    assert_eq!(get(&desk, &app.url("/inbox")).await.path, "/inbox");
    assert_eq!(
        get(&phone, &app.url("/inbox")).await.path,
        "/sign-in?next=/inbox"
    );
}

#[actix_web::test]
async fn a_session_ends_after_its_idle_time_and_after_its_lifetime_however_busy() {
    let app = TestApp::spawn_configured(countersign::config::MailConfig::files(), |config| {
        config.session.idle_secs = 30 * 60;
        config.session.lifetime_secs = 2 * 3600;
    })
    .await;
    app.create_user("ops.wang", false);
    let browser = browser_for(&app, "ops.wang").await;
    let clock = app.db.clock();

    // In use every 25 minutes, it stays signed in…
    for _ in 0..4 {
        clock.advance(Duration::minutes(25));
        assert_eq!(get(&browser, &app.url("/inbox")).await.path, "/inbox");
    }
    // …until two hours after signing in.
    clock.advance(Duration::minutes(25));
    let page = get(&browser, &app.url("/inbox")).await;
    assert_eq!(page.path, "/sign-in?next=/inbox");
    assert_eq!(
        page.flash().as_deref(),
        Some("Your session has ended. Sign in again to carry on.")
    );

    // Signed in again and left alone for longer than the idle time.
    sign_in_as(&app, &browser, "ops.wang", PASSWORD).await;
    assert_eq!(get(&browser, &app.url("/inbox")).await.path, "/inbox");
    clock.advance(Duration::minutes(31));
    assert_eq!(
        get(&browser, &app.url("/inbox")).await.path,
        "/sign-in?next=/inbox"
    );
}
