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
async fn pages_load_no_script_and_nothing_from_elsewhere() {
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
        assert_eq!(page.count("script"), 0, "{path}");
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
    assert_eq!(res.text().await.unwrap(), "ok");
}
