//! Round trips: the statements a complete change ticket and each page load
//! send to the database, held to the budget `docs/performance.md` gives,
//! so a later feature cannot add round trips to every ticket unnoticed.

use countersign::db::{Backend, Sent};

use crate::helpers::*;

/// What a complete change ticket and each page may take, by backend: the
/// budget `docs/performance.md` gives. On PostgreSQL every statement is a
/// round trip; on SQLite the count includes each unit's `BEGIN` and
/// `COMMIT` and the writer's savepoints, calls within the process.
struct Budget {
    /// Filing, the three ticket pages its deciders open and their three
    /// actions (the mail it causes is counted by the benchmark, not here).
    ticket: u64,
    home: u64,
    inbox: u64,
    ticket_page: u64,
}

fn budget(backend: Backend) -> Budget {
    match backend {
        // Filing a change reads the freezes afresh (a hard freeze made a
        // moment ago on another instance refuses it) and writes the
        // change's calendar row: two statements more since the calendar.
        // Each action moves the end of its ticket's audit chain: on
        // PostgreSQL in the statement that writes its events, on SQLite
        // (no statement may write two tables) in one of its own — four
        // more for the four actions of a ticket.
        Backend::Postgres => Budget {
            ticket: 41,
            home: 2,
            inbox: 1,
            ticket_page: 2,
        },
        Backend::Sqlite => Budget {
            ticket: 112,
            home: 7,
            inbox: 4,
            ticket_page: 6,
        },
    }
}

/// An app whose mail worker stops at once (its sender is no address) and
/// so never reads the outbox: what is counted is the requests' own work.
async fn quiet_app() -> TestApp {
    TestApp::spawn_with(countersign::config::MailConfig {
        from: "no mail is sent in this test".into(),
        ..countersign::config::MailConfig::files()
    })
    .await
}

/// A browser that does not follow redirects, as the benchmark's: a page
/// load is one request, and an action's answer is its redirect.
struct Person {
    client: reqwest::Client,
    token: String,
}

impl Person {
    async fn sign_in(app: &TestApp, username: &str) -> Person {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let token = |html: &str| {
            scraper::Html::parse_document(html)
                .select(&scraper::Selector::parse("meta[name=csrf-token]").unwrap())
                .next()
                .and_then(|m| m.value().attr("content").map(str::to_string))
                .expect("every page carries the CSRF token")
        };
        let form = client.get(app.url("/sign-in")).send().await.unwrap();
        let first = token(&form.text().await.unwrap());
        let res = client
            .post(app.url("/sign-in"))
            .form(&[
                ("csrf_token", first.as_str()),
                ("username", username),
                ("password", countersign::store::demo::PASSWORD),
                ("next", "/"),
            ])
            .send()
            .await
            .unwrap();
        assert!(res.status().is_redirection(), "{username} signs in");
        let home = client.get(app.url("/")).send().await.unwrap();
        let token = token(&home.text().await.unwrap());
        Person { client, token }
    }

    async fn page(&self, app: &TestApp, path: &str) -> String {
        let res = self.client.get(app.url(path)).send().await.unwrap();
        assert!(res.status().is_success(), "{path}: {}", res.status());
        res.text().await.unwrap()
    }

    /// Posts a form and returns where it sends the browser.
    async fn post(&self, app: &TestApp, path: &str, fields: &[(&str, &str)]) -> String {
        let mut body = vec![("csrf_token", self.token.as_str())];
        body.extend_from_slice(fields);
        let res = self
            .client
            .post(app.url(path))
            .form(&body)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_redirection(), "{path}: {}", res.status());
        res.headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .unwrap_or_default()
            .to_string()
    }
}

/// The first action form's path on a ticket page.
fn action_of(page: &str) -> String {
    scraper::Html::parse_document(page)
        .select(&scraper::Selector::parse("section.action form").unwrap())
        .next()
        .and_then(|f| f.value().attr("action").map(str::to_string))
        .expect("an action on the ticket")
}

/// What one step sent, and the statements themselves for the message.
struct Step {
    name: &'static str,
    sent: Sent,
    statements: Vec<String>,
}

async fn measured<F: std::future::Future<Output = T>, T>(
    app: &TestApp,
    steps: &mut Vec<Step>,
    name: &'static str,
    f: F,
) -> T {
    app.db.keep_statements(true);
    let before = app.db.sent();
    let value = f.await;
    let sent = app.db.sent() - before;
    let statements = app.db.keep_statements(false);
    steps.push(Step {
        name,
        sent,
        statements,
    });
    value
}

/// Files and finishes one change ticket, counting each step.
async fn complete_ticket(app: &TestApp, people: &[Person; 3], steps: &mut Vec<Step>) {
    let [ops, lead, qc] = people;
    let service = service_id(app, "Environment change").to_string();
    let payments = app.query(|c| {
        use countersign::db::schema::businesses;
        use diesel::prelude::*;
        businesses::table
            .filter(businesses::name.eq("Payments"))
            .select(businesses::id)
            .first::<countersign::db::ids::BusinessId>(c)
    });
    let business = payments.0.to_string();
    let ticket = measured(
        app,
        steps,
        "POST submit",
        ops.post(
            app,
            &format!("/services/{service}"),
            &[
                ("intent", "submit"),
                ("business_id", business.as_str()),
                ("reason", "Servers are out of warranty"),
                ("scope", "infrastructure"),
                ("window.start", "2026-11-28T01:00"),
                ("window.end", "2026-11-28T03:00"),
                ("rollback_plan", "Switch back"),
            ],
        ),
    )
    .await;
    assert!(ticket.starts_with("/tickets/"), "filed: {ticket}");
    for (person, name, fields) in [
        (lead, "POST approve", vec![("intent", "approve")]),
        (
            ops,
            "POST change summary",
            vec![
                ("intent", "complete"),
                ("change_summary", "Done"),
                ("completed_at", "2026-11-28T02:00"),
            ],
        ),
        (
            qc,
            "POST evaluation",
            vec![
                ("intent", "complete"),
                ("metrics_impact", "None"),
                ("complaints", "0"),
                ("outcome", "successful"),
            ],
        ),
    ] {
        let page = measured(app, steps, "GET ticket", person.page(app, &ticket)).await;
        let action = action_of(&page);
        measured(app, steps, name, person.post(app, &action, &fields)).await;
    }
}

fn report(steps: &[Step]) -> String {
    steps
        .iter()
        .map(|s| {
            format!(
                "{}: {} statements, {} transactions\n    {}",
                s.name,
                s.sent.statements,
                s.sent.transactions,
                s.statements.join("\n    ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[actix_web::test]
async fn a_complete_change_ticket_and_each_page_stay_within_their_statement_budget() {
    let app = quiet_app().await;
    app.load_demo();
    let people = [
        Person::sign_in(&app, "ops.wang").await,
        Person::sign_in(&app, "ops.lead").await,
        Person::sign_in(&app, "qc.chen").await,
    ];
    // The first ticket fills the caches every later one finds full.
    complete_ticket(&app, &people, &mut Vec::new()).await;

    let mut steps = Vec::new();
    complete_ticket(&app, &people, &mut steps).await;
    let [ops, lead, _] = &people;
    measured(&app, &mut steps, "GET home", ops.page(&app, "/")).await;
    measured(&app, &mut steps, "GET inbox", lead.page(&app, "/inbox")).await;
    let budget = budget(app.db.backend());
    let total: u64 = steps
        .iter()
        .filter(|s| s.name != "GET home" && s.name != "GET inbox")
        .map(|s| s.sent.statements)
        .sum();
    let report = report(&steps);
    if std::env::var("SHOW_STATEMENTS").is_ok() {
        println!("{report}\ncomplete ticket: {total} statements");
    }
    assert!(
        total <= budget.ticket,
        "a complete ticket took {total} statements, more than {}:\n{report}",
        budget.ticket
    );
    for step in steps.iter().filter(|s| s.name.starts_with("GET")) {
        let allowed = match step.name {
            "GET home" => budget.home,
            "GET inbox" => budget.inbox,
            _ => budget.ticket_page,
        };
        assert!(
            step.sent.statements <= allowed,
            "{} took {} statements, more than {allowed}:\n{report}",
            step.name,
            step.sent.statements
        );
    }
    // Every action is one transaction (on SQLite its savepoint in the
    // writer's); a page reads without one on PostgreSQL.
    for step in steps.iter().filter(|s| s.name.starts_with("POST")) {
        assert!(
            step.sent.transactions >= 1,
            "{} wrote in a transaction",
            step.name
        );
    }
}

/// A counter's value in `/metrics`' text.
fn counter(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} in\n{text}"))
}

#[actix_web::test]
async fn metrics_count_the_statements_and_transactions_the_server_sends_and_reading_them_sends_none()
 {
    let app = quiet_app().await;
    app.load_demo();
    let person = Person::sign_in(&app, "ops.wang").await;
    let read = || async {
        let res = reqwest::get(app.url("/metrics")).await.unwrap();
        assert!(res.status().is_success());
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain; version=0.0.4")
        );
        res.text().await.unwrap()
    };
    let first = read().await;
    assert!(first.contains("# TYPE countersign_db_statements_total counter"));
    assert!(first.contains("# TYPE countersign_db_transactions_total counter"));
    let statements = counter(&first, "countersign_db_statements_total");
    let transactions = counter(&first, "countersign_db_transactions_total");
    assert!(statements > 0 && transactions > 0, "{first}");
    // Reading them changes nothing; a page load adds its own.
    let again = read().await;
    assert_eq!(
        counter(&again, "countersign_db_statements_total"),
        statements
    );
    let before = app.db.sent();
    person.page(&app, "/").await;
    let sent = app.db.sent() - before;
    assert!(sent.statements > 0);
    let after = read().await;
    assert_eq!(
        counter(&after, "countersign_db_statements_total"),
        statements + sent.statements
    );
}
