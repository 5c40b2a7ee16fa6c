//! Bringing countersign in step with the directory: one person as they
//! sign in, or everyone — on a schedule, from the admin page or from
//! `countersign directory sync`. The directory is read first, outside any
//! transaction; what it said is then applied in one (`store::company`),
//! and each whole sync is recorded with its report.

use tokio::sync::watch;

use super::{Directory, Unavailable, Verdict};
use crate::db::Db;
use crate::db::ids::UserId;
use crate::store::StoreError;
use crate::store::company::{self, Report};
use crate::store::directory_syncs::{self, Trigger};

/// How a sign-in with a directory password went.
#[derive(Debug)]
pub enum SignedIn {
    /// The person, created or brought up to date.
    Person(UserId),
    /// Not the directory's password for that name (or no such person).
    Refused,
    /// The password was right but the entry cannot be a person here (no
    /// email, or a local account has their username).
    Unusable,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Directory(#[from] Unavailable),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks a directory password and, if it is right, creates or updates
/// the person (their manager and group roles too) before they sign in.
pub async fn sign_in(
    db: &Db,
    directory: &Directory,
    username: &str,
    password: &str,
) -> Result<SignedIn, SyncError> {
    let person = match directory.sign_in(username, password).await? {
        Verdict::Person(person) => person,
        Verdict::Refused => return Ok(SignedIn::Refused),
    };
    let id = db
        .write(move |c| {
            let mut report = Report::default();
            let id = company::apply_one(c, &person, &mut report)?;
            if !report.skipped.is_empty() {
                tracing::info!(skipped = ?report.skipped, "a directory sign-in could not be applied");
            }
            Ok(id)
        })
        .await?;
    Ok(id.map_or(SignedIn::Unusable, SignedIn::Person))
}

/// Syncs everyone and records it; the sync's id, or `None` when a
/// scheduled sync found its `slot` taken by another runner. A directory
/// that cannot be read is recorded as the sync's failure, and so is a
/// sync that cannot be applied.
pub async fn everyone(
    db: &Db,
    directory: &Directory,
    trigger: Trigger,
    slot: Option<String>,
    by: Option<UserId>,
) -> Result<Option<i32>, StoreError> {
    let Some(id) = db
        .write(move |c| directory_syncs::begin(c, trigger, slot, by))
        .await?
    else {
        return Ok(None);
    };
    let outcome = match directory.everyone().await {
        Ok(people) => db
            .write(move |c| company::apply_all(c, &people))
            .await
            .map_err(|e| match e {
                StoreError::Rule { key, .. } => key.to_string(),
                other => other.to_string(),
            }),
        Err(e) => Err(e.to_string()),
    };
    let (report, error) = match outcome {
        Ok(report) => (report, None),
        Err(error) => (Report::default(), Some(error)),
    };
    match &error {
        None => tracing::info!(
            sync = id,
            created = report.created.len(),
            updated = report.updated.len(),
            deactivated = report.deactivated.len(),
            "directory synced"
        ),
        Some(error) => tracing::warn!(sync = id, %error, "directory sync failed"),
    }
    db.write(move |c| directory_syncs::finish(c, id, &report, error.as_deref()))
        .await?;
    Ok(Some(id))
}

/// The scheduled sync: every `every`, the first runner to take that
/// period's slot syncs the directory; the others, and a runner restarted
/// within the period, find it taken.
pub async fn run(
    db: Db,
    directory: Directory,
    every: chrono::Duration,
    mut stopping: watch::Receiver<bool>,
) {
    let period = every.num_seconds().max(60);
    loop {
        if *stopping.borrow() {
            break;
        }
        let now = db.now().and_utc().timestamp();
        let slot = format!("schedule:{}", now / period);
        if let Err(e) = everyone(&db, &directory, Trigger::Schedule, Some(slot), None).await {
            tracing::warn!(error = %e, "recording a scheduled directory sync failed");
        }
        let next = (now / period + 1) * period;
        let wait = std::time::Duration::from_secs((next - now).max(1) as u64);
        let clock = db.clock().clone();
        tokio::select! {
            _ = stopping.changed() => {}
            _ = clock.moved() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}
