//! Both stories in a real browser: Debian's Chromium driven through
//! chromedriver against the real server, with mail caught by the test's
//! SMTP listener. Without chromium and chromedriver the tests say they were
//! skipped (and fail when `REQUIRE_BROWSER` is set, as CI does).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{ClientBuilder, Locator};

use crate::helpers::*;
use crate::smtp;

pub struct Browser {
    client: fantoccini::Client,
    driver: Child,
    base: String,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn installed(path: &str) -> bool {
    std::path::Path::new(path).exists()
}

impl Browser {
    /// A headless Chromium, or `None` (said plainly) when it is not installed.
    pub async fn start(base: &str) -> Option<Browser> {
        if !installed("/usr/bin/chromedriver") || !installed("/usr/bin/chromium") {
            assert!(
                std::env::var("REQUIRE_BROWSER").is_err(),
                "REQUIRE_BROWSER is set but chromium or chromedriver is missing"
            );
            // Written straight to stderr so the test harness does not swallow it.
            use std::io::Write;
            let _ = std::io::stderr()
                .write_all(b"\nbrowser tests skipped: install Debian's chromium and chromium-driver to run them\n");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The test build links two rustls crypto providers; pick one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let profile = tempfile::tempdir().unwrap();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": "/usr/bin/chromium",
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1280,1000",
                         format!("--user-data-dir={}", profile.path().display())]
            }),
        );
        let client = ClientBuilder::rustls()
            .expect("rustls")
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a browser session");
        Some(Browser {
            client,
            driver,
            base: base.to_string(),
            _profile: profile,
        })
    }

    pub async fn go(&self, path: &str) {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        };
        self.client
            .goto(&url)
            .await
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let el = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"));
        el.clear().await.unwrap();
        el.send_keys(text).await.unwrap();
    }

    /// Sets a value directly (date and time inputs differ per locale when typed).
    pub async fn set(&self, css: &str, value: &str) {
        self.client
            .execute(
                "document.querySelector(arguments[0]).value = arguments[1];",
                vec![css.into(), value.into()],
            )
            .await
            .unwrap_or_else(|e| panic!("set {css}: {e}"));
    }

    pub async fn click(&self, css: &str) {
        let el = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"));
        el.click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Clicks something that loads a new page (a form button, a link) and
    /// waits until the new page has loaded, so nothing reads the old one.
    pub async fn submit(&self, css: &str) {
        self.client
            .execute("window.__countersignOld = true;", vec![])
            .await
            .unwrap();
        self.click(css).await;
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let loaded = self
                .client
                .execute("return window.__countersignOld === undefined && document.readyState === 'complete';", vec![])
                .await
                .map(|v| v.as_bool() == Some(true))
                .unwrap_or(false);
            if loaded {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no new page after clicking {css}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub async fn select(&self, css: &str, value: &str) {
        let el = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"));
        el.select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("select {value} in {css}: {e}"));
    }

    /// Picks the option of a select whose text (trimmed) is `label`.
    pub async fn choose(&self, css: &str, label: &str) {
        let found = self
            .client
            .execute(
                "var s = document.querySelector(arguments[0]);
                 for (var i = 0; i < s.options.length; i++) {
                   if (s.options[i].text.trim() === arguments[1]) { s.selectedIndex = i; return true; }
                 }
                 return false;",
                vec![css.into(), label.into()],
            )
            .await
            .unwrap_or_else(|e| panic!("choose {label} in {css}: {e}"));
        assert_eq!(found.as_bool(), Some(true), "no option {label} in {css}");
    }

    pub async fn text(&self, css: &str) -> String {
        let el = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"));
        el.text().await.unwrap().trim().to_string()
    }

    pub async fn texts(&self, css: &str) -> Vec<String> {
        let mut out = Vec::new();
        for el in self.client.find_all(Locator::Css(css)).await.unwrap() {
            out.push(el.text().await.unwrap().trim().to_string());
        }
        out
    }

    /// Waits until something matching `css` is shown (a script's work).
    pub async fn wait_for(&self, css: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let shown = self
                .client
                .execute(
                    "var e = document.querySelector(arguments[0]); return !!e && e.offsetParent !== null;",
                    vec![css.into()],
                )
                .await
                .map(|v| v.as_bool() == Some(true))
                .unwrap_or(false);
            if shown {
                return;
            }
            assert!(Instant::now() < deadline, "{css} never appeared");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Whether something matching `css` is on the page and shown.
    pub async fn shown(&self, css: &str) -> bool {
        self.client
            .execute(
                "var e = document.querySelector(arguments[0]); return !!e && e.offsetParent !== null;",
                vec![css.into()],
            )
            .await
            .map(|v| v.as_bool() == Some(true))
            .unwrap_or(false)
    }

    /// The current value of an input.
    pub async fn value(&self, css: &str) -> String {
        self.client
            .execute(
                "return document.querySelector(arguments[0]).value;",
                vec![css.into()],
            )
            .await
            .unwrap_or_else(|e| panic!("value of {css}: {e}"))
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Sets the size of the browser window, so the page is laid out as on
    /// that screen.
    pub async fn resize(&self, width: u32, height: u32) {
        self.client
            .set_window_size(width, height)
            .await
            .unwrap_or_else(|e| panic!("resize to {width}×{height}: {e}"));
    }

    /// What sticks out of the right edge when the page scrolls sideways
    /// (the outermost such elements), or nothing when it fits.
    pub async fn overflow(&self) -> Vec<String> {
        let found = self
            .client
            .execute(
                r##"var w = document.documentElement.clientWidth;
                if (document.documentElement.scrollWidth <= w) { return []; }
                var out = [];
                document.querySelectorAll("body *").forEach(function (e) {
                  var r = e.getBoundingClientRect();
                  if (r.width > 0 && r.right > w + 1) {
                    var p = e.parentElement;
                    if (p && p.getBoundingClientRect().right > w + 1) { return; }
                    for (var a = p; a && a !== document.body; a = a.parentElement) {
                      if (getComputedStyle(a).overflowX !== "visible") { return; }
                    }
                    out.push(e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") +
                      (typeof e.className === "string" && e.className ? "." + e.className.trim().split(/\s+/).join(".") : "") +
                      " to " + Math.round(r.right) + "px of " + w);
                  }
                });
                return out.length ? out : ["the page, " + document.documentElement.scrollWidth + "px of " + w];"##,
                vec![],
            )
            .await
            .unwrap();
        found
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub async fn path(&self) -> String {
        self.client.current_url().await.unwrap().path().to_string()
    }

    /// Saves a screenshot: into docs/screenshots with `UPDATE_SCREENSHOTS`
    /// set (they are committed and shown in the README), else into target/.
    pub async fn shot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        let dir = if std::env::var("UPDATE_SCREENSHOTS").is_ok() {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots")
        } else {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots")
        };
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    pub async fn sign_in(&self, username: &str, password: &str) {
        self.client.delete_all_cookies().await.unwrap();
        self.go("/sign-in").await;
        self.fill("#sign-in-form [name=username]", username).await;
        self.fill("#sign-in-form [name=password]", password).await;
        self.submit("#sign-in-form button").await;
        assert_eq!(self.path().await, "/", "{username} signed in");
    }

    pub async fn sign_out(&self) {
        self.client.delete_all_cookies().await.unwrap();
    }

    pub async fn chinese(&self) {
        self.submit(".lang-switch button[value='zh-CN']").await;
    }

    pub async fn quit(mut self) {
        let client = self.client.clone();
        let _ = client.close().await;
        let _ = self.driver.kill();
    }
}

/// The change-management tutorial from the first click: the admin assigns
/// roles, designs the environment change in the wizard, deploys it, makes
/// the service and its catalog folder; ops files a change; the ops lead
/// approves from the link in the mail; ops writes the summary; QC evaluates.
#[actix_web::test]
async fn the_change_management_tutorial_in_a_browser() {
    use diesel::prelude::*;
    let (listener, port) = free_port();
    let mail = smtp::serve(listener);
    let app = TestApp::spawn_with_smtp(port).await;
    let Some(b) = Browser::start(&app.base).await else {
        return;
    };
    let admin = app.create_user("admin", true);
    for name in ["ops.wang", "ops.lead", "qc.chen"] {
        app.create_user(name, false);
    }
    let payments = app.create_business("Payments", admin).to_string();

    // The admin assigns the roles of the business.
    b.sign_in("admin", PASSWORD).await;
    for (user, role) in [
        ("ops.wang", "ops"),
        ("ops.lead", "ops_lead"),
        ("qc.chen", "qc"),
    ] {
        b.go("/admin/assignments").await;
        b.fill("#assignment-form [name=user]", user).await;
        // The people picker looks the name up as it is typed: let its
        // answer arrive and close it, as a person would, before sending
        // (a lookup still in flight races the form's own request).
        b.wait_for("#assignment-form .suggestions li").await;
        b.click("h1").await;
        b.select(
            "#assignment-form [name=role_id]",
            &app.role_id(role).to_string(),
        )
        .await;
        b.select("#assignment-form [name=business_id]", &payments)
            .await;
        b.submit("#assignment-form button").await;
        assert!(b.text(".flash").await.contains("assigned"));
    }

    // Step 1: the process information.
    b.go("/admin/processes/new").await;
    b.fill("#info-form [name=name_en]", "Environment change")
        .await;
    b.fill("#info-form [name=name_zh]", "环境变更").await;
    b.select("#info-form [name=kind]", "change").await;
    b.click("#f-business_required").await;
    b.submit("#info-form button").await;
    let nodes = b.path().await;
    let id: i32 = nodes.split('/').nth(3).unwrap().parse().unwrap();

    // Step 2: the submit form, then the nodes after it.
    let field = |node: &'static str, key: &'static str, en: &'static str, kind: &'static str| {
        let b = &b;
        async move {
            b.go(&format!("/admin/processes/{id}/nodes/{node}")).await;
            b.fill("#add-field-form [name=key]", key).await;
            b.fill("#add-field-form [name=label_en]", en).await;
            b.select("#add-field-form [name=kind]", kind).await;
            b.submit("#add-field-form button").await;
            b.click("#f-required").await;
        }
    };
    field("submit", "reason", "Reason", "textarea").await;
    b.submit("#field-form button").await;
    field("submit", "scope", "Scope", "select").await;
    b.fill(
        "#field-form [name=choices]",
        "app = Application / 应用\ninfra = Infrastructure / 基础设施",
    )
    .await;
    b.submit("#field-form button").await;
    field("submit", "window", "Change window", "datetime_range").await;
    b.submit("#field-form button").await;
    field("submit", "rollback_plan", "Rollback plan", "textarea").await;
    b.submit("#field-form button").await;
    let node = |key: &'static str, en: &'static str, kind: &'static str| {
        let b = &b;
        async move {
            b.go(&format!("/admin/processes/{id}/nodes")).await;
            b.fill("#add-node-form [name=key]", key).await;
            b.fill("#add-node-form [name=name_en]", en).await;
            b.select("#add-node-form [name=kind]", kind).await;
            b.submit("#add-node-form button").await;
        }
    };
    let handler = |rule: &'static str, role: Option<&'static str>| {
        let b = &b;
        async move {
            b.select("#handler-form [name=rule]", rule).await;
            // The form shows what the rule takes, and only that; the
            // button a page without the script needs is not shown.
            assert_eq!(b.shown("#handler-form [name=role]").await, role.is_some());
            assert!(!b.shown("#handler-form [name=usernames]").await);
            assert!(!b.shown("#choose-rule").await);
            if let Some(role) = role {
                b.select("#handler-form [name=role]", role).await;
            }
            b.submit("#add-handler").await;
        }
    };
    node("lead_review", "Ops lead review", "approval").await;
    handler("role_in_business", Some("ops_lead")).await;
    node("summary", "Change and summary", "task").await;
    handler("applicant", None).await;
    field("summary", "change_summary", "Change summary", "textarea").await;
    b.submit("#field-form button").await;
    node("evaluation", "Change evaluation", "review").await;
    handler("role_in_business", Some("qc")).await;
    field(
        "evaluation",
        "metrics_impact",
        "Business metrics impact",
        "textarea",
    )
    .await;
    b.submit("#field-form button").await;
    b.go(&format!("/admin/processes/{id}/nodes")).await;
    assert_eq!(
        b.texts("table.nodes tbody tr td:nth-child(1)").await.len(),
        4
    );
    b.shot("designer-step-2").await;

    // Step 3: enable and deploy in one action.
    b.go(&format!("/admin/processes/{id}/notifications")).await;
    b.fill("#deploy-form [name=message]", "First version").await;
    b.submit("#enable-and-deploy").await;
    assert_eq!(b.text("#version-number").await, "v1");

    // The version leads to its service, named after the process; then
    // the catalog folder, and the service page puts the service in it.
    b.submit("#create-service").await;
    assert_eq!(
        b.value("#service-form [name=name_en]").await,
        "Environment change"
    );
    b.fill("#service-form [name=name_zh]", "环境变更").await;
    b.click("#service-form input[name=roles][value=ops]").await;
    b.submit("#service-form button").await;
    let service = b.path().await;
    b.go("/admin/catalog").await;
    b.fill("#folder-form [name=name_en]", "Environment change")
        .await;
    b.fill("#folder-form [name=name_zh]", "环境变更").await;
    b.submit("#folder-form button").await;
    b.go(&service).await;
    assert!(b.shown("#not-in-catalog").await);
    b.choose("#service-folder-form select", "Environment change")
        .await;
    b.submit("#service-folder-form button").await;
    assert_eq!(b.texts("#holding-folders li").await, ["Environment change"]);
    b.go("/admin/catalog").await;
    assert_eq!(
        b.texts(".folder[data-name='Environment change'] .services-in-folder li")
            .await
            .len(),
        1
    );

    // Ops files the change from the catalog, after checking who will be asked.
    b.sign_in("ops.wang", PASSWORD).await;
    b.go("/catalog").await;
    b.shot("catalog").await;
    b.submit("#catalog a").await;
    b.fill(
        "#ticket-form [name=reason]",
        "The servers are out of warranty",
    )
    .await;
    b.select("#ticket-form [name=scope]", "infra").await;
    b.set(
        "#ticket-form input[name='window.start']",
        "2026-11-28T01:00",
    )
    .await;
    b.set("#ticket-form input[name='window.end']", "2026-11-28T03:00")
        .await;
    b.fill(
        "#ticket-form [name=rollback_plan]",
        "Switch back to the old servers",
    )
    .await;
    b.submit("#preview").await;
    assert_eq!(
        b.texts("#plan li .people").await,
        vec!["ops.lead Person", "ops.wang Person", "qc.chen Person"]
    );
    b.shot("new-change-preview").await;
    b.submit("#submit").await;
    let ticket = b.path().await;
    assert!(ticket.starts_with("/tickets/"));

    // The ops lead approves from the link in the mail.
    let mails = mail
        .wait_for(1, |m| m.contains("To: ops.lead@example.com"))
        .await;
    let approve = smtp::link(&mails[0], "action=approve").expect("an approve link in the mail");
    b.sign_out().await;
    b.go(&approve).await;
    assert_eq!(b.text("#link-approver").await, "ops.lead Person");
    b.shot("email-confirmation").await;
    b.submit("#link-approve").await;
    assert!(b.text("#link-message").await.starts_with("Approved"));

    // Ops writes the summary; QC evaluates.
    b.sign_in("ops.wang", PASSWORD).await;
    b.go(&ticket).await;
    b.fill(
        "section.action [name=change_summary]",
        "Both servers replaced without downtime",
    )
    .await;
    b.submit("section.action button[value=complete]").await;
    b.sign_in("qc.chen", PASSWORD).await;
    b.go("/inbox").await;
    b.shot("inbox").await;
    b.go(&ticket).await;
    b.fill(
        "section.action [name=metrics_impact]",
        "Payment success rate unchanged",
    )
    .await;
    b.select("section.action [name=outcome]", "successful")
        .await;
    b.submit("section.action button[value=complete]").await;

    assert_eq!(b.text("#ticket-status").await, "Finished");
    let timeline = b.texts("#timeline li").await;
    assert!(
        timeline
            .iter()
            .any(|l| l.contains("approved Ops lead review · from the email link")),
        "{timeline:?}"
    );
    assert!(timeline.last().unwrap().contains("The ticket is finished"));
    b.shot("ticket").await;
    let status: String = app.query(|c| {
        countersign::db::schema::applies::table
            .select(countersign::db::schema::applies::status)
            .first(c)
    });
    assert_eq!(status, "finished");
    b.quit().await;
}

/// Seed 004's permission request, in English or Chinese: the owner's
/// manager is on leave and delegated to a colleague, who approves for them;
/// the authoriser approves in a batch from the inbox; the grant shows.
async fn permission_request(chinese: bool) {
    let app = TestApp::spawn().await;
    let Some(b) = Browser::start(&app.base).await else {
        return;
    };
    app.load_demo();
    let demo = countersign::store::demo::PASSWORD;
    let sign_in = |user: &'static str| {
        let b = &b;
        async move {
            b.sign_in(user, demo).await;
            if chinese {
                b.chinese().await;
            }
        }
    };

    // The owner's manager sets up the out-of-office delegation.
    sign_in("owner.manager").await;
    b.go("/profile").await;
    // The stand-in is picked by typing part of the name.
    b.fill("#delegation-form [name=to_user]", "Lin").await;
    b.wait_for("#delegation-form .suggestions li").await;
    assert_eq!(
        b.texts("#delegation-form .suggestions li").await,
        ["Lin Tao (data.lin)"]
    );
    b.click("#delegation-form .suggestions li").await;
    assert_eq!(b.value("#delegation-form [name=to_user]").await, "data.lin");
    b.submit("#delegation-form button").await;
    assert_eq!(b.texts("#out-of-office tbody tr").await.len(), 1);

    // The RD engineer requests a managed table.
    sign_in("rd.zhao").await;
    b.go("/catalog").await;
    b.submit("#catalog a[href]").await;
    let orders: i32 = app
        .query(|c| {
            use diesel::prelude::*;
            countersign::db::schema::resources::table
                .filter(countersign::db::schema::resources::name.eq("dw.orders"))
                .select(countersign::db::schema::resources::id)
                .first::<countersign::db::ids::ResourceId>(c)
        })
        .0;
    b.click(&format!(
        "#ticket-form input[name=resources][value='{orders}']"
    ))
    .await;
    b.fill("#ticket-form [name=reason]", "Order analysis").await;
    b.submit("#preview").await;
    assert!(
        b.texts("#plan li .people").await.contains(
            &(if chinese {
                "Lin Tao 代 He Jun"
            } else {
                "Lin Tao for He Jun"
            })
            .to_string()
        )
    );
    b.submit("#submit").await;
    let ticket = b.path().await;

    sign_in("rd.manager").await;
    b.go(&ticket).await;
    b.submit("section.action button[value=approve]").await;

    // The colleague approves "for" the owner's manager.
    sign_in("data.lin").await;
    b.go("/inbox").await;
    let badge = b.text("table.inbox .badge.for").await;
    assert_eq!(badge, if chinese { "代 He Jun" } else { "for He Jun" });
    b.go(&ticket).await;
    b.submit("section.action button[value=approve]").await;

    // An authoriser approves in a batch from the inbox.
    sign_in("grant.wu").await;
    b.go("/inbox").await;
    // "Select all" (the page's script shows it) ticks every item.
    b.click("#select-all").await;
    let ticked = b
        .client
        .execute(
            "return [...document.querySelectorAll('table.inbox input[name=assignment]')].every(c => c.checked);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(ticked.as_bool(), Some(true), "select all ticks them");
    b.submit("#batch-approve").await;
    assert!(b.text(".flash").await.contains('1'));

    sign_in("rd.zhao").await;
    b.go("/access").await;
    assert_eq!(
        b.texts("table.grants tbody tr td:first-child").await,
        vec!["dw.orders table"]
    );
    b.go(&ticket).await;
    assert_eq!(
        b.text("#ticket-status").await,
        if chinese { "已完成" } else { "Finished" }
    );
    let timeline = b.texts("#timeline li").await.join("\n");
    assert!(
        timeline.contains(if chinese {
            "Lin Tao 代 He Jun"
        } else {
            "Lin Tao for He Jun"
        }),
        "{timeline}"
    );
    b.quit().await;
}

#[actix_web::test]
async fn the_permission_request_in_a_browser() {
    permission_request(false).await;
}

#[actix_web::test]
async fn the_permission_request_in_a_browser_in_chinese() {
    permission_request(true).await;
}

/// The demo database change in a browser, in Chinese for the DBA: the
/// preview says the reviews run at once, the diagram shows both running,
/// and the DBA runs the high-risk change once both approved.
#[actix_web::test]
async fn the_database_change_runs_its_two_reviews_side_by_side_in_a_browser() {
    let app = TestApp::spawn().await;
    let Some(b) = Browser::start(&app.base).await else {
        return;
    };
    app.load_demo();
    let demo = countersign::store::demo::PASSWORD;
    let service = service_id(&app, "Database change");
    b.sign_in("ops.wang", demo).await;
    b.go(&format!("/services/{service}")).await;
    b.fill("#ticket-form [name=reason]", "Index the orders table")
        .await;
    b.fill("#ticket-form [name=database]", "payments").await;
    b.fill(
        "#ticket-form [name=statements]",
        "CREATE INDEX orders_by_day ON orders (day);",
    )
    .await;
    b.select("#ticket-form [name=risk]", "high").await;
    b.submit("#preview").await;
    let groups = b.texts("#plan li.gateway").await;
    assert_eq!(groups.len(), 2, "{groups:?}");
    assert!(groups[0].contains("run at once"), "{groups:?}");
    assert!(groups[1].contains("High risk"), "{groups:?}");
    b.shot("database-change-preview").await;
    b.submit("#submit").await;
    let ticket = b.path().await;
    assert!(ticket.starts_with("/tickets/"), "{ticket}");
    // Both reviews run: the diagram marks both as the current step.
    let running = b
        .texts(".diagram svg g.step[aria-current=step] .node-name")
        .await;
    assert_eq!(running, ["Security review", "DBA review"]);
    b.shot("database-change-ticket").await;

    b.sign_in("sec.huang", demo).await;
    b.go(&ticket).await;
    b.submit("section.action button[value=approve]").await;

    b.sign_in("dba.xu", demo).await;
    b.chinese().await;
    b.go(&ticket).await;
    b.submit("section.action button[value=approve]").await;
    b.fill("section.action [name=dba_result]", "在线建索引，耗时 40 秒")
        .await;
    b.submit("section.action button[value=complete]").await;
    assert_eq!(b.text("#ticket-status").await, "已完成");
    assert_eq!(ticket_status(&app, ticket_id(&ticket)), "finished");
    b.quit().await;
}

fn ticket_id(path: &str) -> i32 {
    path.trim_start_matches("/tickets/").parse().unwrap()
}

/// Every page people use, on a 390 px phone and a 1366 px laptop, in both
/// languages: nothing makes the page scroll sideways, and a page that is not
/// there keeps the navigation.
#[actix_web::test]
async fn pages_fit_a_phone_and_a_laptop_without_scrolling_sideways() {
    use diesel::prelude::*;
    let (listener, port) = free_port();
    let mail = smtp::serve(listener);
    let app = TestApp::spawn_with_smtp(port).await;
    let Some(b) = Browser::start(&app.base).await else {
        return;
    };
    app.load_demo();
    let ticket = format!("/tickets/{}", crate::leavers::file_rd_request(&app).await);
    let mails = mail
        .wait_for(1, |m| m.contains("To: rd.manager@example.com"))
        .await;
    let approve = smtp::link(&mails[0], "action=approve").expect("an approve link in the mail");
    let process: i32 = app.query(|c| {
        countersign::db::schema::processes::table
            .select(countersign::db::schema::processes::id)
            .order(countersign::db::schema::processes::id)
            .first(c)
    });
    let admin = app.demo_browser("admin").await;
    let steps = get(
        &admin,
        &app.url(&format!("/admin/processes/{process}/nodes")),
    )
    .await;
    let mut node_pages: Vec<String> = steps
        .attrs("a[href]", "href")
        .into_iter()
        .filter(|h| h.contains("/nodes/") && !h.contains("/fields/"))
        .collect();
    node_pages.dedup();
    assert!(node_pages.len() >= 2, "{node_pages:?}");
    let demo = countersign::store::demo::PASSWORD;
    let people: [(&str, Vec<String>); 3] = [
        (
            "rd.manager",
            [
                "/",
                "/inbox",
                ticket.as_str(),
                "/profile",
                "/catalog",
                "/tickets",
                "/access",
            ]
            .map(str::to_string)
            .to_vec(),
        ),
        (
            "rd.zhao",
            vec![ticket.clone(), "/catalog".into(), "/services/1".into()],
        ),
        (
            "admin",
            [
                "/admin/users",
                "/admin/users/new",
                "/admin/businesses",
                "/admin/roles",
                "/admin/assignments",
                "/admin/delegations",
                "/admin/processes",
                &format!("/admin/processes/{process}"),
                &format!("/admin/processes/{process}/nodes"),
                &format!("/admin/processes/{process}/info"),
                &format!("/admin/processes/{process}/notifications"),
                &format!("/admin/processes/{process}/versions"),
                "/admin/services",
                "/admin/catalog",
                "/admin/resources",
                "/admin/grants",
                "/admin/tickets",
                "/admin/outbox",
                "/admin/audit",
                "/insight",
                "/insight?period=month&from=2026-01-01&until=2026-12-31",
            ]
            .map(str::to_string)
            .into_iter()
            .chain(node_pages)
            .collect(),
        ),
    ];
    let mut wide = Vec::new();
    for chinese in [false, true] {
        for (user, pages) in &people {
            b.resize(1366, 900).await;
            b.sign_in(user, demo).await;
            if chinese {
                b.chinese().await;
            }
            for (width, height) in [(1366, 900), (390, 844)] {
                b.resize(width, height).await;
                for page in pages {
                    b.go(page).await;
                    let out = b.overflow().await;
                    if !out.is_empty() {
                        wide.push(format!(
                            "{user} {page} at {width}px (zh {chinese}): {out:?}"
                        ));
                    }
                }
            }
        }
        // The approval confirmation page a mailed link opens.
        for (width, height) in [(1366, 900), (390, 844)] {
            b.resize(width, height).await;
            b.sign_out().await;
            b.go(&approve).await;
            let out = b.overflow().await;
            if !out.is_empty() {
                wide.push(format!("approval link at {width}px: {out:?}"));
            }
            if width == 390 && !chinese {
                b.shot("phone-approval-link").await;
            }
        }
    }
    assert!(
        wide.is_empty(),
        "pages wider than the screen:\n{}",
        wide.join("\n")
    );

    // A page that is not there keeps the navigation, as does one refused.
    b.resize(390, 844).await;
    b.sign_in("rd.zhao", demo).await;
    b.go("/tickets/999999").await;
    assert!(b.texts(".topbar nav a").await.len() >= 5);
    b.go("/admin/users").await;
    assert_eq!(b.text(".status-code").await, "403");
    assert!(
        b.texts(".topbar nav a")
            .await
            .iter()
            .all(|a| a != "Administration")
    );
    b.shot("phone-forbidden").await;
    b.sign_in("rd.manager", demo).await;
    b.go("/inbox").await;
    b.shot("phone-inbox").await;
    b.go(&ticket).await;
    b.shot("phone-ticket").await;
    b.quit().await;
}

#[actix_web::test]
async fn the_change_calendar_in_a_browser_shows_the_demo_changes_by_status_and_shades_freezes() {
    use countersign::flow::LocalText;
    use countersign::flow::freeze::{FreezeTime, Repeat, Strength};
    use countersign::store::freezes::{self, FreezeInput};
    use diesel::prelude::*;
    let app = TestApp::spawn().await;
    let Some(b) = Browser::start(&app.base).await else {
        return;
    };
    app.load_demo();
    let service = service_id(&app, "Environment change");
    let payments: i32 = app.query(|c| {
        countersign::db::schema::businesses::table
            .filter(countersign::db::schema::businesses::name.eq("Payments"))
            .select(countersign::db::schema::businesses::id)
            .first(c)
    });
    let ops = app.demo_browser("ops.wang").await;
    let mut filed = Vec::new();
    for (day, hours, hosts, reason) in [
        (
            "2027-03-03",
            ("22:00", "23:30"),
            "db01 db02",
            "Database minor upgrade",
        ),
        (
            "2027-03-09",
            ("01:00", "03:00"),
            "web01",
            "Replace web servers",
        ),
        ("2027-03-09", ("20:00", "21:00"), "cache01", "Cache resize"),
        ("2027-03-17", ("02:00", "04:00"), "db01", "Storage firmware"),
        (
            "2027-03-24",
            ("19:00", "20:00"),
            "lb01",
            "Load balancer rules",
        ),
    ] {
        let page = post_as(
            &app,
            &ops,
            &format!("/services/{service}"),
            &[
                ("intent", "submit"),
                ("business_id", &payments.to_string()),
                ("reason", reason),
                ("scope", "infrastructure"),
                ("affected_hosts", hosts),
                ("window.start", &format!("{day}T{}", hours.0)),
                ("window.end", &format!("{day}T{}", hours.1)),
                ("rollback_plan", "Switch back"),
            ],
        )
        .await;
        filed.push(page.path.trim_start_matches("/tickets/").to_string());
    }
    // The lead approves the first two; the last is withdrawn.
    let lead = app.demo_browser("ops.lead").await;
    for id in &filed[..2] {
        act_first(&app, &lead, id.parse().unwrap(), &[("intent", "approve")]).await;
    }
    post_as(
        &app,
        &ops,
        &format!("/tickets/{}", filed[4]),
        &[("intent", "withdraw"), ("comment", "Postponed")],
    )
    .await;
    let admin = app.user_id("admin");
    let at = |s: &str| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
    for (name, zh, starts, ends, strength, role) in [
        (
            "Quarter-end close",
            "季末封网",
            "2027-03-26 00:00",
            "2027-04-01 00:00",
            Strength::Hard,
            None,
        ),
        (
            "Weekend",
            "周末",
            "2027-03-12 18:00",
            "2027-03-15 08:00",
            Strength::Soft,
            Some("vp"),
        ),
    ] {
        let input = FreezeInput {
            name: LocalText::new(name, zh),
            reason: LocalText::new("Books are closed", "财务结账"),
            time: FreezeTime {
                starts: at(starts),
                ends: at(ends),
                repeat: if strength == Strength::Soft {
                    Repeat::Weekly
                } else {
                    Repeat::Once
                },
                zone: chrono_tz::Asia::Shanghai,
            },
            strength,
            role: role.map(str::to_string),
            scope: vec![],
        };
        app.db
            .write_sync(move |c| freezes::save(c, None, &input, admin))
            .unwrap();
    }

    b.resize(1280, 1000).await;
    b.sign_in("ops.lead", countersign::store::demo::PASSWORD)
        .await;
    b.go("/calendar?view=month&date=2027-03-15").await;
    assert_eq!(b.text("#calendar-heading").await, "March 2027");
    let on_ninth = b.texts("td[data-date='2027-03-09'] li.change").await;
    assert_eq!(on_ninth.len(), 2, "{on_ninth:?}");
    assert!(
        b.shown("td[data-date='2027-03-09'] li.status-finished")
            .await
            || b.shown("td[data-date='2027-03-09'] li.status-running")
                .await
    );
    assert!(b.shown("td.frozen-hard[data-date='2027-03-29']").await);
    assert!(b.shown("td.frozen-soft[data-date='2027-03-13']").await);
    assert!(
        b.shown("td[data-date='2027-03-24'] li.status-withdrawn")
            .await
    );
    b.shot("change-calendar").await;
    // A change opens from the calendar.
    b.click("td[data-date='2027-03-17'] li.change a").await;
    assert_eq!(b.path().await, format!("/tickets/{}", filed[3]));
    assert!(
        b.text("#change-window")
            .await
            .starts_with("2027-03-17 02:00")
    );
    b.quit().await;
}
