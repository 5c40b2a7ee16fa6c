//! The person picker: the lookup its script asks, and person fields that
//! take what it writes — or a plain username without it.

use countersign::db::schema::delegations;
use diesel::prelude::*;
use reqwest::StatusCode;

use crate::helpers::*;

async fn suggestions(browser: &reqwest::Client, app: &TestApp, q: &str) -> serde_json::Value {
    let res = browser
        .get(app.url("/people"))
        .query(&[("q", q)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    serde_json::from_str(&res.text().await.unwrap()).unwrap()
}

#[actix_web::test]
async fn typing_part_of_a_name_suggests_people_by_name_and_username_only() {
    let app = TestApp::spawn().await;
    app.load_demo();
    let rd = app.demo_browser("rd.zhao").await;

    let found = suggestions(&rd, &app, "he").await;
    let labels: Vec<&str> = found
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["label"].as_str().unwrap())
        .collect();
    assert!(labels.contains(&"He Jun (owner.manager)"), "{labels:?}");
    let he = found
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["username"] == "owner.manager")
        .unwrap();
    assert_eq!(he["name"], "He Jun");
    assert!(he.get("email").is_none(), "no addresses: {he}");

    // A username prefix finds them too; case does not matter.
    let found = suggestions(&rd, &app, "OWNER.M").await;
    assert_eq!(found[0]["username"], "owner.manager");
    // Wildcards are taken literally, and nothing typed suggests nobody.
    assert_eq!(suggestions(&rd, &app, "%").await, serde_json::json!([]));
    assert_eq!(suggestions(&rd, &app, "").await, serde_json::json!([]));

    // Deactivated people are not suggested.
    let admin = app.demo_browser("admin").await;
    let he_id = app.user_id("owner.manager");
    post_as(
        &app,
        &admin,
        &format!("/admin/users/{he_id}/deactivate"),
        &[],
    )
    .await;
    let found = suggestions(&rd, &app, "he jun").await;
    assert_eq!(found, serde_json::json!([]));

    // Signed out, nobody is listed.
    let stranger = TestApp::browser();
    let res = stranger.get(app.url("/people?q=he")).send().await.unwrap();
    assert_eq!(res.url().path(), "/sign-in");
}

#[actix_web::test]
async fn person_fields_carry_the_picker_and_take_a_username_or_what_it_shows() {
    let app = TestApp::spawn().await;
    app.load_demo();
    let admin = app.demo_browser("admin").await;
    for (path, field) in [
        ("/admin/delegations", "from_user"),
        ("/admin/delegations", "to_user"),
        ("/admin/assignments", "user"),
        ("/admin/resources", "owner"),
        ("/admin/users/new", "manager"),
    ] {
        let page = get(&admin, &app.url(path)).await;
        assert_eq!(
            page.attr(&format!("#f-{field}"), "data-people").as_deref(),
            Some("one"),
            "{path} {field}"
        );
    }

    let manager = app.demo_browser("owner.manager").await;
    let now = app.db.now();
    let at = |t: chrono::NaiveDateTime| t.format("%Y-%m-%dT%H:%M").to_string();
    let (starts, ends) = (at(now), at(now + chrono::Duration::days(3)));
    let form = |to: &'static str| vec![("to_user", to), ("process_kind", ""), ("note", "")];
    // A name alone, without the script, gets a message that says what to type.
    let mut fields = form("Lin Tao");
    fields.extend([("starts_at", starts.as_str()), ("ends_at", ends.as_str())]);
    let page = post_as(&app, &manager, "/profile/delegations", &fields).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        page.field_error("to_user").as_deref(),
        Some(
            "Type the person's username, such as owner.manager, or pick them from the suggestions as you type."
        )
    );
    assert_eq!(
        page.attr("#f-to_user", "value").as_deref(),
        Some("Lin Tao"),
        "what was typed stays"
    );
    // Someone unknown is named as such.
    let mut fields = form("nobody.here");
    fields.extend([("starts_at", starts.as_str()), ("ends_at", ends.as_str())]);
    let page = post_as(&app, &manager, "/profile/delegations", &fields).await;
    assert_eq!(
        page.field_error("to_user").as_deref(),
        Some("This person does not exist or is deactivated.")
    );
    // What the picker shows is taken as the person it names.
    let mut fields = form("Lin Tao (data.lin)");
    fields.extend([("starts_at", starts.as_str()), ("ends_at", ends.as_str())]);
    let page = post_as(&app, &manager, "/profile/delegations", &fields).await;
    assert_eq!(page.flash().as_deref(), Some("The delegation was saved."));
    let to: countersign::db::ids::UserId =
        app.query(|c| delegations::table.select(delegations::to_user_id).first(c));
    assert_eq!(to, app.user_id("data.lin"));
}
