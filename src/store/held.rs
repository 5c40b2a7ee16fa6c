//! What an action writes at its end, all at once: the audit events and the
//! mail it records are held (`Held`) until it has succeeded, then written
//! as one multi-row insert each — on PostgreSQL both in one statement
//! (SQLite, with no round trips to save, keeps one prepared row at a time). A
//! ticket action records two to four events and a notice or two, each
//! otherwise a round trip of its own. Outside a hold they are written at
//! once, as before.

use std::cell::RefCell;

use diesel::prelude::*;

use super::StoreResult;
use super::chain::{self, Head, Pending};
use super::outbox::MailRow;
use super::webhooks::Noticed;
use crate::db::DbConn;
use crate::db::schema::{applies, audit_events, outbox};

#[derive(Default)]
struct Rows {
    events: Vec<Pending>,
    /// Where chains end, known to the action already (a ticket it filed,
    /// or locked and read): `chain::link` need not read them.
    heads: Vec<(i32, Head)>,
    mail: Vec<MailRow>,
    /// Ticket events for the webhooks that want them.
    hooks: Vec<Noticed>,
}

thread_local! {
    /// The rows of the action running on this thread while it holds them;
    /// `None` when none does.
    static HELD: RefCell<Option<Rows>> = const { RefCell::new(None) };
}

/// Holds an action's events and mail until `write`. Dropped without it
/// (the action failed) they go with the rolled-back action. Inside another
/// hold, the outer one writes.
#[must_use = "held rows are written by `write`"]
pub struct Held {
    outermost: bool,
    /// How many events and messages the outer hold had when this one
    /// began: an inner hold dropped without `write` (its action failed)
    /// takes back what it added, so the outer one never writes it.
    before: (usize, usize, usize),
    written: bool,
}

impl Held {
    pub fn begin() -> Held {
        let (outermost, before) = HELD.with_borrow_mut(|held| match held {
            Some(rows) => (
                false,
                (rows.events.len(), rows.mail.len(), rows.hooks.len()),
            ),
            None => {
                *held = Some(Rows::default());
                (true, (0, 0, 0))
            }
        });
        Held {
            outermost,
            before,
            written: false,
        }
    }

    /// Writes what was held, each kind in the order it was recorded.
    pub fn write(mut self, conn: &mut DbConn) -> StoreResult<()> {
        self.written = true;
        if !self.outermost {
            return Ok(());
        }
        let Some(Rows {
            events,
            heads: known,
            mail,
            hooks,
        }) = HELD.with_borrow_mut(|held| held.replace(Rows::default()))
        else {
            return Ok(());
        };
        super::webhooks::enqueue(conn, hooks)?;
        let (events, heads) = chain::link(conn, events, &known)?;
        // On PostgreSQL the one ticket's new end goes in the statement
        // that writes its events (with the mail when there is any).
        if let DbConn::Pg(pg) = conn
            && let [(ticket, head)] = heads.as_slice()
            && *ticket != 0
            && events.len() <= CHUNK
            && mail.len() <= CHUNK
        {
            let end = crate::db::prepared::update(
                applies::table.find(*ticket),
                (
                    applies::audit_seq.eq(head.seq),
                    applies::audit_hash.eq(&head.hash),
                ),
            );
            let events = diesel::insert_into(audit_events::table).values(&events);
            if mail.is_empty() {
                crate::db::prepared::together(end, events).execute(pg)?;
            } else {
                crate::db::prepared::together(
                    crate::db::prepared::ctes(
                        diesel::insert_into(outbox::table).values(&mail),
                        "head",
                        end,
                    ),
                    events,
                )
                .execute(pg)?;
            }
            return Ok(());
        }
        chain::write_heads(conn, &heads)?;
        // Both in one statement on PostgreSQL when they fit in one (a
        // statement takes at most 65,535 values; SQLite 32,766); else each
        // kind in chunks.
        if let DbConn::Pg(pg) = conn
            && !events.is_empty()
            && !mail.is_empty()
            && events.len() <= CHUNK
            && mail.len() <= CHUNK
        {
            crate::db::prepared::together(
                diesel::insert_into(outbox::table).values(&mail),
                diesel::insert_into(audit_events::table).values(&events),
            )
            .execute(pg)?;
            return Ok(());
        }
        match conn {
            DbConn::Pg(pg) => {
                for chunk in mail.chunks(CHUNK) {
                    diesel::insert_into(outbox::table)
                        .values(chunk)
                        .execute(pg)?;
                }
                for chunk in events.chunks(CHUNK) {
                    diesel::insert_into(audit_events::table)
                        .values(chunk)
                        .execute(pg)?;
                }
            }
            // SQLite, with no round trips to save, writes a row at a time:
            // a one-row insert stays prepared, where one of many rows is
            // prepared afresh on every call.
            DbConn::Sqlite(sqlite) => {
                for row in mail {
                    diesel::insert_into(outbox::table)
                        .values(row)
                        .execute(sqlite)?;
                }
                for row in events {
                    diesel::insert_into(audit_events::table)
                        .values(row)
                        .execute(sqlite)?;
                }
            }
        }
        Ok(())
    }
}

/// The most rows one insert writes: 1,000 messages of 16 values, as many
/// events of 9, or webhook attempts of 14, stay under both databases'
/// limits on the values a statement may carry.
pub(super) const CHUNK: usize = 1000;

impl Drop for Held {
    fn drop(&mut self) {
        if self.outermost {
            HELD.set(None);
        } else if !self.written {
            let (events, mail, hooks) = self.before;
            HELD.with_borrow_mut(|held| {
                if let Some(rows) = held {
                    rows.events.truncate(events);
                    rows.mail.truncate(mail);
                    rows.hooks.truncate(hooks);
                }
            });
        }
    }
}

/// Holds `row` in the kind `pick` chooses if an action holds its rows;
/// else hands it back to be written at once.
fn hold<R>(row: R, pick: fn(&mut Rows) -> &mut Vec<R>) -> Option<R> {
    HELD.with_borrow_mut(|held| match held {
        Some(rows) => {
            pick(rows).push(row);
            None
        }
        None => Some(row),
    })
}

/// Holds an event (`hold`).
pub(super) fn event(row: Pending) -> Option<Pending> {
    hold(row, |rows| &mut rows.events)
}

/// How many events the running action holds so far: where the next one
/// recorded will stand (for `amend_event`). `None` outside a hold.
pub(super) fn events_held() -> Option<usize> {
    HELD.with_borrow(|held| held.as_ref().map(|rows| rows.events.len()))
}

/// Changes the held event at `index` (from `events_held`) before it is
/// written: filing learns its serial number only at its end, and names it
/// in the event it recorded first. Whether there was such an event.
pub(super) fn amend_event(index: usize, change: impl FnOnce(&mut Pending)) -> bool {
    HELD.with_borrow_mut(|held| {
        held.as_mut()
            .and_then(|rows| rows.events.get_mut(index))
            .map(change)
            .is_some()
    })
}

/// Tells the running action's hold where `chain` ends, when the action
/// knows it already: a ticket it has just filed starts empty.
pub(super) fn known_head(chain: i32, head: Head) {
    HELD.with_borrow_mut(|held| {
        if let Some(rows) = held {
            rows.heads.retain(|(c, _)| *c != chain);
            rows.heads.push((chain, head));
        }
    });
}

/// Holds a ticket event for the webhooks (`hold`).
pub(super) fn hook(noticed: Noticed) -> Option<Noticed> {
    hold(noticed, |rows| &mut rows.hooks)
}

/// Holds a message (`hold`).
pub(super) fn mail(row: MailRow) -> Option<MailRow> {
    hold(row, |rows| &mut rows.mail)
}

#[cfg(test)]
mod tests {
    use super::{HELD, Held, event};
    use crate::store::audit::{Audit, row};

    fn held_events() -> usize {
        HELD.with_borrow(|held| held.as_ref().map_or(0, |rows| rows.events.len()))
    }

    fn record() {
        let unheld = event(row(Audit::web(
            crate::db::ids::UserId(1),
            "test",
            "apply",
            1,
        )));
        assert!(unheld.is_none(), "held");
    }

    #[test]
    fn an_inner_hold_that_fails_takes_back_what_it_held_and_the_outer_keeps_its_own() {
        let outer = Held::begin();
        record();
        {
            let _inner = Held::begin();
            record();
            record();
            assert_eq!(held_events(), 3);
        }
        assert_eq!(
            held_events(),
            1,
            "the failed inner action's events are gone"
        );
        drop(outer);
        assert!(HELD.with_borrow(|held| held.is_none()), "nothing left held");
        assert!(
            event(row(Audit::web(
                crate::db::ids::UserId(1),
                "test",
                "apply",
                1
            )))
            .is_some()
        );
    }
}
