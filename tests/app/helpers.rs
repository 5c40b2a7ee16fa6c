//! Boots the real application on a random port with a fresh database per
//! test — a SQLite file in a temporary folder, or, when
//! `TEST_DATABASE_URL=postgres://…` is set, a new PostgreSQL database that
//! is dropped afterwards — and drives it over HTTP like a browser would.

use std::net::TcpListener;
use std::sync::LazyLock;

use countersign::config::Config;
use countersign::db::ids::{RoleId, UserId};
use countersign::db::{Backend, Db};
use countersign::domain::{Email, Name, Username};
use countersign::startup::Application;
use countersign::store::assignments::{self, Scope};
use countersign::store::users::{self, UserInput};
use countersign::store::{businesses, roles};
use diesel::{Connection, RunQueryDsl, pg::PgConnection};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use scraper::{Html, Selector};

pub const PASSWORD: &str = "correct horse battery";

/// One argon2 hash for every test account: hashing is slow on purpose.
static PASSWORD_HASH: LazyLock<String> =
    LazyLock::new(|| countersign::password::hash(PASSWORD).unwrap());

/// A fresh, empty database for one test and a temporary folder beside it:
/// a SQLite file in that folder, or, with `TEST_DATABASE_URL=postgres://…`,
/// a new PostgreSQL database, dropped when the test ends.
pub struct Scratch {
    pub url: String,
    pub dir: tempfile::TempDir,
    pg: Option<PgDatabase>,
}

impl Scratch {
    pub fn new() -> Scratch {
        let dir = tempfile::tempdir().expect("temporary folder");
        match std::env::var("TEST_DATABASE_URL") {
            Ok(url) if Backend::of_url(&url) == Backend::Postgres => {
                let server = url
                    .trim_end_matches('/')
                    .rsplit_once('/')
                    .map(|(s, _)| s.to_string());
                // A URL with no database name is the server itself.
                let server = match server {
                    Some(s) if s.contains("://") && s.len() > "postgres://".len() => s,
                    _ => url.trim_end_matches('/').to_string(),
                };
                // Without SSL: the server is on this machine, and a test
                // binary whose libpq had started OpenSSL was once seen to
                // abort at exit ("free(): invalid pointer") after every
                // test had passed, as OpenSSL's exit-time cleanup raced
                // pool threads still holding connections.
                let admin_url = format!("{server}/postgres?sslmode=disable");
                let name = format!("countersign_test_{}", countersign::web::ctx::random_token());
                let mut conn = PgConnection::establish(&admin_url).unwrap_or_else(|e| {
                    panic!("TEST_DATABASE_URL is set but PostgreSQL is unreachable: {e}")
                });
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .expect("create test database");
                Scratch {
                    url: format!("{server}/{name}?sslmode=disable"),
                    dir,
                    pg: Some(PgDatabase { admin_url, name }),
                }
            }
            _ => Scratch {
                url: format!("sqlite://{}", dir.path().join("countersign.db").display()),
                dir,
                pg: None,
            },
        }
    }
}

/// A PostgreSQL database made for one test, dropped when the test ends.
struct PgDatabase {
    admin_url: String,
    name: String,
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if let Ok(mut conn) = PgConnection::establish(&self.admin_url) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut conn);
        }
    }
}

pub struct TestApp {
    pub base: String,
    pub db: Db,
    /// The browser of the person the test mostly acts as.
    pub client: reqwest::Client,
    database_url: String,
    /// The clocks of further instances on the same database, moved with
    /// this one's by `advance`.
    others: std::sync::Mutex<Vec<countersign::db::Clock>>,
    _dir: tempfile::TempDir,
    _pg: Option<PgDatabase>,
}

fn init_logs() {
    if std::env::var("TEST_LOG").is_ok() {
        countersign::telemetry::init();
    }
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(countersign::config::MailConfig {
            poll_ms: 50,
            ..countersign::config::MailConfig::files()
        })
        .await
    }

    /// An app whose mail goes to an SMTP server on `smtp_port` of this machine.
    pub async fn spawn_with_smtp(smtp_port: u16) -> TestApp {
        Self::spawn_with(smtp_mail(smtp_port)).await
    }

    /// Another server instance on this app's database (a restart, or a
    /// second instance), with its own mail settings.
    pub async fn second_instance(&self, mail: countersign::config::MailConfig) -> String {
        self.second_instance_configured(mail, |_| {}).await
    }

    /// [`second_instance`] with settings of its own.
    pub async fn second_instance_configured(
        &self,
        mail: countersign::config::MailConfig,
        adjust: impl FnOnce(&mut Config),
    ) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a random port");
        let port = listener.local_addr().unwrap().port();
        let config = Config {
            database_url: self.database_url.clone(),
            bind: format!("127.0.0.1:{port}"),
            base_url: format!("http://127.0.0.1:{port}"),
            secret_key: b"test-secret-key-that-is-long-enough-for-signing-cookies".to_vec(),
            data_dir: self._dir.path().to_path_buf(),
            pool_size: 4,
            mail,
            session: Default::default(),
            http: Default::default(),
            trust_forwarded_for: false,
            run_jobs: true,
            alertmanager: None,
            metrics_token: None,
            ldap: None,
            oidc: None,
        };
        let mut config = config;
        adjust(&mut config);
        let db = Db::connect(&self.database_url, 4).expect("connect");
        // The instances of one test keep one time.
        db.clock().advance(self.db.clock().offset());
        self.others.lock().unwrap().push(db.clock().clone());
        let app = Application::build_with(config, db, listener).expect("build");
        actix_web::rt::spawn(app.run_until_stopped());
        format!("http://127.0.0.1:{port}")
    }

    /// Moves the time forward for this instance and any further ones.
    pub fn advance(&self, by: chrono::Duration) {
        self.db.clock().advance(by);
        for clock in self.others.lock().unwrap().iter() {
            clock.advance(by);
        }
    }

    pub async fn spawn_with(mail: countersign::config::MailConfig) -> TestApp {
        Self::spawn_configured(mail, |_| {}).await
    }

    /// An app with settings of its own (`adjust` sees the test's config).
    pub async fn spawn_configured(
        mail: countersign::config::MailConfig,
        adjust: impl FnOnce(&mut Config),
    ) -> TestApp {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a random port");
        Self::spawn_listening(listener, mail, adjust).await
    }

    /// [`spawn_configured`] on a port chosen beforehand (a peer that must
    /// know the app's address, such as an OpenID provider, starts first).
    pub async fn spawn_on_port(
        port: u16,
        mail: countersign::config::MailConfig,
        adjust: impl FnOnce(&mut Config),
    ) -> TestApp {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the chosen port");
        Self::spawn_listening(listener, mail, adjust).await
    }

    async fn spawn_listening(
        listener: TcpListener,
        mail: countersign::config::MailConfig,
        adjust: impl FnOnce(&mut Config),
    ) -> TestApp {
        init_logs();
        let Scratch {
            url: database_url,
            dir,
            pg,
        } = Scratch::new();
        let port = listener.local_addr().unwrap().port();
        let mut config = Config {
            database_url: database_url.clone(),
            bind: format!("127.0.0.1:{port}"),
            base_url: format!("http://127.0.0.1:{port}"),
            secret_key: b"test-secret-key-that-is-long-enough-for-signing-cookies".to_vec(),
            data_dir: dir.path().to_path_buf(),
            pool_size: 4,
            mail,
            session: Default::default(),
            http: Default::default(),
            trust_forwarded_for: false,
            run_jobs: true,
            alertmanager: None,
            metrics_token: None,
            ldap: None,
            oidc: None,
        };
        adjust(&mut config);
        let db = Db::connect(&database_url, 4).expect("connect and migrate");
        let app =
            Application::build_with(config, db.clone(), listener).expect("build the application");
        actix_web::rt::spawn(app.run_until_stopped());
        TestApp {
            base: format!("http://127.0.0.1:{port}"),
            db,
            client: Self::browser(),
            database_url,
            others: Default::default(),
            _dir: dir,
            _pg: pg,
        }
    }

    /// A new browser with its own cookie jar (another person at another desk).
    pub fn browser() -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap()
    }

    pub fn database_url(&self) -> String {
        self.database_url.clone()
    }

    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Creates an account directly in the database; returns its id.
    pub fn create_user(&self, username: &str, admin: bool) -> UserId {
        self.create_user_with(username, admin, None)
    }

    pub fn create_user_with(&self, username: &str, admin: bool, manager: Option<UserId>) -> UserId {
        let username = Username::parse(username).unwrap();
        let input = UserInput {
            display_name: Name::parse(&format!("{} Person", username.as_str())).unwrap(),
            email: Email::parse(&format!("{}@example.com", username.as_str())).unwrap(),
            manager_id: manager,
            language: None,
        };
        self.db
            .write_sync(|c| {
                let id = users::create(c, &username, &input, &PASSWORD_HASH, None)?;
                if admin {
                    let role = roles::find_by_code(c, "admin")?;
                    assignments::create(c, id, role.id, Scope::Global, id)?;
                }
                Ok(id)
            })
            .unwrap()
    }

    pub fn role_id(&self, code: &str) -> RoleId {
        let code = code.to_string();
        self.db
            .read_sync(move |c| Ok(roles::find_by_code(c, &code)?.id))
            .unwrap()
    }

    pub fn create_business(&self, name: &str, actor: UserId) -> countersign::db::ids::BusinessId {
        let name = Name::parse(name).unwrap();
        self.db
            .write_sync(|c| businesses::create(c, &name, "", actor))
            .unwrap()
    }

    /// Signs `username` in on the main browser.
    pub async fn sign_in(&self, username: &str) -> Page {
        sign_in_as(self, &self.client, username, PASSWORD).await
    }

    pub async fn get(&self, path: &str) -> Page {
        get(&self.client, &self.url(path)).await
    }

    /// Posts a form from the main browser with its CSRF token.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        post_as(self, &self.client, path, fields).await
    }

    /// Runs a query against the test's database.
    pub fn query<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut countersign::db::DbConn) -> diesel::QueryResult<T>,
    ) -> T {
        self.db.read_sync(|c| Ok(f(c)?)).unwrap()
    }
}

/// A new browser signed in as `username` (with the tests' password).
pub async fn browser_for(app: &TestApp, username: &str) -> reqwest::Client {
    let b = TestApp::browser();
    sign_in_as(app, &b, username, PASSWORD).await;
    b
}

/// Mail settings that send to an SMTP server on `port` of this machine,
/// looking for mail to send every 50 ms.
pub fn smtp_mail(port: u16) -> countersign::config::MailConfig {
    countersign::config::MailConfig {
        smtp: Some(countersign::config::SmtpConfig {
            host: "127.0.0.1".into(),
            port,
            security: countersign::config::SmtpSecurity::None,
            credentials: None,
            connections: 4,
        }),
        poll_ms: 50,
        ..countersign::config::MailConfig::files()
    }
}

/// A listener on a free port of this machine, and its port.
pub fn free_port() -> (std::net::TcpListener, u16) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

pub async fn sign_in_as(
    app: &TestApp,
    browser: &reqwest::Client,
    username: &str,
    password: &str,
) -> Page {
    post_as(
        app,
        browser,
        "/sign-in",
        &[
            ("username", username),
            ("password", password),
            ("next", "/"),
        ],
    )
    .await
}

/// The CSRF token of `browser`'s session, read from any page's meta tag.
pub async fn csrf_token(app: &TestApp, browser: &reqwest::Client) -> String {
    let page = get(browser, &app.url("/sign-in")).await;
    page.attr("meta[name=csrf-token]", "content")
        .expect("every page carries the CSRF token")
}

pub async fn post_as(
    app: &TestApp,
    browser: &reqwest::Client,
    path: &str,
    fields: &[(&str, &str)],
) -> Page {
    let token = csrf_token(app, browser).await;
    let mut body: Vec<(&str, &str)> = vec![("csrf_token", &token)];
    body.extend_from_slice(fields);
    let res = browser
        .post(app.url(path))
        .form(&body)
        .send()
        .await
        .expect("POST");
    Page::from(res).await
}

pub async fn get(browser: &reqwest::Client, url: &str) -> Page {
    let res = browser.get(url).send().await.expect("GET");
    Page::from(res).await
}

/// A response as the browser ended up with it (redirects followed).
pub struct Page {
    pub status: StatusCode,
    /// The path the browser ended on after redirects.
    pub path: String,
    pub headers: HeaderMap,
    pub html: Html,
}

fn sel(selector: &str) -> Selector {
    Selector::parse(selector).unwrap_or_else(|e| panic!("bad selector {selector}: {e}"))
}

impl Page {
    pub async fn from(res: reqwest::Response) -> Page {
        let status = res.status();
        let url = res.url().clone();
        let path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        let headers = res.headers().clone();
        let body = res.text().await.unwrap_or_default();
        let html = Html::parse_document(&body);
        Page {
            status,
            path,
            headers,
            html,
        }
    }

    fn normalise(s: String) -> String {
        s.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// Text of the first element matching `selector`, whitespace folded.
    pub fn text(&self, selector: &str) -> Option<String> {
        self.html
            .select(&sel(selector))
            .next()
            .map(|e| Self::normalise(e.text().collect()))
    }

    pub fn texts(&self, selector: &str) -> Vec<String> {
        self.html
            .select(&sel(selector))
            .map(|e| Self::normalise(e.text().collect()))
            .collect()
    }

    pub fn attr(&self, selector: &str, attr: &str) -> Option<String> {
        self.html
            .select(&sel(selector))
            .next()
            .and_then(|e| e.value().attr(attr))
            .map(str::to_string)
    }

    pub fn attrs(&self, selector: &str, attr: &str) -> Vec<String> {
        self.html
            .select(&sel(selector))
            .filter_map(|e| e.value().attr(attr))
            .map(str::to_string)
            .collect()
    }

    pub fn count(&self, selector: &str) -> usize {
        self.html.select(&sel(selector)).count()
    }

    pub fn h1(&self) -> String {
        self.text("h1").unwrap_or_default()
    }

    /// The message shown beside a form field.
    pub fn field_error(&self, field: &str) -> Option<String> {
        self.text(&format!("#{field}-error"))
    }

    pub fn form_error(&self) -> Option<String> {
        self.text(".form-error")
    }

    /// The value an input shows (what the user typed, when shown again).
    pub fn input_value(&self, form: &str, name: &str) -> Option<String> {
        self.attr(&format!("{form} [name={name}]"), "value")
            .or_else(|| self.text(&format!("{form} textarea[name={name}]")))
    }

    /// The chosen option of a select.
    pub fn selected(&self, form: &str, name: &str) -> Option<String> {
        self.attr(
            &format!("{form} select[name={name}] option[selected]"),
            "value",
        )
    }

    pub fn flash(&self) -> Option<String> {
        self.text(".flash")
    }

    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    }
}

impl TestApp {
    /// The id of the person with this username.
    pub fn user_id(&self, username: &str) -> UserId {
        let username = username.to_string();
        self.query(move |c| {
            use countersign::db::schema::users;
            use diesel::prelude::*;
            users::table
                .filter(users::username.eq(username))
                .select(users::id)
                .first(c)
        })
    }

    /// `from` is away now and for a day; `to` stands in, for processes of
    /// `kind` or, with `None`, for all.
    pub fn delegate(&self, from: &str, to: &str, kind: Option<countersign::flow::ProcessKind>) {
        let (from, to) = (self.user_id(from), self.user_id(to));
        let now = countersign::store::now();
        let input = countersign::store::delegations::DelegationInput {
            from,
            to,
            starts_at: now - chrono::Duration::hours(1),
            ends_at: now + chrono::Duration::days(1),
            kind,
            note: String::new(),
        };
        self.db
            .write_sync(|c| countersign::store::delegations::create(c, &input, from))
            .unwrap();
    }

    /// Deploys `def` as admin and publishes it as a service named `name`.
    pub fn deploy_service(
        &self,
        def: &countersign::flow::ProcessDef,
        name: &str,
    ) -> countersign::db::ids::ServiceId {
        use countersign::store::{processes, services};
        let admin = self.user_id("admin");
        self.db
            .write_sync(|c| {
                let id = processes::create(c, def, admin)?;
                processes::set_enabled(c, id, 1, true, admin)?;
                let (version, _) = processes::deploy(c, id, "v1", admin, false)?.expect("valid");
                let input = services::ServiceInput {
                    name_en: Name::parse(name).unwrap(),
                    name_zh: String::new(),
                    description: String::new(),
                    process: id,
                    version,
                    roles: vec![],
                };
                services::create(c, &input, admin)
            })
            .unwrap()
    }

    /// Loads the demo: the people of both stories and their published processes.
    pub fn load_demo(&self) {
        let hash = countersign::password::hash(countersign::store::demo::PASSWORD).unwrap();
        self.db
            .write_sync(|c| countersign::store::demo::load(c, &hash))
            .unwrap();
    }

    /// A browser signed in as a demo person.
    pub async fn demo_browser(&self, username: &str) -> reqwest::Client {
        let browser = TestApp::browser();
        let page = sign_in_as(self, &browser, username, countersign::store::demo::PASSWORD).await;
        assert_eq!(page.path, "/", "{username} signs in");
        browser
    }
}

/// A ticket's status as stored.
pub fn ticket_status(app: &TestApp, id: i32) -> String {
    use countersign::db::schema::applies;
    use diesel::prelude::*;
    app.query(move |c| {
        applies::table
            .find(countersign::db::ids::ApplyId(id))
            .select(applies::status)
            .first(c)
    })
}

/// The id of the service named `name` (in English).
pub fn service_id(app: &TestApp, name: &str) -> i32 {
    use countersign::db::schema::services;
    use diesel::prelude::*;
    let name = name.to_string();
    app.query(move |c| {
        services::table
            .filter(services::name_en.eq(name))
            .select(services::id)
            .first::<countersign::db::ids::ServiceId>(c)
    })
    .0
}

/// Presses a button of the page a mailed link opens (`intent`), from a
/// browser with no session.
pub async fn press_link(app: &TestApp, link: &str, intent: &str) -> Page {
    let browser = TestApp::browser();
    let token = csrf_token(app, &browser).await;
    let res = browser
        .post(link)
        .form(&[("csrf_token", token.as_str()), ("intent", intent)])
        .send()
        .await
        .unwrap();
    Page::from(res).await
}

/// Posts `fields` to the first action form the viewer has on a ticket.
pub async fn act_first(
    app: &TestApp,
    browser: &reqwest::Client,
    id: i32,
    fields: &[(&str, &str)],
) -> Page {
    let page = get(browser, &app.url(&format!("/tickets/{id}"))).await;
    let action = page
        .attr("section.action form", "action")
        .expect("an action for the viewer");
    post_as(app, browser, &action, fields).await
}

/// The id of the first pending assignment of ticket `id`.
pub fn pending_assignment(app: &TestApp, id: i32) -> i32 {
    use diesel::prelude::*;
    app.query(move |c| {
        countersign::db::schema::approve_users::table
            .filter(
                countersign::db::schema::approve_users::apply_id
                    .eq(countersign::db::ids::ApplyId(id)),
            )
            .filter(countersign::db::schema::approve_users::status.eq("pending"))
            .select(countersign::db::schema::approve_users::id)
            .first::<countersign::db::ids::ApproveUserId>(c)
    })
    .0
}
