//! The outbox worker: claims due messages a few at a time, sends several
//! at once over kept SMTP connections (or into `.eml` files), and records
//! each as sent in the next write after the mail server accepts it (one
//! write records all that arrived meanwhile), so a crash sends again at
//! most the messages that were in flight at that instant: being handed to
//! the mail server, or accepted and not yet recorded (`UNRECORDED_AT_MOST`).
//! Failed attempts are retried with capped backoff for
//! `OUTBOX_GIVE_UP_HOURS`. A stop (SIGTERM) lets the messages in flight
//! finish and be recorded, and hands back the rest: nothing is lost and
//! nothing is sent twice.

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use std::sync::Mutex;
use std::time::Instant;

use lettre::Message;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use tokio::sync::{Semaphore, mpsc, watch};

use crate::config::{MailConfig, SmtpSecurity};
use crate::db::Db;
use crate::db::ids::OutboxId;
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
pub const SEND_TIMEOUT: Duration = Duration::from_secs(20);

impl Smtp {
    /// Opens a connection: TCP with Nagle's algorithm off (lettre writes a
    /// message's final "." on its own, which would otherwise wait for the
    /// server's delayed acknowledgement: 40 ms a message), TLS at once or
    /// after STARTTLS as configured, and the credentials.
    async fn connect(&self) -> Result<AsyncSmtpConnection, Failure> {
        let failed = |e: &dyn std::fmt::Display| Failure {
            text: e.to_string(),
            permanent: false,
        };
        let tls = || TlsParameters::new(self.host.clone()).map_err(|e| failed(&e));
        let tcp = actix_web::rt::time::timeout(
            Duration::from_secs(10),
            tokio::net::TcpStream::connect((self.host.as_str(), self.port)),
        )
        .await
        .map_err(|_| failed(&"connecting to the mail server timed out"))?
        .map_err(|e| failed(&e))?;
        tcp.set_nodelay(true).map_err(|e| failed(&e))?;
        let stream: Box<dyn AsyncTokioStream> = match self.security {
            SmtpSecurity::Tls => {
                let name = rustls::pki_types::ServerName::try_from(self.host.clone())
                    .map_err(|e| failed(&e))?;
                let tls = tls_connector()
                    .map_err(|e| failed(&e))?
                    .connect(name, tcp)
                    .await
                    .map_err(|e| failed(&e))?;
                Box::new(Encrypted(tls))
            }
            SmtpSecurity::None | SmtpSecurity::StartTls => Box::new(tcp),
        };
        let mut conn = AsyncSmtpConnection::connect_with_transport(stream, &self.hello)
            .await
            .map_err(Failure::from)?;
        if self.security == SmtpSecurity::StartTls {
            if !conn.can_starttls() {
                return Err(failed(
                    &"the mail server does not offer STARTTLS (SMTP_SECURITY=starttls)",
                ));
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

/// TLS for a mail server that expects it at once (SMTP_SECURITY=tls, port
/// 465), checked against the web's root certificates as lettre does.
fn tls_connector() -> Result<tokio_rustls::TlsConnector, rustls::Error> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// A TLS connection over a socket of ours (Nagle's algorithm off), for
/// lettre to talk SMTP over.
#[derive(Debug)]
struct Encrypted(tokio_rustls::client::TlsStream<tokio::net::TcpStream>);

impl tokio::io::AsyncRead for Encrypted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for Encrypted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for Encrypted {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.0.get_ref().0.peer_addr()
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

/// Messages claimed at a time, per message in flight. The next claim is
/// made while the last one is still being sent (at most two claims wait),
/// so the connections never sit idle while a claim waits its turn at the
/// database, which under load takes a while.
const CLAIM_PER_CONNECTION: usize = 16;
/// How long a claim keeps other workers off a message: longer than two
/// claims can take to send. After a crash a server starting again under
/// the same name hands its old claims back at once; another instance
/// waits this long.
const LEASE_SECS: i64 = 300;

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

/// What became of one attempt at a claimed message (`id`, under the claim
/// that lasts `until`).
struct Outcome {
    id: OutboxId,
    until: chrono::NaiveDateTime,
    result: Attempt,
}

enum Attempt {
    /// The mail server accepted it: recorded with its words (bodies
    /// redacted), and the lifetime of the link it carried, if any.
    Sent {
        subject: String,
        text: String,
        html: String,
        link: Option<String>,
    },
    /// It failed: back in line, or given up.
    Failed {
        tried: i32,
        error: String,
        give_up: bool,
    },
}

/// How many outcomes may wait to be recorded before sending waits for
/// them: the most a crash can leave sent but not recorded (and so send
/// again), beside the messages being handed to the mail server.
pub const UNRECORDED_AT_MOST: usize = 64;

/// What the worker needs to send one message.
struct Sender {
    db: Db,
    transport: Transport,
    from: Mailbox,
    base_url: String,
    give_up_after: chrono::Duration,
    outcomes: mpsc::Sender<Outcome>,
}

/// A claimed message ready to send: worded, or why it could not be.
type Ready = (OutboxMessage, Result<(), Failure>);

/// Words the ticket notices of a claim, all in one read (never in the
/// write that caused them, nor one pool connection per message); other
/// mail was written worded.
async fn composed(db: &Db, batch: Vec<OutboxMessage>) -> Vec<Ready> {
    if batch.iter().all(|m| m.composed) {
        return batch.into_iter().map(|m| (m, Ok(()))).collect();
    }
    let ids: Vec<OutboxId> = batch.iter().map(|m| m.id).collect();
    let worded = db
        .read(move |c| {
            let mut composer = super::notices::Composer::default();
            let unworded: Vec<OutboxMessage> =
                batch.iter().filter(|m| !m.composed).cloned().collect();
            composer.read(c, &unworded)?;
            Ok(batch
                .into_iter()
                .map(|mut m| {
                    if m.composed {
                        return (m, Ok(()));
                    }
                    match composer.compose(c, &m) {
                        Ok(words) => {
                            m.subject = words.subject;
                            m.text_body = words.text;
                            m.html_body = words.html;
                            (m, Ok(()))
                        }
                        Err(e) => (m, Failure::composing(e)),
                    }
                })
                .collect::<Vec<Ready>>())
        })
        .await;
    match worded {
        Ok(ready) => ready,
        // The database did not answer: the claim lapses and is taken again.
        Err(e) => {
            tracing::error!(error = %e, messages = ids.len(), "composing notices failed");
            Vec::new()
        }
    }
}

impl Failure {
    fn composing(e: crate::store::StoreError) -> Result<(), Failure> {
        Err(Failure {
            permanent: matches!(e, crate::store::StoreError::NotFound),
            text: format!("composing the notice: {e}"),
        })
    }
}

impl Sender {
    /// Sends one claimed message and hands its outcome to the recorder. A
    /// message whose claim would lapse before a send could end is left
    /// alone: by then another worker may have it, and it is claimed again.
    async fn send(&self, (message, worded): Ready) {
        let Some(until) = message.claimed_until else {
            return;
        };
        if self.db.now() + chrono::Duration::from_std(SEND_TIMEOUT).unwrap_or_default() >= until {
            return;
        }
        let (id, tried) = (message.id, message.attempts);
        let (since, to) = (
            message.retry_since.unwrap_or(message.created_at),
            message.to_email.clone(),
        );
        let sent = match worded {
            Ok(()) => deliver(&self.transport, &self.from, &self.base_url, &message)
                .await
                .map(|()| message),
            Err(failure) => Err(failure),
        };
        let result = match sent {
            Ok(message) => Attempt::Sent {
                subject: message.subject,
                text: outbox::redact(&message.text_body),
                html: outbox::redact(&message.html_body),
                link: message.link_token,
            },
            Err(failure) => {
                // Retried for the configured period from when it was
                // written, or last put back in line by an administrator.
                let next = self.db.now() + outbox::backoff(tried + 1);
                let give_up = failure.permanent || next > since + self.give_up_after;
                tracing::warn!(error = %failure.text, to = %to, attempt = tried + 1, give_up, "sending mail failed");
                Attempt::Failed {
                    tried,
                    error: failure.text,
                    give_up,
                }
            }
        };
        let outcome = Outcome { id, until, result };
        let _ = self.outcomes.send(outcome).await;
    }
}

/// Records outcomes as they come, each time all that have arrived in one
/// transaction: a message is recorded as sent within one write of its
/// acceptance, and under load one write records many.
async fn record(
    db: Db,
    worker: String,
    link_ttl: chrono::Duration,
    mut outcomes: mpsc::Receiver<Outcome>,
) {
    let mut batch = Vec::with_capacity(UNRECORDED_AT_MOST);
    while outcomes.recv_many(&mut batch, UNRECORDED_AT_MOST).await > 0 {
        let (done, wid) = (std::mem::take(&mut batch), worker.clone());
        let recorded = db
            .write(move |c| {
                // Those sent in one go, those that failed one by one.
                let mut sent = Vec::with_capacity(done.len());
                for outcome in &done {
                    match &outcome.result {
                        Attempt::Sent {
                            subject,
                            text,
                            html,
                            link,
                        } => sent.push((
                            outcome.id,
                            outcome.until,
                            outbox::Sent {
                                subject,
                                text_body: text,
                                html_body: html,
                                link: link.as_deref().map(|token| (token, link_ttl)),
                            },
                        )),
                        Attempt::Failed {
                            tried,
                            error,
                            give_up,
                        } => {
                            let claim = outbox::Claim {
                                id: outcome.id,
                                worker: &wid,
                                until: outcome.until,
                            };
                            outbox::mark_failed(c, &claim, *tried, error, *give_up)?
                        }
                    }
                }
                outbox::mark_all_sent(c, &wid, &sent)
            })
            .await;
        // Unrecorded, they stay claimed until the claim lapses, and are
        // sent again: at least once, never lost.
        if let Err(e) = recorded {
            tracing::error!(error = %e, "recording sent mail failed");
        }
    }
}

/// Claims due messages ahead of sending them, a claim at a time whenever
/// there is room for one; when nothing is due, waits `OUTBOX_POLL_MS`.
async fn claim_ahead(
    db: Db,
    worker: String,
    claim: usize,
    poll: Duration,
    claimed: mpsc::Sender<Ready>,
    mut stop: watch::Receiver<bool>,
) {
    while !*stop.borrow() {
        // Wait for room for a whole claim (or the stop).
        let room = claimed.reserve_many(claim);
        let room =
            match futures_util::future::select(Box::pin(room), Box::pin(stop.changed())).await {
                futures_util::future::Either::Left((Ok(room), _)) => room,
                _ => return,
            };
        let id = worker.clone();
        let batch = match db
            .write(move |c| outbox::claim(c, &id, claim as i64, LEASE_SECS))
            .await
        {
            Ok(batch) => batch,
            Err(e) => {
                tracing::error!(error = %e, "claiming mail failed");
                Vec::new()
            }
        };
        if batch.is_empty() {
            drop(room);
            let wait = actix_web::rt::time::sleep(poll);
            futures_util::future::select(Box::pin(wait), Box::pin(stop.changed())).await;
            continue;
        }
        for (permit, ready) in room.zip(composed(&db, batch).await) {
            permit.send(ready);
        }
    }
}

/// Waits until no other process works the outbox under this server's name
/// (one still finishing its mail after a stop, on this host and address):
/// an exclusive lock on a file in the data folder, which the system lets go
/// of when its holder exits, even by `kill -9`. `None` if stopped meanwhile.
async fn sole_holder(
    lock: &std::path::Path,
    stop: &watch::Receiver<bool>,
) -> Option<Option<std::fs::File>> {
    let file = match std::fs::File::create(lock) {
        Ok(file) => file,
        Err(e) => {
            tracing::warn!(error = %e, file = %lock.display(), "cannot make the mail worker's lock file; going on without it");
            return Some(None);
        }
    };
    let mut said = false;
    loop {
        match file.try_lock() {
            Ok(()) => return Some(Some(file)),
            Err(std::fs::TryLockError::WouldBlock) => {
                if !said {
                    tracing::info!(
                        "waiting for the previous server on this address to finish its mail"
                    );
                    said = true;
                }
            }
            Err(std::fs::TryLockError::Error(e)) => {
                tracing::warn!(error = %e, "cannot lock the mail worker's lock file; going on without it");
                return Some(None);
            }
        }
        if *stop.borrow() {
            return None;
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs until `stop`: sends what is due, several messages at once, while
/// the next claim is made. `worker` names this server (host and address),
/// so a server starting again after a crash takes back its own claims at
/// once; `lock` makes sure no earlier process of that name is still at work.
pub async fn run(
    db: Db,
    transport: Transport,
    mail: MailConfig,
    base_url: String,
    worker: String,
    lock: std::path::PathBuf,
    mut stop: watch::Receiver<bool>,
) {
    let Some(_sole) = sole_holder(&lock, &stop).await else {
        return;
    };
    let from: Mailbox = match mail.from.parse() {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(error = %e, from = %mail.from, "MAIL_FROM is not an address; no mail will be sent");
            return;
        }
    };
    let in_flight = transport.in_flight(&mail);
    let (outcomes, recorded) = mpsc::channel(UNRECORDED_AT_MOST);
    let link_ttl = chrono::Duration::hours(mail.link_ttl_hours);
    let recorder = actix_web::rt::spawn(record(db.clone(), worker.clone(), link_ttl, recorded));
    let sender = Arc::new(Sender {
        db: db.clone(),
        transport,
        from,
        base_url,
        give_up_after: mail.give_up_after,
        outcomes,
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
    let claim = in_flight * CLAIM_PER_CONNECTION;
    let (claimed, mut due) = mpsc::channel(2 * claim);
    let claimer = actix_web::rt::spawn(claim_ahead(
        db.clone(),
        worker.clone(),
        claim,
        Duration::from_millis(mail.poll_ms),
        claimed,
        stop.clone(),
    ));
    let slots = Arc::new(Semaphore::new(in_flight));
    let mut sending = Vec::new();
    loop {
        let next = futures_util::future::select(Box::pin(due.recv()), Box::pin(stop.changed()));
        let message = match next.await {
            futures_util::future::Either::Left((Some(message), _)) => message,
            // Stopping, or the claimer has stopped.
            _ => break,
        };
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        // Stopping: what has not started stays for the hand-back.
        if *stop.borrow() {
            break;
        }
        let sender = Arc::clone(&sender);
        sending.retain(|task: &actix_web::rt::task::JoinHandle<()>| !task.is_finished());
        sending.push(actix_web::rt::spawn(async move {
            sender.send(message).await;
            drop(slot);
        }));
    }
    drop(due);
    let _ = claimer.await;
    for task in sending {
        let _ = task.await;
    }
    if let Transport::Smtp(smtp) = &sender.transport {
        smtp.close().await;
    }
    // Everything sent is recorded before the rest of the claim goes back.
    drop(sender);
    let _ = recorder.await;
    release(db, worker).await;
}
