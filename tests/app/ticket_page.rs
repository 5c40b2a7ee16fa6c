//! The ticket page reads like the products people know: a header with the
//! service, business, the step it is at and whom it waits for, and the
//! change window; the fields grouped by the step that asked for them; a
//! reminder only when it waits on someone else; each thing said once.

use crate::email::file_change;
use crate::helpers::*;

#[actix_web::test]
async fn a_change_shows_where_it_is_and_whom_it_waits_for_in_its_header() {
    let app = TestApp::spawn().await;
    app.load_demo();
    let id = file_change(&app).await;
    let ops = app.demo_browser("ops.wang").await;

    let page = get(&ops, &app.url(&format!("/tickets/{id}"))).await;

    assert_eq!(
        page.text("#head-service dd").as_deref(),
        Some("Environment change")
    );
    assert_eq!(page.text("#head-business dd").as_deref(), Some("Payments"));
    assert_eq!(
        page.text("#head-step dd").as_deref(),
        Some("Ops lead review")
    );
    assert_eq!(page.text("#head-waiting dd").as_deref(), Some("Zhang Lei"));
    assert_eq!(
        page.text("#head-window dd").as_deref(),
        Some("2026-11-28 01:00 → 2026-11-28 03:00")
    );
    // Fields under the step that asked for them, not tagged line by line.
    assert_eq!(page.texts("#fields h3.field-group"), ["Change request"]);
    assert!(
        page.texts("#fields dt")
            .contains(&"Rollback plan".to_string())
    );
    // It waits on the ops lead: the applicant may remind them.
    assert_eq!(page.count("#urge"), 1);
    assert_eq!(page.count("#withdraw-details"), 1);

    // Approved: now it waits on the applicant's own summary, so no reminder.
    let lead = app.demo_browser("ops.lead").await;
    let action = get(&lead, &app.url(&format!("/tickets/{id}")))
        .await
        .attr("section.action form", "action")
        .unwrap();
    post_as(&app, &lead, &action, &[("intent", "approve")]).await;
    let page = get(&ops, &app.url(&format!("/tickets/{id}"))).await;
    assert_eq!(
        page.text("#head-step dd").as_deref(),
        Some("Change and summary")
    );
    assert_eq!(page.text("#head-waiting dd").as_deref(), Some("Wang Wei"));
    assert_eq!(page.count("#urge"), 0);
    // The timeline says the approval once, not again as "completed".
    let lines = page.texts("#timeline li");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("Zhang Lei approved Ops lead review"))
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("Ops lead review was completed")),
        "{lines:?}"
    );
}
