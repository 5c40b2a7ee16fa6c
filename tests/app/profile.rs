//! The profile: display name, language and password.

use countersign::db::schema::users;
use diesel::prelude::*;
use reqwest::StatusCode;

use crate::helpers::*;

#[actix_web::test]
async fn a_person_changes_their_display_name_and_language() {
    let app = TestApp::spawn().await;
    let id = app.create_user("ops.wang", false);
    app.sign_in("ops.wang").await;

    let page = app
        .post(
            "/profile",
            &[("display_name", "王伟"), ("language", "zh-CN")],
        )
        .await;

    assert_eq!(page.path, "/profile");
    assert_eq!(page.flash().as_deref(), Some("个人信息已保存。"));
    assert_eq!(page.text(".me-name").as_deref(), Some("王伟"));
    let (name, lang): (String, Option<String>) = app.query(move |c| {
        users::table
            .find(id)
            .select((users::display_name, users::language))
            .first(c)
    });
    assert_eq!((name.as_str(), lang.as_deref()), ("王伟", Some("zh-CN")));
}

#[actix_web::test]
async fn an_empty_display_name_is_refused_and_the_input_kept() {
    let app = TestApp::spawn().await;
    app.create_user("ops.wang", false);
    app.sign_in("ops.wang").await;

    let page = app
        .post("/profile", &[("display_name", "  "), ("language", "en")])
        .await;

    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        page.field_error("display_name").as_deref(),
        Some("This field is required.")
    );
    assert_eq!(
        page.selected("#profile-form", "language").as_deref(),
        Some("en")
    );
}

#[actix_web::test]
async fn changing_the_password_needs_the_current_one_and_a_matching_repeat() {
    let app = TestApp::spawn().await;
    app.create_user("ops.wang", false);
    app.sign_in("ops.wang").await;

    let page = app
        .post(
            "/profile/password",
            &[
                ("current", "wrong"),
                ("new_password", "new-secret-1"),
                ("confirm", "new-secret-2"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        page.field_error("current").as_deref(),
        Some("This is not your current password.")
    );
    assert_eq!(
        page.field_error("confirm").as_deref(),
        Some("The two passwords differ.")
    );

    let page = app
        .post(
            "/profile/password",
            &[
                ("current", PASSWORD),
                ("new_password", "new-secret-1"),
                ("confirm", "new-secret-1"),
            ],
        )
        .await;
    assert_eq!(page.flash().as_deref(), Some("Your password was changed."));

    let old = sign_in_as(&app, &TestApp::browser(), "ops.wang", PASSWORD).await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    let new = sign_in_as(&app, &TestApp::browser(), "ops.wang", "new-secret-1").await;
    assert_eq!(new.path, "/");
}
