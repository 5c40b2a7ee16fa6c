//! `one_of(column, ids)`: "the column is one of these ids" as a statement
//! that stays prepared. Diesel's `eq_any` writes one placeholder per value
//! (`IN (?, ?, ?)`), so its SQL changes with the count and diesel prepares
//! it afresh on every execution: reading a claim's notices, claiming mail
//! and checking who is still active spent about 5% of the ticket path
//! preparing statements. Here the ids travel as one value — on PostgreSQL
//! `column = ANY($1)` with an integer array, on SQLite
//! `column IN (SELECT value FROM json_each(?))` with a JSON array — so the
//! SQL is the same for any count and the connection's cache keeps it.
//! SQLite's `json_each` needs a concrete connection: run queries that use
//! it through `crate::direct!`.
//! `is::<K>(column)`: the column equals a constant written into the SQL.
//! A statement that stays prepared gets a generic plan on PostgreSQL,
//! which cannot tell that `status = $1` asks for the few waiting rows of a
//! table of mostly sent ones; `status = 'pending'` it can.

use diesel::expression::{AppearsOnTable, Expression, ValidGrouping};
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{Array, Bool, Integer, Text};
use diesel::{QueryResult, pg::Pg, sqlite::Sqlite};

/// `column` is one of `ids` (false when `ids` is empty).
pub fn one_of<C, I>(column: C, ids: I) -> OneOf<C>
where
    C: Expression<SqlType = Integer>,
    I: IntoIterator,
    I::Item: Into<i32>,
{
    let ids: Vec<i32> = ids.into_iter().map(Into::into).collect();
    let json = ids_as_json(&ids);
    OneOf { column, ids, json }
}

/// `[1,2,3]`: the ids as a JSON array, for SQLite's `json_each`.
fn ids_as_json(ids: &[i32]) -> String {
    use std::fmt::Write;
    let mut json = String::with_capacity(2 + ids.len() * 8);
    json.push('[');
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        let _ = write!(json, "{id}");
    }
    json.push(']');
    json
}

/// See `one_of`.
#[derive(Debug, Clone)]
pub struct OneOf<C> {
    column: C,
    ids: Vec<i32>,
    json: String,
}

impl<C> Expression for OneOf<C> {
    type SqlType = Bool;
}

impl<C: AppearsOnTable<QS>, QS: ?Sized> AppearsOnTable<QS> for OneOf<C> where OneOf<C>: Expression {}

impl<C: ValidGrouping<G>, G> ValidGrouping<G> for OneOf<C> {
    type IsAggregate = C::IsAggregate;
}

impl<C: QueryFragment<Pg>> QueryFragment<Pg> for OneOf<C> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.column.walk_ast(out.reborrow())?;
        out.push_sql(" = ANY(");
        out.push_bind_param::<Array<Integer>, _>(&self.ids)?;
        out.push_sql(")");
        Ok(())
    }
}

impl<C: QueryFragment<Sqlite>> QueryFragment<Sqlite> for OneOf<C> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        self.column.walk_ast(out.reborrow())?;
        out.push_sql(" IN (SELECT value FROM json_each(");
        out.push_bind_param::<Text, _>(&self.json)?;
        out.push_sql("))");
        Ok(())
    }
}

/// The SQL depends on the column alone, never on how many ids there are.
impl<C: QueryId> QueryId for OneOf<C> {
    type QueryId = OneOf<C::QueryId>;
    const HAS_STATIC_QUERY_ID: bool = C::HAS_STATIC_QUERY_ID;
}

/// A constant a statement compares a column with, as SQL (`'pending'`).
pub trait Constant: 'static {
    const SQL: &'static str;
}

/// `column = K::SQL`: see the module.
pub fn is<K: Constant, C>(column: C) -> Is<C, K> {
    Is {
        column,
        constant: std::marker::PhantomData,
    }
}

/// See `is`.
#[derive(Debug, Clone, Copy)]
pub struct Is<C, K> {
    column: C,
    constant: std::marker::PhantomData<fn() -> K>,
}

impl<C, K> Expression for Is<C, K> {
    type SqlType = Bool;
}

impl<C: AppearsOnTable<QS>, K, QS: ?Sized> AppearsOnTable<QS> for Is<C, K> where Is<C, K>: Expression
{}

impl<C: ValidGrouping<G>, K, G> ValidGrouping<G> for Is<C, K> {
    type IsAggregate = C::IsAggregate;
}

impl<C, K, DB> QueryFragment<DB> for Is<C, K>
where
    DB: diesel::backend::Backend,
    C: QueryFragment<DB>,
    K: Constant,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.column.walk_ast(out.reborrow())?;
        out.push_sql(" = ");
        out.push_sql(K::SQL);
        Ok(())
    }
}

/// The constant is part of the type, so two constants never share an id.
impl<C: QueryId, K: Constant> QueryId for Is<C, K> {
    type QueryId = Is<C::QueryId, K>;
    const HAS_STATIC_QUERY_ID: bool = C::HAS_STATIC_QUERY_ID;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ids_travel_as_one_json_array() {
        assert_eq!(ids_as_json(&[]), "[]");
        assert_eq!(ids_as_json(&[7]), "[7]");
        assert_eq!(ids_as_json(&[1, -2, 30]), "[1,-2,30]");
    }
}
