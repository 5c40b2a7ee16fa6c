//! The job runner: everything time-driven. It claims the timers that are
//! due under a lease (so that, with several instances on one database,
//! each fires once), fires each through the one door in a transaction of
//! its own, and otherwise sleeps until the next is due — at most a
//! `POLL`, or until a test moves the clock. A timer whose runner died is
//! claimed again once its lease lapses: late, but fired, and once.
//! Beside it, when Alertmanager is configured, the monitoring silences of
//! approved changes are kept in step each `POLL` (`silences`), and the
//! change dashboards' days are rolled up as they end (`insight`), and
//! with a company directory, it is synced each period (`ldap::sync`).

pub mod insight;
pub mod silences;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::db::Db;
use crate::store::{tickets, timers};

/// How long a claim holds: a runner that dies leaves its timers to
/// others (or to itself, restarted) this long after it claimed them.
pub const LEASE: chrono::Duration = chrono::Duration::seconds(60);

/// Timers claimed at once; fired together (on SQLite the writer commits
/// them as one transaction, each in a savepoint of its own).
pub const BATCH: i64 = 64;

/// The longest an idle runner sleeps before looking again.
pub const POLL: Duration = Duration::from_secs(1);

/// Runs until `stopping` says stop, then hands back what it claimed;
/// with `sync` (Alertmanager configured), keeps the changes' silences
/// beside the timers.
pub async fn run(
    db: Db,
    runner: String,
    sync: Option<Arc<silences::SilenceSync>>,
    directory: Option<(crate::ldap::Directory, chrono::Duration)>,
    mut stopping: watch::Receiver<bool>,
) {
    let silencing = sync.map(|sync| {
        actix_web::rt::spawn(silences::run(
            db.clone(),
            sync,
            runner.clone(),
            stopping.clone(),
        ))
    });
    let rolling = actix_web::rt::spawn(insight::run(db.clone(), stopping.clone()));
    let directory = directory.map(|(directory, every)| {
        actix_web::rt::spawn(crate::ldap::sync::run(
            db.clone(),
            directory,
            every,
            stopping.clone(),
        ))
    });
    loop {
        if *stopping.borrow() {
            break;
        }
        let fired = turn(&db, &runner).await;
        if fired as i64 >= BATCH {
            continue;
        }
        let next = db.read(timers::next_due).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "looking for the next timer failed");
            None
        });
        // Due timers that were not ours to fire are claimed elsewhere:
        // look again after a while, not at once.
        let wait = match next {
            Some(due) if fired == 0 => (due - db.now()).to_std().unwrap_or(POLL),
            Some(due) => (due - db.now()).to_std().unwrap_or(Duration::ZERO),
            None => POLL,
        }
        .min(POLL);
        let clock = db.clock().clone();
        tokio::select! {
            _ = stopping.changed() => {}
            _ = clock.moved() => {}
            _ = actix_web::rt::time::sleep(wait) => {}
        }
    }
    let name = runner.clone();
    if let Err(e) = db.write(move |c| timers::release(c, &name)).await {
        tracing::warn!(error = %e, "handing back timers failed");
    }
    if let Some(directory) = directory
        && let Err(e) = directory.await
    {
        tracing::warn!(error = %e, "the directory sync stopped abnormally");
    }
    if let Err(e) = rolling.await {
        tracing::warn!(error = %e, "the dashboard rollup stopped abnormally");
    }
    if let Some(silencing) = silencing
        && let Err(e) = silencing.await
    {
        tracing::warn!(error = %e, "the silence sync stopped abnormally");
    }
}

/// Claims the due timers and fires them; how many were claimed.
pub async fn turn(db: &Db, runner: &str) -> usize {
    let name = runner.to_string();
    let claimed = db
        .write(move |c| timers::claim(c, &name, BATCH, LEASE))
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "claiming timers failed");
            Vec::new()
        });
    let count = claimed.len();
    let fires = claimed.into_iter().map(|timer| {
        let name = runner.to_string();
        let db = db.clone();
        async move {
            let id = timer.id;
            match db
                .write(move |c| tickets::fire_timer(c, &timer, &name))
                .await
            {
                Ok(fired) => tracing::debug!(timer = id, ?fired, "timer fired"),
                // Left claimed: fired again when its lease lapses.
                Err(e) => tracing::warn!(timer = id, error = %e, "a timer failed to fire"),
            }
        }
    });
    futures_util::future::join_all(fires).await;
    count
}
