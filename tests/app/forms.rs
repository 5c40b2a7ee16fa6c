//! Form hygiene: limits the browser enforces too, date-time ranges that
//! say From, Until and the time zone, and a change window in the past
//! warned about before submitting.

use chrono::Duration;
use countersign::db::schema::applies;
use diesel::prelude::*;

use crate::helpers::*;

#[actix_web::test]
async fn fields_with_a_limit_carry_it_to_the_browser_and_long_ones_count_down() {
    let app = TestApp::spawn().await;
    app.load_demo();
    let service = service_id(&app, "Environment change");
    let ops = app.demo_browser("ops.wang").await;

    let form = get(&ops, &app.url(&format!("/services/{service}"))).await;
    assert_eq!(form.attr("#f-reason", "maxlength").as_deref(), Some("2000"));
    assert!(form.attr("#f-reason", "data-counter").is_some());
    assert_eq!(
        form.attr("body", "data-characters-left").as_deref(),
        Some("%{n} characters left")
    );

    let admin = app.demo_browser("admin").await;
    let page = get(&admin, &app.url("/admin/businesses")).await;
    assert_eq!(page.attr("#f-name", "maxlength").as_deref(), Some("80"));
    assert_eq!(
        page.attr("#f-description", "maxlength").as_deref(),
        Some("2000")
    );
    assert!(page.attr("#f-description", "data-counter").is_some());
    assert!(
        page.attr("#f-name", "data-counter").is_none(),
        "a short field needs no count"
    );
    let page = get(&admin, &app.url("/admin/delegations")).await;
    assert_eq!(page.attr("#f-to_user", "maxlength").as_deref(), Some("32"));

    // The server still says so to a client that ignores the limit.
    let long = "x".repeat(81);
    let page = post_as(
        &app,
        &admin,
        "/admin/businesses",
        &[("name", long.as_str()), ("description", "")],
    )
    .await;
    assert_eq!(page.status, reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.field_error("name").is_some());
}

#[actix_web::test]
async fn a_change_window_is_labelled_from_and_until_in_utc() {
    let app = TestApp::spawn().await;
    app.load_demo();
    let service = service_id(&app, "Environment change");
    let ops = app.demo_browser("ops.wang").await;

    let form = get(&ops, &app.url(&format!("/services/{service}"))).await;
    assert_eq!(
        form.texts("[data-field=window] label.sub"),
        ["From (UTC)", "Until (UTC)"]
    );
    assert_eq!(
        form.attr("label[for='f-window-end']", "for").as_deref(),
        Some("f-window-end")
    );
    assert_eq!(form.count("#f-window-end[name='window.end']"), 1);

    post_as(&app, &ops, "/language", &[("lang", "zh-CN"), ("back", "/")]).await;
    let form = get(&ops, &app.url(&format!("/services/{service}"))).await;
    assert_eq!(
        form.texts("[data-field=window] label.sub"),
        ["开始（UTC）", "结束（UTC）"]
    );
}

#[actix_web::test]
async fn a_change_window_already_begun_is_warned_about_and_may_still_be_filed() {
    let app = TestApp::spawn().await;
    app.load_demo();
    let service = service_id(&app, "Environment change");
    let business: i32 = app
        .query(|c| {
            countersign::db::schema::businesses::table
                .filter(countersign::db::schema::businesses::name.eq("Payments"))
                .select(countersign::db::schema::businesses::id)
                .first::<countersign::db::ids::BusinessId>(c)
        })
        .0;
    let ops = app.demo_browser("ops.wang").await;
    let now = app.db.now();
    let at = |t: chrono::NaiveDateTime| t.format("%Y-%m-%dT%H:%M").to_string();
    let business = business.to_string();
    let fields = |start: &str, end: &str, intent: &str| {
        vec![
            ("intent".to_string(), intent.to_string()),
            ("business_id".to_string(), business.clone()),
            ("reason".to_string(), "Disk replacement".to_string()),
            ("scope".to_string(), "infrastructure".to_string()),
            ("window.start".to_string(), start.to_string()),
            ("window.end".to_string(), end.to_string()),
            (
                "rollback_plan".to_string(),
                "Put the old disk back".to_string(),
            ),
        ]
    };
    let post = |pairs: Vec<(String, String)>| {
        let (app, ops) = (&app, &ops);
        async move {
            let borrowed: Vec<(&str, &str)> = pairs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            post_as(app, ops, &format!("/services/{service}"), &borrowed).await
        }
    };

    let (ahead, later) = (at(now + Duration::hours(2)), at(now + Duration::hours(4)));
    let preview = post(fields(&ahead, &later, "preview")).await;
    assert_eq!(preview.count(".warning"), 0, "a window ahead is fine");

    let (begun, end) = (at(now - Duration::hours(1)), at(now + Duration::hours(1)));
    let preview = post(fields(&begun, &end, "preview")).await;
    assert_eq!(
        preview.text(".warning"),
        Some(format!(
            "Change window starts in the past ({} UTC). Check it before submitting; you may still submit.",
            begun.replace('T', " ")
        ))
    );
    let filed = post(fields(&begun, &end, "submit")).await;
    assert!(filed.path.starts_with("/tickets/"), "{}", filed.path);
    let count: i64 = app.query(|c| applies::table.count().get_result(c));
    assert_eq!(count, 1);
}
