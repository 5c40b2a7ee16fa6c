//! Keeping `UPDATE` statements prepared: diesel prepares every update
//! afresh, because a changeset's SQL can change with its values (an
//! `Option` field is left out when `None`). Keyed by their SQL text, as
//! these are, such statements are as safe to keep as any query.

use diesel::backend::Backend;
use diesel::query_builder::{AstPass, QueryFragment, QueryId, UpdateStatement};
use diesel::query_source::QuerySource;
use diesel::{QueryResult, RunQueryDsl};

/// An `UPDATE` that the connection's statement cache keeps, keyed by its
/// SQL text and bind types.
#[derive(Debug, Clone, Copy)]
pub struct KeptPrepared<Q>(Q);

impl<Q, DB> QueryFragment<DB> for KeptPrepared<Q>
where
    DB: Backend,
    Q: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.0.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &DB) -> QueryResult<bool> {
        Ok(true)
    }
}

/// No static id: the cache key is the statement's SQL text.
impl<Q> QueryId for KeptPrepared<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q, Conn> RunQueryDsl<Conn> for KeptPrepared<Q> {}

/// `diesel::update(…).set(…).keep_prepared().execute(c)`.
pub trait KeepPrepared: Sized {
    fn keep_prepared(self) -> KeptPrepared<Self> {
        KeptPrepared(self)
    }
}

impl<T: QuerySource, U, V, Ret> KeepPrepared for UpdateStatement<T, U, V, Ret> {}
