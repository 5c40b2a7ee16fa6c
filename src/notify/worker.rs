//! The outbox worker: claims due messages, sends them through SMTP or into
//! `.eml` files, and marks each sent or to be retried with backoff. A crash
//! or an SMTP outage loses nothing; the messages wait in the outbox.

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{MailConfig, SmtpSecurity};
use crate::db::Db;
use crate::db::models::OutboxMessage;
use crate::store::outbox::{self, BASE};

pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
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
        let builder = match smtp.security {
            SmtpSecurity::None => {
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
            }
            SmtpSecurity::StartTls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)?
            }
            SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host)?,
        };
        let mut builder = builder
            .port(smtp.port)
            .timeout(Some(Duration::from_secs(10)));
        if let Some((user, password)) = &smtp.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(Transport::Smtp(builder.build()))
    }
}

/// Every link in a message, for the log line of the file transport.
fn links(text: &str) -> Vec<&str> {
    text.split_whitespace()
        .filter(|w| w.starts_with("http://") || w.starts_with("https://"))
        .collect()
}

async fn deliver(
    transport: &Transport,
    from: &Mailbox,
    base_url: &str,
    m: &OutboxMessage,
) -> anyhow::Result<()> {
    let text = m.text_body.replace(BASE, base_url);
    let html = m.html_body.replace(BASE, base_url);
    let to: Mailbox = m.to_email.parse()?;
    let message = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(m.subject.clone())
        .multipart(MultiPart::alternative_plain_html(text.clone(), html))?;
    match transport {
        Transport::Smtp(smtp) => {
            smtp.send(message).await?;
        }
        Transport::Files(dir) => {
            let path = dir.join(format!("{:06}.eml", m.id.0));
            let (path_clone, bytes) = (path.clone(), message.formatted());
            actix_web::rt::task::spawn_blocking(move || std::fs::write(path_clone, bytes))
                .await??;
            tracing::info!(to = %m.to_email, subject = %m.subject, links = ?links(&text), file = %path.display(), "mail written");
        }
    }
    Ok(())
}

/// Messages claimed at a time.
const BATCH: i64 = 20;
/// How long a claim keeps other workers off a batch: longer than sending
/// all of it can take (each message may wait out the 10 s SMTP timeout),
/// since the batch's outcomes are recorded together at its end.
const LEASE_SECS: i64 = 300;

/// Runs forever: every `poll`, sends what is due.
pub async fn run(db: Db, transport: Transport, mail: MailConfig, base_url: String) {
    let worker = crate::web::ctx::random_token();
    let from: Mailbox = match mail.from.parse() {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(error = %e, from = %mail.from, "MAIL_FROM is not an address; no mail will be sent");
            return;
        }
    };
    loop {
        let id = worker.clone();
        match db
            .write(move |c| outbox::claim(c, &id, BATCH, LEASE_SECS))
            .await
        {
            Ok(batch) if !batch.is_empty() => {
                let mut outcomes = Vec::with_capacity(batch.len());
                for message in batch {
                    let result = deliver(&transport, &from, &base_url, &message).await;
                    let outcome = match result {
                        Ok(()) => Ok((
                            outbox::redact(&message.text_body),
                            outbox::redact(&message.html_body),
                        )),
                        Err(e) => {
                            tracing::warn!(error = %e, to = %message.to_email, attempt = message.attempts + 1, "sending mail failed");
                            Err(e.to_string())
                        }
                    };
                    outcomes.push((message.id, message.attempts, outcome));
                }
                // One transaction records the whole batch. Were the process
                // to stop before it, the lease runs out and the batch is
                // sent again: at least once, never lost.
                let (wid, max) = (worker.clone(), mail.max_attempts);
                let recorded = db
                    .write(move |c| {
                        for (id, tried, outcome) in &outcomes {
                            match outcome {
                                Ok((text, html)) => outbox::mark_sent(c, *id, &wid, text, html)?,
                                Err(why) => outbox::mark_failed(c, *id, &wid, *tried, why, max)?,
                            }
                        }
                        Ok(())
                    })
                    .await;
                if let Err(e) = recorded {
                    tracing::error!(error = %e, "recording sent messages failed");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "claiming mail failed"),
        }
        actix_web::rt::time::sleep(Duration::from_millis(mail.poll_ms)).await;
    }
}
