//! Signing in with a real OpenID provider — the certified `oidc-provider`
//! from the npm registry, run by each test on the machine's Node.js
//! (`tests/oidc/provider.mjs`; `npm ci --prefix tests/oidc` installs it) —
//! over HTTP and once in the browser: the code flow with PKCE, groups
//! mapped to roles, a key rotation, and each thing countersign must
//! refuse: a replayed, foreign or tampered state, a token for another
//! application, signed with an unknown key, altered, or expired.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use countersign::config::{MailConfig, OidcConfig};
use countersign::db::schema::users;
use diesel::prelude::*;
use reqwest::StatusCode;

use crate::helpers::*;

/// The provider's folder, with its node_modules once installed.
fn folder() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc")
}

/// An OpenID provider of the test's own; stopped when dropped.
pub(crate) struct Oidc {
    child: Child,
    pub issuer: String,
    http: reqwest::Client,
}

impl Drop for Oidc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Oidc {
    /// Starts one for an app at `base`; `None`, with a note, when Node.js
    /// or the provider's packages are missing and `REQUIRE_OIDC` is not set.
    pub(crate) fn start(base: &str) -> Option<Oidc> {
        let installed = folder().join("node_modules/oidc-provider").is_dir()
            && Command::new("node").arg("--version").output().is_ok();
        if !installed {
            assert!(
                std::env::var_os("REQUIRE_OIDC").is_none(),
                "REQUIRE_OIDC is set but Node.js or tests/oidc/node_modules is missing (npm ci --prefix tests/oidc)"
            );
            eprintln!("note: the OpenID provider is not installed; skipping");
            return None;
        }
        let (listener, port) = free_port();
        drop(listener);
        let child = Command::new("node")
            .arg(folder().join("provider.mjs"))
            .env("PORT", port.to_string())
            .env("REDIRECT_URI", format!("{base}/sign-in/oidc/callback"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start node");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the OpenID provider did not start"
            );
            std::thread::sleep(Duration::from_millis(25));
        }
        Some(Oidc {
            child,
            issuer: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        })
    }

    pub(crate) fn config(&self) -> OidcConfig {
        let mut config = OidcConfig::new(&self.issuer, "countersign", Some("countersign-secret"));
        config.name = "Example SSO".into();
        config.scopes = "openid email profile groups".into();
        config
    }

    /// Makes the provider's next answers wrong in one way (see provider.mjs).
    async fn mode(&self, mode: &str) {
        let res = self
            .http
            .get(format!("{}/_test/mode?mode={mode}", self.issuer))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success());
    }
}

/// The app with the provider configured; a local administrator; and its
/// provider. The app's address must be known before the provider starts,
/// so the app listens first.
async fn app_and_provider() -> Option<(TestApp, Oidc)> {
    let (listener, port) = free_port();
    drop(listener);
    let base = format!("http://127.0.0.1:{port}");
    let oidc = Oidc::start(&base)?;
    let config = oidc.config();
    let app = TestApp::spawn_on_port(port, MailConfig::files(), |c| c.oidc = Some(config)).await;
    app.create_user("admin", true);
    Some((app, oidc))
}

/// A browser that stops at countersign's callback, so a test can see (and
/// replay, or alter) the address the provider sends it to.
fn stopping_browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            if attempt.url().path() == "/sign-in/oidc/callback" {
                attempt.stop()
            } else if attempt.previous().len() > 10 {
                attempt.error("too many redirects")
            } else {
                attempt.follow()
            }
        }))
        .build()
        .unwrap()
}

/// Starts a sign-in from countersign's page, signs in at the provider as
/// `who`, and returns the callback address the provider sent back.
async fn to_provider_and_back(
    app: &TestApp,
    oidc: &Oidc,
    browser: &reqwest::Client,
    who: &str,
) -> String {
    let sign_in = get(browser, &app.url("/sign-in?next=/inbox")).await;
    let start = sign_in
        .attr("#oidc-sign-in", "href")
        .expect("the sign-in page offers the provider");
    assert_eq!(
        sign_in.text("#oidc-sign-in").as_deref(),
        Some("Sign in with Example SSO")
    );
    // countersign → the provider's login page.
    let login = get(browser, &app.url(&start)).await;
    let action = login
        .attr("form", "action")
        .unwrap_or_else(|| panic!("no login form at {}", login.path));
    let action = if action.starts_with("http") {
        action
    } else {
        format!("{}{action}", oidc.issuer)
    };
    let res = browser
        .post(action)
        .form(&[
            ("prompt", "login"),
            ("login", who),
            ("password", "anything"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "the provider sends back"
    );
    let back = res
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("a callback address")
        .to_string();
    assert!(back.contains("/sign-in/oidc/callback?"), "{back}");
    back
}

/// Finishes a sign-in at the callback address in `browser`.
async fn callback(browser: &reqwest::Client, url: &str) -> Page {
    get(browser, url).await
}

fn person(app: &TestApp, username: &str) -> Option<(String, String, String, Option<String>)> {
    let username = username.to_string();
    app.query(move |c| {
        users::table
            .filter(users::username.eq(&username))
            .select((
                users::origin,
                users::display_name,
                users::email,
                users::language,
            ))
            .first(c)
            .optional()
    })
}

#[actix_web::test]
async fn a_person_signs_in_with_the_provider_and_is_made_from_its_claims_with_their_groups_roles() {
    let Some((app, oidc)) = app_and_provider().await else {
        return;
    };
    let admin_role = app.role_id("admin");
    app.sign_in("admin").await;
    app.post(
        "/admin/directory/groups",
        &[
            ("group", "oidc:platform-admins"),
            ("role_id", &admin_role.0.to_string()),
            ("business_id", "global"),
        ],
    )
    .await;
    let browser = stopping_browser();
    let back = to_provider_and_back(&app, &oidc, &browser, "carol").await;
    let home = callback(&browser, &back).await;
    assert_eq!(home.status, StatusCode::OK);
    assert_eq!(home.path, "/inbox", "back where she was going");
    assert_eq!(
        person(&app, "carol"),
        Some((
            "oidc".into(),
            "Carol Chen".into(),
            "carol@example.com".into(),
            Some("zh-CN".into())
        ))
    );
    // Her group makes her an administrator.
    let admin = get(&browser, &app.url("/admin/users")).await;
    assert_eq!(admin.status, StatusCode::OK);
    // Dan is in no group: administration is closed to him.
    let dan = stopping_browser();
    let back = to_provider_and_back(&app, &oidc, &dan, "dan").await;
    assert_eq!(callback(&dan, &back).await.path, "/inbox");
    let closed = get(&dan, &app.url("/admin/users")).await;
    assert_eq!(closed.status, StatusCode::FORBIDDEN);

    // The same answer again, in the same browser (which speaks Carol's
    // language now) or another, opens nothing.
    for (replay, said) in [
        (
            &browser,
            "这次登录不是在此浏览器中发起的，或已经用过。请重新登录。",
        ),
        (
            &TestApp::browser(),
            "This sign-in did not start in this browser, or was already used. Sign in again.",
        ),
    ] {
        let again = callback(replay, &back).await;
        assert_eq!(again.status, StatusCode::BAD_REQUEST);
        assert_eq!(again.form_error().as_deref(), Some(said));
    }
    // A directory group's name in the claim is no directory group.
    let claimed: Vec<String> = app.query(|c| {
        countersign::db::schema::group_roles::table
            .select(countersign::db::schema::group_roles::group_name)
            .load(c)
    });
    assert_eq!(claimed, vec!["oidc:platform-admins"]);
    // An address too long for the session is not kept: the sign-in goes home.
    let long = format!("/sign-in/oidc?next=/{}", "x".repeat(5000));
    let res = stopping_browser().get(app.url(&long)).send().await.unwrap();
    assert!(
        res.status().is_success() || res.status().is_redirection(),
        "{}",
        res.status()
    );
    // Signing out ends the session as for anyone.
    let signed_out = post_as(&app, &dan, "/sign-out", &[]).await;
    assert!(signed_out.path.starts_with("/sign-in"));
    assert!(
        get(&dan, &app.url("/inbox"))
            .await
            .path
            .starts_with("/sign-in")
    );
}

#[actix_web::test]
async fn a_tampered_state_a_token_for_another_application_an_unknown_key_an_altered_or_expired_token_are_each_refused()
 {
    let Some((app, oidc)) = app_and_provider().await else {
        return;
    };
    // A state this browser never sent.
    let browser = stopping_browser();
    let back = to_provider_and_back(&app, &oidc, &browser, "dan").await;
    let tampered = back.replace("state=", "state=0");
    let page = callback(&browser, &tampered).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(
        page.form_error()
            .unwrap()
            .contains("did not start in this browser")
    );

    for (mode, said) in [
        ("wrong-audience", "meant for another application"),
        ("foreign-key", "signed with a key it does not publish"),
        ("altered", "altered or is not properly signed"),
    ] {
        oidc.mode(mode).await;
        let browser = stopping_browser();
        let back = to_provider_and_back(&app, &oidc, &browser, "dan").await;
        let page = callback(&browser, &back).await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{mode}");
        let error = page.form_error().unwrap_or_default();
        assert!(error.contains(said), "{mode}: {error}");
        assert!(
            !get(&browser, &app.url("/inbox"))
                .await
                .path
                .starts_with("/inbox")
        );
    }
    oidc.mode("normal").await;

    // A person without an email address is told so.
    let browser = stopping_browser();
    let back = to_provider_and_back(&app, &oidc, &browser, "nomail").await;
    let page = callback(&browser, &back).await;
    let error = page.form_error().unwrap_or_default();
    assert!(error.contains("email address"), "{error}");

    // An answer that arrives after its token expired (countersign's clock
    // moved on two hours while the browser was away).
    let browser = stopping_browser();
    let back = to_provider_and_back(&app, &oidc, &browser, "dan").await;
    app.advance(chrono::Duration::hours(2));
    let page = callback(&browser, &back).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert!(page.form_error().unwrap().contains("has expired"));

    // Nobody was made by any of these.
    let made: i64 = app.query(|c| {
        users::table
            .filter(users::origin.eq("oidc"))
            .count()
            .get_result(c)
    });
    assert_eq!(made, 0);
}

#[actix_web::test]
async fn a_provider_that_rotates_its_signing_key_still_signs_people_in() {
    let Some((app, oidc)) = app_and_provider().await else {
        return;
    };
    let first = stopping_browser();
    let back = to_provider_and_back(&app, &oidc, &first, "dan").await;
    assert_eq!(callback(&first, &back).await.path, "/inbox");
    // Now it signs with a key countersign has not seen, which it publishes.
    oidc.mode("rotated").await;
    let second = stopping_browser();
    let back = to_provider_and_back(&app, &oidc, &second, "carol").await;
    let page = callback(&second, &back).await;
    assert_eq!(page.path, "/inbox", "{:?}", page.form_error());
}

#[actix_web::test]
async fn a_person_signs_in_with_the_provider_in_a_browser() {
    let Some((app, _oidc)) = app_and_provider().await else {
        return;
    };
    let Some(b) = crate::browser::Browser::start(&app.base).await else {
        return;
    };
    b.go("/sign-in").await;
    assert_eq!(b.text("#oidc-sign-in").await, "Sign in with Example SSO");
    b.submit("#oidc-sign-in").await;
    // The provider's own login page.
    b.fill("input[name=login]", "dan").await;
    b.fill("input[name=password]", "anything").await;
    b.submit("button.login-submit").await;
    assert_eq!(b.path().await, "/");
    assert_eq!(b.text(".me-name").await, "Dan Deng");
    b.quit().await;
}
