//! Who a role handler asks: the holders of the role anywhere, or in the
//! ticket's business (and everywhere), active ones only — as planning
//! reads them ahead on PostgreSQL and one question at a time on SQLite.

use countersign::db::ids::{ApplyId, UserId};
use countersign::db::schema::{approve_users, approves, users};
use countersign::flow::*;
use countersign::store::assignments::{self, Scope};
use diesel::prelude::*;

use crate::helpers::*;

fn role_node(key: &str, role: &str, in_business: bool) -> NodeDef {
    let mut node = NodeDef::new(key, LocalText::new(key, ""), NodeKind::Approval);
    node.mode = Mode::All;
    node.handlers = vec![HandlerRule::Role {
        role: role.into(),
        in_business,
    }];
    node
}

#[actix_web::test]
async fn a_role_handler_asks_its_active_holders_anywhere_or_in_the_tickets_business_as_designed() {
    let app = TestApp::spawn().await;
    let admin = app.create_user("admin", true);
    app.create_user("applicant", false);
    let (a, b) = (
        app.create_business("Payments", admin),
        app.create_business("Search", admin),
    );
    let holders: [(&str, &str, Option<_>); 7] = [
        ("qc.a", "qc", Some(a)),
        ("qc.b", "qc", Some(b)),
        ("qc.all", "qc", None),
        ("qc.gone", "qc", Some(a)),
        ("lead.a", "ops_lead", Some(a)),
        ("lead.b", "ops_lead", Some(b)),
        ("lead.all", "ops_lead", None),
    ];
    for (username, role, business) in holders {
        let user = app.create_user(username, false);
        let role = app.role_id(role);
        let scope = business.map_or(Scope::Global, Scope::Business);
        app.db
            .write_sync(move |c| assignments::create(c, user, role, scope, admin))
            .unwrap();
    }
    let gone = app.user_id("qc.gone");
    app.db
        .write_sync(move |c| countersign::store::users::set_active(c, gone, false, admin))
        .unwrap();

    let mut def = ProcessDef::new(LocalText::new("Database change", ""), ProcessKind::Change);
    def.business_required = true;
    def.nodes.push(role_node("qc", "qc", false));
    def.nodes.push(role_node("lead", "ops_lead", true));
    let service = app.deploy_service(&def, "Database change");

    let applicant = browser_for(&app, "applicant").await;
    let filed = post_as(
        &app,
        &applicant,
        &format!("/services/{service}"),
        &[("intent", "submit"), ("business_id", &a.0.to_string())],
    )
    .await;
    let id = ApplyId(
        filed
            .path
            .trim_start_matches("/tickets/")
            .parse()
            .unwrap_or_else(|_| panic!("filed: {}", filed.path)),
    );
    let asked = |node: &'static str| {
        let mut people: Vec<String> = app.query(move |c| {
            approve_users::table
                .inner_join(approves::table)
                .inner_join(users::table.on(users::id.eq(approve_users::user_id)))
                .filter(approve_users::apply_id.eq(id))
                .filter(approves::node_key.eq(node))
                .select(users::username)
                .load(c)
        });
        people.sort();
        people
    };
    assert_eq!(asked("qc"), ["qc.a", "qc.all", "qc.b"], "anywhere");
    assert_eq!(
        asked("lead"),
        ["lead.a", "lead.all"],
        "in Payments, and everywhere"
    );
    let ids: Vec<UserId> = ["qc.a", "qc.all", "qc.b"]
        .iter()
        .map(|u| app.user_id(u))
        .collect();
    let pending: Vec<UserId> = app.query(move |c| {
        approve_users::table
            .filter(approve_users::apply_id.eq(id))
            .filter(approve_users::status.eq(countersign::db::states::AssignmentStatus::Pending))
            .select(approve_users::user_id)
            .order(approve_users::user_id)
            .load(c)
    });
    let mut expected = ids;
    expected.sort();
    assert_eq!(pending, expected, "the first step asks its three at once");
}
