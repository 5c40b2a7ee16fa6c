//! What an action writes at its end, all at once: the audit events and the
//! mail it records are held (`Held`) until it has succeeded, then written
//! as one multi-row insert each — on PostgreSQL both in one statement. A
//! ticket action records two to four events and a notice or two, each
//! otherwise a round trip of its own. Outside a hold they are written at
//! once, as before.

use std::cell::RefCell;

use diesel::prelude::*;

use super::StoreResult;
use super::audit::EventRow;
use super::outbox::MailRow;
use crate::db::DbConn;
use crate::db::schema::{audit_events, outbox};

#[derive(Default)]
struct Rows {
    events: Vec<EventRow>,
    mail: Vec<MailRow>,
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
}

impl Held {
    pub fn begin() -> Held {
        let outermost = HELD.with_borrow_mut(|held| {
            let outermost = held.is_none();
            if outermost {
                *held = Some(Rows::default());
            }
            outermost
        });
        Held { outermost }
    }

    /// Writes what was held, each kind in the order it was recorded.
    pub fn write(self, conn: &mut DbConn) -> StoreResult<()> {
        if !self.outermost {
            return Ok(());
        }
        let Some(Rows { events, mail }) =
            HELD.with_borrow_mut(|held| held.replace(Rows::default()))
        else {
            return Ok(());
        };
        let insert_events = diesel::insert_into(audit_events::table).values(&events);
        let insert_mail = diesel::insert_into(outbox::table).values(&mail);
        match (conn, events.is_empty(), mail.is_empty()) {
            (_, true, true) => {}
            (DbConn::Pg(pg), false, false) => {
                crate::db::prepared::together(insert_mail, insert_events).execute(pg)?;
            }
            (conn, _, _) => {
                if !mail.is_empty() {
                    crate::direct!(conn, |c| insert_mail.execute(c))?;
                }
                if !events.is_empty() {
                    crate::direct!(conn, |c| insert_events.execute(c))?;
                }
            }
        }
        Ok(())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if self.outermost {
            HELD.set(None);
        }
    }
}

/// Holds an event if an action holds its rows; else hands it back to be
/// written at once.
pub(super) fn event(row: EventRow) -> Option<EventRow> {
    HELD.with_borrow_mut(|held| match held {
        Some(rows) => {
            rows.events.push(row);
            None
        }
        None => Some(row),
    })
}

/// Holds a message as `event` holds an event.
pub(super) fn mail(row: MailRow) -> Option<MailRow> {
    HELD.with_borrow_mut(|held| match held {
        Some(rows) => {
            rows.mail.push(row);
            None
        }
        None => Some(row),
    })
}
