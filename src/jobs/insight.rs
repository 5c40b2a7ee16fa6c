//! Rolls the change dashboards' figures up, a day at a time, once each
//! day is over (`store::insight::roll_up`): every runner tries, the first
//! to insert a day's row writes its figures, the others find it done.

use std::time::Duration;

use tokio::sync::watch;

use crate::db::Db;
use crate::store::insight;

/// How often an idle roller looks for a day that has ended.
pub const POLL: Duration = Duration::from_secs(60);

/// Days rolled up in one turn before looking whether to stop.
const DAYS_A_TURN: usize = 31;

/// Runs until `stopping` says stop.
pub async fn run(db: Db, mut stopping: watch::Receiver<bool>) {
    loop {
        if *stopping.borrow() {
            break;
        }
        let caught_up = turn(&db).await;
        if !caught_up {
            continue;
        }
        let clock = db.clock().clone();
        tokio::select! {
            _ = stopping.changed() => {}
            _ = clock.moved() => {}
            _ = actix_web::rt::time::sleep(POLL) => {}
        }
    }
}

/// Rolls up the days that have ended and are not yet rolled up, up to
/// `DAYS_A_TURN`; whether none is left.
pub async fn turn(db: &Db) -> bool {
    for _ in 0..DAYS_A_TURN {
        let next = match db.read(insight::next_to_roll).await {
            Ok(next) => next,
            Err(e) => {
                tracing::warn!(error = %e, "looking for a day to roll up failed");
                return true;
            }
        };
        let Some(day) = next else { return true };
        let rows = match db.read(move |c| insight::compute(c, day, day + 1)).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(day, error = %e, "computing a dashboard day failed");
                return true;
            }
        };
        match db.write(move |c| insight::roll_up(c, day, &rows)).await {
            Ok(done) => tracing::debug!(day, done, "dashboard day rolled up"),
            Err(e) => {
                tracing::warn!(day, error = %e, "rolling up a dashboard day failed");
                return true;
            }
        }
    }
    false
}
