//! Builds the running application from a `Config`: the database, the
//! middleware stack and the routes, bound to a port. Tests use port 0.

use std::net::TcpListener;
use std::sync::Arc;

use actix_session::SessionMiddleware;
use actix_session::storage::CookieSessionStore;
use actix_web::cookie::{Key, SameSite};
use actix_web::dev::Server;
use actix_web::middleware::{Compress, ErrorHandlers, from_fn};
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use tracing_actix_web::TracingLogger;

use crate::config::Config;
use crate::db::Db;
use crate::web::{AppState, error::render_error_page, limits, routes, security};

/// Largest form body we accept; anything bigger gets a 413 page.
const MAX_BODY: usize = 256 * 1024;

/// Twice as many HTTP worker threads as cores. Short SQLite reads (who is
/// signed in, the ticket page, the inbox) run in place on these threads,
/// and a thread waiting on the kernel for a page of the database should
/// not leave its core idle: with one thread per core, a fifth of the
/// machine sat idle in the ticket benchmark.
fn http_workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()) * 2
}

pub struct Application {
    port: u16,
    server: Server,
    db: Db,
    mail: Option<Mail>,
    /// Whether this instance runs the job runner.
    run_jobs: bool,
    /// The runner's link to Alertmanager, when one is configured.
    silences: Option<Arc<crate::jobs::silences::SilenceSync>>,
    /// The company directory and how often it is synced, when both are set.
    directory_sync: Option<(crate::ldap::Directory, chrono::Duration)>,
}

/// What the outbox worker needs, until `run_until_stopped` starts it.
struct Mail {
    transport: crate::notify::worker::Transport,
    config: crate::config::MailConfig,
    base_url: String,
    /// The name its claims go under: this host and the address it serves.
    worker: String,
    /// The file whose lock says this server's name is in use.
    lock: std::path::PathBuf,
}

/// How long a stopping server waits for the mail in flight to be sent
/// and recorded: a send's longest wait, and a moment to record it.
const MAIL_STOP_GRACE: std::time::Duration =
    std::time::Duration::from_secs(crate::notify::worker::SEND_TIMEOUT.as_secs() + 5);

/// This machine's name, for the outbox worker's claims.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

impl Application {
    /// Connects to the database (migrating it) and binds the listener.
    pub fn build(config: Config) -> anyhow::Result<Application> {
        let db = Db::connect(&config.database_url, config.pool_size)?;
        let listener = TcpListener::bind(&config.bind)
            .with_context(|| format!("cannot listen on {}", config.bind))?;
        Self::build_with(config, db, listener)
    }

    /// Like `build`, with a database and listener made by the caller.
    pub fn build_with(
        config: Config,
        db: Db,
        listener: TcpListener,
    ) -> anyhow::Result<Application> {
        let port = listener.local_addr()?.port();
        let key = Key::derive_from(&config.secret_key);
        let transport =
            crate::notify::worker::Transport::from_config(&config.mail, &config.data_dir)?;
        let mail = Some(Mail {
            transport,
            config: config.mail.clone(),
            base_url: config.base_url.clone(),
            worker: format!("{}@{}", hostname(), config.bind),
            lock: config.data_dir.join(format!(
                "mail-worker-{}.lock",
                config
                    .bind
                    .replace(|c: char| !c.is_ascii_alphanumeric(), "-")
            )),
        });
        let secure = config.secure_cookies();
        let run_jobs = config.run_jobs;
        let silences = match &config.alertmanager {
            Some(am) => Some(Arc::new(crate::jobs::silences::SilenceSync::new(am)?)),
            None => None,
        };
        let directory_sync = config.ldap.as_ref().and_then(|ldap| {
            let every = ldap.sync_every?;
            Some((crate::ldap::Directory::new(ldap.clone()), every))
        });
        let oidc = match config.oidc.clone() {
            Some(c) => Some(Arc::new(crate::oidc::Provider::new(c)?)),
            None => None,
        };
        let blocking_threads = (config.pool_size as usize).max(2);
        let http = config.http.clone();
        let metrics = db.metrics().clone();
        let state = web::Data::new(AppState {
            directory: config.ldap.clone().map(crate::ldap::Directory::new),
            oidc,
            db: db.clone(),
            config: Arc::new(config),
        });
        let server = HttpServer::new(move || {
            let session = SessionMiddleware::builder(CookieSessionStore::default(), key.clone())
                .cookie_name("countersign".to_string())
                .cookie_http_only(true)
                .cookie_same_site(SameSite::Lax)
                .cookie_secure(secure)
                .build();
            let body_timeout = http.body_timeout;
            let metrics = metrics.clone();
            App::new()
                .app_data(state.clone())
                .app_data(actix_web::web::PayloadConfig::new(MAX_BODY))
                .app_data(actix_web::web::FormConfig::default().limit(MAX_BODY))
                .wrap(from_fn(move |req, next| {
                    limits::request_body(body_timeout, req, next)
                }))
                .wrap(ErrorHandlers::new().default_handler(render_error_page))
                .wrap(session)
                .wrap(security::headers(secure))
                .wrap(Compress::default())
                .wrap(TracingLogger::<crate::web::logging::PathOnly>::new())
                // Outermost: every request counted, timed in full.
                .wrap(from_fn(move |req, next| {
                    crate::web::metrics::measure(metrics.clone(), req, next)
                }))
                .configure(crate::api::routes)
                .configure(routes)
        })
        // Each response goes out as soon as it is written: without this a
        // page sent in more than one write (a compressed body streams in
        // chunks) waited for the client's delayed acknowledgement, 40 ms.
        .on_connect(|conn, _| {
            if let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
                let _ = tcp.set_nodelay(true);
            }
        })
        // Blocking threads beyond the pool size would only queue for a
        // connection, and each one costs memory (stack, malloc arena).
        .workers(http_workers())
        .worker_max_blocking_threads(blocking_threads)
        .client_request_timeout(http.header_timeout)
        .listen(listener)?
        .run();
        Ok(Application {
            port,
            server,
            db,
            mail,
            run_jobs,
            silences,
            directory_sync,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Serves until stopped (SIGTERM or SIGINT: requests under way are
    /// finished first), with the outbox worker running beside the server.
    /// Once the server has stopped, the worker finishes the mail in
    /// flight, records it and hands back the rest of its claim.
    pub async fn run_until_stopped(mut self) -> std::io::Result<()> {
        // The webhook sender, under a name of its own in this process.
        let (hooks_stop, hooks_stopping) = crate::notify::worker::Stop::new();
        let hooks = self.mail.as_ref().map(|mail| {
            actix_web::rt::spawn(crate::notify::hooks::run(
                self.db.clone(),
                mail.base_url.clone(),
                format!("{}#{}", mail.worker, crate::token::random_hex::<4>()),
                hooks_stopping,
            ))
        });
        // The job runner (timers), under a name of its own in this process.
        let (jobs_stop, jobs_stopping) = crate::notify::worker::Stop::new();
        let jobs = self.run_jobs.then(|| {
            actix_web::rt::spawn(crate::jobs::run(
                self.db.clone(),
                format!("jobs@{}#{}", hostname(), crate::token::random_hex::<4>()),
                self.silences.clone(),
                self.directory_sync.clone(),
                jobs_stopping,
            ))
        });
        let worker = self.mail.take().map(|mail| {
            let (stop, stopping) = crate::notify::worker::Stop::new();
            let task = actix_web::rt::spawn(crate::notify::worker::run(
                self.db.clone(),
                mail.transport,
                mail.config,
                mail.base_url,
                mail.worker,
                mail.lock,
                stopping,
            ));
            (stop, task)
        });
        let served = self.server.await;
        jobs_stop.stop();
        if let Some(jobs) = jobs
            && actix_web::rt::time::timeout(MAIL_STOP_GRACE, jobs)
                .await
                .is_err()
        {
            tracing::warn!("the job runner did not stop in time");
        }
        hooks_stop.stop();
        if let Some(hooks) = hooks
            && actix_web::rt::time::timeout(MAIL_STOP_GRACE, hooks)
                .await
                .is_err()
        {
            tracing::warn!("the webhook sender did not stop in time");
        }
        if let Some((stop, task)) = worker {
            stop.stop();
            if actix_web::rt::time::timeout(MAIL_STOP_GRACE, task)
                .await
                .is_err()
            {
                tracing::warn!("the mail worker did not stop in time");
            }
        }
        served
    }
}
