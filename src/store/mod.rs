//! Queries and transactions, one file per aggregate. Functions take a
//! connection, not the pool, so callers compose them inside one transaction.

pub mod api_tokens;
pub mod assignments;
pub mod attachments;
pub mod audit;
pub mod audit_export;
pub mod backlog;
pub mod businesses;
pub mod cache;
pub mod calendars;
pub mod catalog;
pub mod chain;
pub mod changes;
pub mod company;
pub mod delegations;
pub mod demo;
pub mod demo_processes;
pub mod directory;
pub mod directory_syncs;
pub mod feeds;
pub mod freezes;
pub mod gate;
pub mod grants;
pub mod group_roles;
pub mod held;
pub mod home;
pub mod idempotency;
pub mod insight;
pub mod leavers;
pub mod links;
pub mod month;
pub mod names;
pub mod outbox;
pub mod processes;
pub mod request;
pub mod resources;
pub mod roles;
pub mod services;
pub mod settings;
pub mod sign_in;
pub mod silences;
pub mod ticket_views;
pub mod tickets;
pub mod timers;
pub mod users;
pub mod webhooks;

use chrono::NaiveDateTime;

pub use crate::error::{StoreError, StoreResult, is_full};

/// The current time in UTC, as stored (timestamps are UTC without zone),
/// on the clock of the database this thread's unit of work is for.
pub fn now() -> NaiveDateTime {
    crate::db::clock_now()
}

diesel::define_sql_function! {
    /// SQL `lower()`, the same on both backends.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}
