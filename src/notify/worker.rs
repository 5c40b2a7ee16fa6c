//! The outbox worker: claims due messages a few at a time, sends several
//! at once over pooled SMTP connections (or into `.eml` files), and records
//! each one as sent the moment the mail server accepts it, so a crash sends
//! again at most the messages that were in flight at that instant. Failed
//! attempts are retried with capped backoff for `OUTBOX_GIVE_UP_HOURS`.
//! A stop (SIGTERM) lets the messages in flight finish and hands back the
//! rest; nothing is lost and nothing is sent twice.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use std::sync::Mutex;
use std::time::Instant;

use lettre::Message;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use tokio::sync::{Semaphore, watch};

use crate::config::{MailConfig, SmtpSecurity};
use crate::db::Db;
use crate::db::models::OutboxMessage;
use crate::store::outbox::{self, BASE};

pub enum Transport {
    Smtp(Smtp),
    /// `.eml` files in this folder, each logged with its links.
    Files(PathBuf),
}

impl Transport {
    pub fn from_config(mail: &MailConfig, data_dir: &std::path::Path) -> anyhow::Result<Transport> {
        let Some(smtp) = &mail.smtp else {
            let dir = data_dir.join("mail");
            std::fs::create_dir_all(&dir)?;
            return Ok(Transport::Files(dir));
        };
        Ok(Transport::Smtp(Smtp {
            host: smtp.host.clone(),
            port: smtp.port,
            security: smtp.security,
            credentials: smtp
                .credentials
                .as_ref()
                .map(|(user, password)| Credentials::new(user.clone(), password.clone())),
            hello: ClientId::default(),
            idle: Mutex::new(Vec::new()),
        }))
    }

    /// How many messages go out at once.
    fn in_flight(&self, mail: &MailConfig) -> usize {
        match self {
            Transport::Smtp(_) => mail.smtp.as_ref().map_or(1, |s| s.connections as usize),
            Transport::Files(_) => 1,
        }
    }
}

/// SMTP with connections kept open between messages: each message in
/// flight takes an idle connection (or opens one), and gives it back once
/// the server has accepted the message, so a connection is opened, greeted
/// and TLS-negotiated once rather than per mail. Dropping a connection only
/// closes its socket (nothing is spawned), so a stopping server never
/// needs the runtime it is leaving.
pub struct Smtp {
    host: String,
    port: u16,
    security: SmtpSecurity,
    credentials: Option<Credentials>,
    hello: ClientId,
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
}

/// A connection idle longer than this is checked (NOOP) before reuse.
const CHECK_IDLE_AFTER: Duration = Duration::from_secs(5);
/// A connection idle longer than this is closed rather than reused.
const CLOSE_IDLE_AFTER: Duration = Duration::from_secs(30);
/// The longest one message may take, connecting included.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

impl Smtp {
    async fn connect(&self) -> Result<AsyncSmtpConnection, Failure> {
        let tls = || {
            TlsParameters::new(self.host.clone()).map_err(|e| Failure {
                text: e.to_string(),
                permanent: false,
            })
        };
        let timeout = Some(Duration::from_secs(10));
        let address = (self.host.as_str(), self.port);
        let implicit = match self.security {
            SmtpSecurity::Tls => Some(tls()?),
            SmtpSecurity::None | SmtpSecurity::StartTls => None,
        };
        let mut conn =
            AsyncSmtpConnection::connect_tokio1(address, timeout, &self.hello, implicit, None)
                .await
                .map_err(Failure::from)?;
        if self.security == SmtpSecurity::StartTls {
            if !conn.can_starttls() {
                return Err(Failure {
                    text: "the mail server does not offer STARTTLS (SMTP_SECURITY=starttls)".into(),
                    permanent: false,
                });
            }
            conn.starttls(tls()?, &self.hello)
                .await
                .map_err(Failure::from)?;
        }
        if let Some(credentials) = &self.credentials {
            conn.auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                .await
                .map_err(Failure::from)?;
        }
        Ok(conn)
    }

    /// An idle connection that still answers, or a new one.
    async fn connection(&self) -> Result<AsyncSmtpConnection, Failure> {
        loop {
            let taken = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let Some((mut conn, since)) = taken else {
                return self.connect().await;
            };
            let idle = since.elapsed();
            if idle > CLOSE_IDLE_AFTER {
                let _ = actix_web::rt::time::timeout(Duration::from_secs(2), conn.quit()).await;
                continue;
            }
            if idle <= CHECK_IDLE_AFTER || conn.test_connected().await {
                return Ok(conn);
            }
        }
    }

    async fn send(&self, message: &Message) -> Result<(), Failure> {
        let sent = actix_web::rt::time::timeout(SEND_TIMEOUT, async {
            let mut conn = self.connection().await?;
            conn.send(message.envelope(), &message.formatted())
                .await
                .map_err(Failure::from)?;
            if !conn.has_broken() {
                self.idle
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((conn, Instant::now()));
            }
            Ok(())
        })
        .await;
        sent.unwrap_or_else(|_| {
            Err(Failure {
                text: format!("the mail server took longer than {SEND_TIMEOUT:?}"),
                permanent: false,
            })
        })
    }

    /// Says goodbye on every idle connection (at a stop).
    async fn close(&self) {
        let idle: Vec<_> =
            std::mem::take(&mut *self.idle.lock().unwrap_or_else(|p| p.into_inner()));
        for (mut conn, _) in idle {
            let _ = actix_web::rt::time::timeout(Duration::from_secs(2), conn.quit()).await;
        }
    }
}

impl From<lettre::transport::smtp::Error> for Failure {
    fn from(e: lettre::transport::smtp::Error) -> Self {
        Failure {
            permanent: e.is_permanent(),
            text: e.to_string(),
        }
    }
}

/// Every link in a message, for the log line of the file transport.
fn links(text: &str) -> Vec<&str> {
    text.split_whitespace()
        .filter(|w| w.starts_with("http://") || w.starts_with("https://"))
        .collect()
}

/// A message's `Message-ID`: the same every time the outbox row is sent, so
/// that a copy sent again after a crash is recognisably the same message.
pub fn message_id(m: &OutboxMessage, from: &Mailbox) -> String {
    format!(
        "<outbox.{}.{}@{}>",
        m.id.0,
        m.created_at.and_utc().timestamp_micros(),
        from.email.domain()
    )
}

/// Why an attempt failed, and whether trying again can help.
struct Failure {
    text: String,
    permanent: bool,
}

async fn deliver(
    transport: &Transport,
    from: &Mailbox,
    base_url: &str,
    m: &OutboxMessage,
) -> Result<(), Failure> {
    let failed = |e: &dyn std::fmt::Display, permanent: bool| Failure {
        text: e.to_string(),
        permanent,
    };
    let text = m.text_body.replace(BASE, base_url);
    let html = m.html_body.replace(BASE, base_url);
    let to: Mailbox = m.to_email.parse().map_err(|e| failed(&e, true))?;
    let message = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(m.subject.clone())
        .message_id(Some(message_id(m, from)))
        .multipart(MultiPart::alternative_plain_html(text.clone(), html))
        .map_err(|e| failed(&e, true))?;
    match transport {
        Transport::Smtp(smtp) => smtp.send(&message).await?,
        Transport::Files(dir) => {
            let path = dir.join(format!("{:06}.eml", m.id.0));
            let (path_clone, bytes) = (path.clone(), message.formatted());
            actix_web::rt::task::spawn_blocking(move || std::fs::write(path_clone, bytes))
                .await
                .map_err(|e| failed(&e, false))?
                .map_err(|e| failed(&e, false))?;
            tracing::info!(to = %m.to_email, subject = %m.subject, links = ?links(&text), file = %path.display(), "mail written");
        }
    }
    Ok(())
}

/// Messages claimed at a time, per message in flight: enough to keep every
/// connection busy between claims.
const CLAIM_PER_CONNECTION: usize = 8;
/// How long a claim keeps other workers off a message: longer than a
/// claimed batch can take to send (each message may wait out the 10 s SMTP
/// timeout). After a crash a server starting again under the same name
/// hands its old claims back at once; another instance waits this long.
const LEASE_SECS: i64 = 120;

/// Tells the worker to stop: it finishes the messages in flight, records
/// them, hands back the rest of its claim and returns.
#[derive(Clone)]
pub struct Stop(watch::Sender<bool>);

impl Stop {
    pub fn new() -> (Stop, watch::Receiver<bool>) {
        let (tx, rx) = watch::channel(false);
        (Stop(tx), rx)
    }

    pub fn stop(&self) {
        let _ = self.0.send(true);
    }
}

/// What the worker needs to send one message.
struct Sender {
    db: Db,
    transport: Transport,
    from: Mailbox,
    base_url: String,
    worker: String,
    give_up_after: chrono::Duration,
}

impl Sender {
    /// Sends one claimed message and records the outcome at once.
    async fn send(&self, message: OutboxMessage) {
        let result = deliver(&self.transport, &self.from, &self.base_url, &message).await;
        let (id, tried, wid) = (message.id, message.attempts, self.worker.clone());
        let recorded = match result {
            Ok(()) => {
                let (text, html) = (
                    outbox::redact(&message.text_body),
                    outbox::redact(&message.html_body),
                );
                self.db
                    .write(move |c| outbox::mark_sent(c, id, &wid, &text, &html))
                    .await
            }
            Err(failure) => {
                // Retried for the configured period from when it was
                // written (or last put back in line by an administrator).
                let next = self.db.now() + outbox::backoff(tried + 1);
                let give_up = failure.permanent || next > message.created_at + self.give_up_after;
                tracing::warn!(error = %failure.text, to = %message.to_email, attempt = tried + 1, give_up, "sending mail failed");
                self.db
                    .write(move |c| outbox::mark_failed(c, id, &wid, tried, &failure.text, give_up))
                    .await
            }
        };
        if let Err(e) = recorded {
            tracing::error!(error = %e, message = id.0, "recording a message's outcome failed");
        }
    }
}

/// Runs until `stop`: sends what is due, several messages at once, and
/// looks again at once while there is more; when nothing is due, waits
/// `OUTBOX_POLL_MS`. `worker` names this server (host and address), so a
/// server starting again after a crash takes back its own claims at once.
pub async fn run(
    db: Db,
    transport: Transport,
    mail: MailConfig,
    base_url: String,
    worker: String,
    mut stop: watch::Receiver<bool>,
) {
    let from: Mailbox = match mail.from.parse() {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(error = %e, from = %mail.from, "MAIL_FROM is not an address; no mail will be sent");
            return;
        }
    };
    let in_flight = transport.in_flight(&mail);
    let sender = Arc::new(Sender {
        db: db.clone(),
        transport,
        from,
        base_url,
        worker: worker.clone(),
        give_up_after: mail.give_up_after,
    });
    let release = |db: Db, worker: String| async move {
        match db.write(move |c| outbox::release(c, &worker)).await {
            Ok(n) if n > 0 => tracing::info!(messages = n, "handed back claimed mail"),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "handing back claimed mail failed"),
        }
    };
    // A claim left by this server before it stopped or crashed.
    release(db.clone(), worker.clone()).await;
    let slots = Arc::new(Semaphore::new(in_flight));
    let claim = (in_flight * CLAIM_PER_CONNECTION) as i64;
    while !*stop.borrow() {
        let id = worker.clone();
        let batch = match db
            .write(move |c| outbox::claim(c, &id, claim, LEASE_SECS))
            .await
        {
            Ok(batch) => batch,
            Err(e) => {
                tracing::error!(error = %e, "claiming mail failed");
                Vec::new()
            }
        };
        if batch.is_empty() {
            let wait = actix_web::rt::time::sleep(Duration::from_millis(mail.poll_ms));
            let stopped = stop.changed();
            futures_util::future::select(Box::pin(wait), Box::pin(stopped)).await;
            continue;
        }
        let mut sending = Vec::with_capacity(batch.len());
        for message in batch {
            let Ok(slot) = slots.clone().acquire_owned().await else {
                break;
            };
            // Stopping: what has not started stays for the hand-back.
            if *stop.borrow() {
                break;
            }
            let sender = Arc::clone(&sender);
            sending.push(actix_web::rt::spawn(async move {
                sender.send(message).await;
                drop(slot);
            }));
        }
        for task in sending {
            let _ = task.await;
        }
    }
    if let Transport::Smtp(smtp) = &sender.transport {
        smtp.close().await;
    }
    release(db, worker).await;
}
