//! `UPDATE` statements that stay prepared. Diesel prepares each of its
//! updates afresh on every execution, because a changeset's SQL may change
//! with its values (an `Option` field is left out when `None`). The
//! statement built here is the same `UPDATE … SET … WHERE …`, and the
//! connection's statement cache keeps it under its SQL text, which names
//! exactly the columns being set. Preparing the updates of the decision
//! path was a tenth of the writer thread's time. `count_of` counts a
//! query's rows the same way.

use diesel::associations::HasTable;
use diesel::backend::Backend;
use diesel::query_builder::{AsChangeset, AstPass, IntoUpdateTarget, QueryFragment, QueryId};
use diesel::query_source::QuerySource;
use diesel::{QueryResult, RunQueryDsl};

/// `update(target, changes)`: like `diesel::update(target).set(changes)`.
pub fn update<T, V>(
    target: T,
    changes: V,
) -> Update<
    <<T as HasTable>::Table as QuerySource>::FromClause,
    <T as IntoUpdateTarget>::WhereClause,
    <V as AsChangeset>::Changeset,
>
where
    T: IntoUpdateTarget,
    V: AsChangeset<Target = <T as HasTable>::Table>,
{
    let target = target.into_update_target();
    Update {
        from: target.table.from_clause(),
        filter: target.where_clause,
        changes: changes.as_changeset(),
    }
}

/// An `UPDATE` that the statement cache keeps (see the module).
#[derive(Debug, Clone)]
pub struct Update<F, W, S> {
    from: F,
    filter: W,
    changes: S,
}

impl<F, W, S, DB> QueryFragment<DB> for Update<F, W, S>
where
    DB: Backend,
    F: QueryFragment<DB>,
    W: QueryFragment<DB>,
    S: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("UPDATE ");
        self.from.walk_ast(out.reborrow())?;
        out.push_sql(" SET ");
        self.changes.walk_ast(out.reborrow())?;
        self.filter.walk_ast(out.reborrow())
    }
}

/// No static id: the cache key is the statement's SQL text.
impl<F, W, S> QueryId for Update<F, W, S> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<F, W, S, Conn> RunQueryDsl<Conn> for Update<F, W, S> {}

/// `SELECT count(*) FROM (query) AS capped`: how many rows `query` gives,
/// counted inside the database. With a `LIMIT` in `query` the count stops
/// there, however many rows match. Kept prepared like `update`.
pub fn count_of<Q>(query: Q) -> CountOf<Q> {
    CountOf { query }
}

/// See `count_of`.
#[derive(Debug, Clone)]
pub struct CountOf<Q> {
    query: Q,
}

impl<Q> diesel::query_builder::Query for CountOf<Q> {
    type SqlType = diesel::sql_types::BigInt;
}

impl<Q, DB> QueryFragment<DB> for CountOf<Q>
where
    DB: Backend,
    Q: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("SELECT count(*) FROM (");
        self.query.walk_ast(out.reborrow())?;
        out.push_sql(") AS capped");
        Ok(())
    }
}

/// No static id: the cache key is the statement's SQL text.
impl<Q> QueryId for CountOf<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q, Conn> RunQueryDsl<Conn> for CountOf<Q> {}
