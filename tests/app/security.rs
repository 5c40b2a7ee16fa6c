//! CSRF, security headers, cookies, error pages and admin-only access.

use countersign::db::schema::{businesses, users};
use diesel::prelude::*;
use reqwest::StatusCode;

use crate::helpers::*;

#[actix_web::test]
async fn a_form_without_its_security_token_is_refused_with_a_page_that_explains_and_changes_nothing()
 {
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    app.sign_in("admin").await;

    let res = app
        .client
        .post(app.url("/admin/businesses"))
        .form(&[("name", "Payments")])
        .send()
        .await
        .unwrap();
    let page = Page::from(res).await;

    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert_eq!(page.h1(), "The form has expired");
    let count: i64 = app.query(|c| businesses::table.count().get_result(c));
    assert_eq!(count, 0);
}

#[actix_web::test]
async fn a_token_from_another_session_is_refused() {
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    app.sign_in("admin").await;
    let other_token = csrf_token(&app, &TestApp::browser()).await;

    let res = app
        .client
        .post(app.url("/admin/businesses"))
        .form(&[("csrf_token", other_token.as_str()), ("name", "Payments")])
        .send()
        .await
        .unwrap();

    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let count: i64 = app.query(|c| businesses::table.count().get_result(c));
    assert_eq!(count, 0);
}

#[actix_web::test]
async fn every_page_sends_security_headers() {
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    app.sign_in("admin").await;

    for path in ["/sign-in", "/", "/admin/users", "/no-such-page"] {
        let page = app.get(path).await;
        let csp = page.header("content-security-policy");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert_eq!(page.header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(page.header("x-frame-options"), "DENY", "{path}");
        assert_eq!(page.header("referrer-policy"), "same-origin", "{path}");
    }
}

#[actix_web::test]
async fn the_session_cookie_is_http_only_and_same_site_lax() {
    let app = TestApp::spawn().await;
    let res = reqwest::get(app.url("/sign-in")).await.unwrap();

    let cookie = res
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();

    assert!(cookie.starts_with("countersign="), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    // Tests run over plain http, where a Secure cookie would never come back.
    assert!(!cookie.contains("Secure"), "{cookie}");
}

#[actix_web::test]
async fn pages_load_no_inline_script_and_nothing_from_elsewhere() {
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    app.sign_in("admin").await;

    for path in [
        "/sign-in",
        "/",
        "/profile",
        "/admin/users",
        "/admin/assignments",
        "/admin/delegations",
    ] {
        let page = app.get(path).await;
        assert_eq!(
            page.attrs("script", "src"),
            ["/static/app.js"],
            "{path}: only the one script of our own"
        );
        assert_eq!(
            page.text("script").as_deref(),
            Some(""),
            "{path}: nothing inline"
        );
        for src in page
            .attrs("link[href], img[src]", "href")
            .into_iter()
            .chain(page.attrs("img[src]", "src"))
        {
            assert!(src.starts_with('/'), "{path} loads {src}");
        }
    }
}

#[actix_web::test]
async fn an_unknown_address_gets_a_rendered_not_found_page() {
    let app = TestApp::spawn().await;

    let page = app.get("/no/such/page").await;

    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert_eq!(page.h1(), "Not found");
    assert_eq!(page.attr("a.button", "href").as_deref(), Some("/"));
}

#[actix_web::test]
async fn an_unknown_record_gets_a_not_found_page_not_an_error() {
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    app.sign_in("admin").await;

    for path in [
        "/admin/users/99999",
        "/admin/businesses/99999",
        "/admin/roles/99999",
        "/admin/delegations/99999",
    ] {
        let page = app.get(path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(page.h1(), "Not found", "{path}");
    }
    let page = app.get("/admin/users/not-a-number").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn people_who_are_not_administrators_get_a_forbidden_page_on_every_admin_page() {
    let app = TestApp::spawn().await;
    let admin = app.create_user("admin", true);
    app.create_user("ops.wang", false);
    app.sign_in("ops.wang").await;

    let gets = [
        "/admin",
        "/admin/users",
        "/admin/users/new",
        &format!("/admin/users/{admin}"),
        "/admin/businesses",
        "/admin/roles",
        "/admin/roles/1",
        "/admin/assignments",
        "/admin/delegations",
    ];
    for path in gets {
        let page = app.get(path).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "GET {path}");
        assert_eq!(page.h1(), "Not allowed", "GET {path}");
    }
    let posts = [
        "/admin/users".to_string(),
        format!("/admin/users/{admin}"),
        format!("/admin/users/{admin}/password"),
        format!("/admin/users/{admin}/deactivate"),
        "/admin/businesses".to_string(),
        "/admin/roles".to_string(),
        "/admin/assignments".to_string(),
        "/admin/assignments/1/delete".to_string(),
        "/admin/delegations".to_string(),
    ];
    for path in &posts {
        let page = app
            .post(
                path,
                &[
                    ("username", "mallory"),
                    ("name", "x"),
                    ("new_password", "12345678"),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "POST {path}");
    }
    let admin_active: bool = app.query(|c| users::table.find(admin).select(users::active).first(c));
    assert!(admin_active);
    let mallory: i64 = app.query(|c| {
        users::table
            .filter(users::username.eq("mallory"))
            .count()
            .get_result(c)
    });
    assert_eq!(mallory, 0);
}

#[actix_web::test]
async fn the_navigation_shows_administration_to_administrators_only() {
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    app.create_user("ops.wang", false);

    app.sign_in("ops.wang").await;
    assert!(
        !app.get("/")
            .await
            .attrs(".nav a", "href")
            .contains(&"/admin/users".to_string())
    );

    let admin = TestApp::browser();
    sign_in_as(&app, &admin, "admin", PASSWORD).await;
    let page = get(&admin, &app.url("/")).await;
    assert!(
        page.attrs(".nav a", "href")
            .contains(&"/admin/users".to_string())
    );
}

#[actix_web::test]
async fn an_oversized_form_gets_a_too_large_page() {
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    app.sign_in("admin").await;
    let token = csrf_token(&app, &app.client).await;
    let huge = "x".repeat(400 * 1024);

    let res = app
        .client
        .post(app.url("/admin/businesses"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("name", "Big"),
            ("description", huge.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let page = Page::from(res).await;

    assert_eq!(page.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(page.h1(), "Too large");
}

#[actix_web::test]
async fn the_health_check_answers_without_sign_in() {
    let app = TestApp::spawn().await;
    let res = reqwest::get(app.url("/healthz")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let said = res.text().await.unwrap();
    assert_eq!(
        said.lines().collect::<Vec<_>>(),
        [
            "ok",
            "mail_pending 0",
            "mail_failed 0",
            "mail_oldest_pending_seconds 0"
        ]
    );
}

/// A browser that shows where the server sends it instead of going there.
fn not_following() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// Next addresses a browser would read as another site (a tab or newline
/// is dropped, a backslash read as a slash), or that would break the header.
const OFF_SITE: [&str; 8] = [
    "/\t/evil.example",
    "/\r/evil.example",
    "/\n/evil.example",
    "/\u{b}/evil.example",
    "/\u{c}/evil.example",
    "/\\evil.example",
    "//evil.example",
    "/\r\nSet-Cookie: stolen=1",
];

#[actix_web::test]
async fn after_sign_in_a_next_address_with_a_control_character_goes_home_and_never_fails() {
    let app = TestApp::spawn().await;
    app.create_user("ops.wang", false);
    let signed_in = not_following();
    sign_in_as(&app, &signed_in, "ops.wang", PASSWORD).await;

    for next in OFF_SITE {
        // Signed in already: the sign-in page sends them on at once.
        let res = signed_in
            .get(app.url("/sign-in"))
            .query(&[("next", next)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{next:?}");
        assert_eq!(location(&res), "/", "{next:?}");

        // Signing in with it.
        let browser = not_following();
        let token = csrf_token(&app, &browser).await;
        let res = browser
            .post(app.url("/sign-in"))
            .form(&[
                ("csrf_token", token.as_str()),
                ("username", "ops.wang"),
                ("password", PASSWORD),
                ("next", next),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{next:?}");
        assert_eq!(location(&res), "/", "{next:?}");
    }
}

/// Where the language switch sends a visitor who asks to go `back` there.
async fn switch_language_back_to(app: &TestApp, back: &str) -> (StatusCode, String) {
    let visitor = not_following();
    let token = csrf_token(app, &visitor).await;
    let res = visitor
        .post(app.url("/language"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("lang", "zh-CN"),
            ("back", back),
        ])
        .send()
        .await
        .unwrap();
    (res.status(), location(&res))
}

#[actix_web::test]
async fn the_language_switch_sends_visitors_only_back_to_this_site() {
    let app = TestApp::spawn().await;
    for back in OFF_SITE {
        assert_eq!(
            switch_language_back_to(&app, back).await,
            (StatusCode::SEE_OTHER, "/".to_string()),
            "{back:?}"
        );
    }
    // A path of this site, even with words in Chinese, is followed.
    assert_eq!(
        switch_language_back_to(&app, "/catalog?q=变更").await.1,
        "/catalog?q=%E5%8F%98%E6%9B%B4"
    );
}

/// 200 MiB of zeros, gzipped into about 200 KiB: a decompression bomb.
fn gzip_bomb() -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1024 * 1024];
    for _ in 0..200 {
        gz.write_all(&zeros).unwrap();
    }
    gz.finish().unwrap()
}

#[actix_web::test]
async fn compressed_request_bodies_are_refused_unread_and_a_flood_of_bombs_leaves_memory_alone() {
    let bomb = std::sync::Arc::new(gzip_bomb());
    assert!(bomb.len() < 250 * 1024, "{} bytes", bomb.len());
    let app = TestApp::spawn().await;
    let mut server = crate::process::Server::start(&app.database_url(), app.data_dir(), &[], &[]);
    server.ready().await;
    let before = server.rss_mib();

    let sends = (0..16).map(|_| {
        let (bomb, url) = (bomb.clone(), server.url("/sign-in"));
        actix_web::rt::spawn(async move {
            let res = reqwest::Client::new()
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .header("content-encoding", "gzip")
                .body(bomb.to_vec())
                .send()
                .await
                .unwrap();
            let status = res.status();
            let page = Page::from(res).await;
            (status, page.h1())
        })
    });
    let mut answers = Vec::new();
    for send in sends.collect::<Vec<_>>() {
        answers.push(send.await.unwrap());
    }

    for (status, h1) in answers {
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(h1, "Unsupported request");
    }
    let after = server.rss_mib();
    assert!(
        after < 100.0,
        "resident memory {before:.1} → {after:.1} MiB"
    );
}

#[actix_web::test]
async fn a_body_that_trickles_in_gets_a_timeout_and_its_connection_is_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn_configured(countersign::config::MailConfig::files(), |config| {
        config.http.body_timeout = std::time::Duration::from_secs(1);
    })
    .await;
    let address = app.base.trim_start_matches("http://").to_string();
    let mut slow = tokio::net::TcpStream::connect(&address).await.unwrap();
    slow.write_all(
        format!(
            "POST /sign-in HTTP/1.1\r\nHost: {address}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nu"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let started = std::time::Instant::now();
    // A byte every 300 ms, for as long as the server listens.
    let reading = async {
        let mut answer = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            tokio::select! {
                read = slow.read(&mut buf) => match read {
                    Ok(0) | Err(_) => break,
                    Ok(n) => answer.extend_from_slice(&buf[..n]),
                },
                _ = tokio::time::sleep(std::time::Duration::from_millis(300)) => {
                    if slow.write_all(b"s").await.is_err() {
                        break;
                    }
                }
            }
        }
        answer
    };
    let answer = tokio::time::timeout(std::time::Duration::from_secs(10), reading)
        .await
        .expect("the server closed the connection");

    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[actix_web::test]
async fn browsers_are_told_to_keep_to_https_when_countersign_is_reached_over_https() {
    let app = TestApp::spawn_configured(countersign::config::MailConfig::files(), |config| {
        config.base_url = "https://countersign.example".into();
    })
    .await;
    let page = app.get("/sign-in").await;
    assert_eq!(page.header("strict-transport-security"), "max-age=31536000");

    let plain = TestApp::spawn().await;
    let page = plain.get("/sign-in").await;
    assert_eq!(page.header("strict-transport-security"), "");
}
