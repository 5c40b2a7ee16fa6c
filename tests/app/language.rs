//! English and Simplified Chinese: negotiated, switched, remembered.

use countersign::db::schema::users;
use diesel::prelude::*;
use reqwest::StatusCode;

use crate::helpers::*;

async fn get_with_language(
    app: &TestApp,
    browser: &reqwest::Client,
    path: &str,
    accept: &str,
) -> Page {
    let res = browser
        .get(app.url(path))
        .header("accept-language", accept)
        .send()
        .await
        .unwrap();
    Page::from(res).await
}

#[actix_web::test]
async fn the_language_defaults_from_the_browsers_preference() {
    let app = TestApp::spawn().await;

    let zh = get_with_language(
        &app,
        &TestApp::browser(),
        "/sign-in",
        "zh-CN,zh;q=0.9,en;q=0.8",
    )
    .await;
    assert_eq!(zh.attr("html", "lang").as_deref(), Some("zh-CN"));
    assert_eq!(zh.h1(), "登录");

    let en = get_with_language(&app, &TestApp::browser(), "/sign-in", "fr-FR,en;q=0.5").await;
    assert_eq!(en.attr("html", "lang").as_deref(), Some("en"));
    assert_eq!(en.h1(), "Sign in");
}

#[actix_web::test]
async fn switching_language_while_signed_out_is_kept_for_the_visit() {
    let app = TestApp::spawn().await;

    let page = app
        .post("/language", &[("lang", "zh-CN"), ("back", "/sign-in")])
        .await;

    assert_eq!(page.path, "/sign-in");
    assert_eq!(page.h1(), "登录");
    assert_eq!(
        page.attr(".lang-switch button[aria-pressed=true]", "value")
            .as_deref(),
        Some("zh-CN")
    );
    let again = get_with_language(&app, &app.client, "/sign-in", "en").await;
    assert_eq!(
        again.h1(),
        "登录",
        "the choice beats the browser's preference"
    );
}

#[actix_web::test]
async fn a_signed_in_persons_choice_is_saved_on_their_account_and_follows_them() {
    let app = TestApp::spawn().await;
    let id = app.create_user("ops.wang", false);
    app.sign_in("ops.wang").await;

    let page = app
        .post("/language", &[("lang", "zh-CN"), ("back", "/profile")])
        .await;

    assert_eq!(page.path, "/profile");
    assert_eq!(page.h1(), "个人设置");
    let stored: Option<String> =
        app.query(move |c| users::table.find(id).select(users::language).first(c));
    assert_eq!(stored.as_deref(), Some("zh-CN"));

    let elsewhere = TestApp::browser();
    let res = elsewhere
        .get(app.url("/sign-in"))
        .header("accept-language", "en")
        .send()
        .await
        .unwrap();
    assert_eq!(Page::from(res).await.h1(), "Sign in");
    let home = sign_in_as(&app, &elsewhere, "ops.wang", PASSWORD).await;
    assert_eq!(home.h1(), "欢迎，ops.wang Person");
    assert_eq!(home.text("#sign-out").as_deref(), Some("退出登录"));
}

#[actix_web::test]
async fn an_unknown_language_is_a_bad_request_page() {
    let app = TestApp::spawn().await;
    let page = app
        .post("/language", &[("lang", "klingon"), ("back", "/")])
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert_eq!(page.h1(), "Bad request");
}

#[actix_web::test]
async fn error_pages_and_form_messages_are_in_the_readers_language() {
    let app = TestApp::spawn().await;
    app.create_user("admin", true);
    app.post("/language", &[("lang", "zh-CN"), ("back", "/")])
        .await;

    let missing = app.get("/no-such-page").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.h1(), "未找到");

    let failed = sign_in_as(&app, &app.client, "admin", "wrong-password").await;
    assert_eq!(failed.form_error().as_deref(), Some("用户名或密码错误。"));

    app.sign_in("admin").await;
    app.post("/language", &[("lang", "zh-CN"), ("back", "/")])
        .await;
    let page = app.post("/admin/businesses", &[("name", "")]).await;
    assert_eq!(page.field_error("name").as_deref(), Some("此项必填。"));
}
