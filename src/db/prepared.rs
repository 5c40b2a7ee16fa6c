//! `UPDATE` statements that stay prepared. Diesel prepares each of its
//! updates afresh on every execution, because a changeset's SQL may change
//! with its values (an `Option` field is left out when `None`). The
//! statement built here is the same `UPDATE … SET … WHERE …`, and the
//! connection's statement cache keeps it: by type when the table, filter
//! and changes have static ids (their SQL cannot vary), else under its SQL
//! text, which names exactly the columns being set. Preparing the updates
//! of the decision path was a tenth of the writer thread's time, and
//! building their SQL just to find them in the cache about 3% more.
//! `count_of` counts a query's rows, and `capped_count` does so inside
//! another query's select list; both keep the query's own id, so a query
//! of a static type is found in the cache without its SQL being built.

use diesel::associations::HasTable;
use diesel::backend::Backend;
use diesel::query_builder::{AsChangeset, AstPass, IntoUpdateTarget, QueryFragment, QueryId};
use diesel::query_source::QuerySource;
use diesel::{QueryResult, RunQueryDsl};
use std::marker::PhantomData;

/// What `update(target, changes)` makes: the table's from clause, the
/// target's filter, the changeset, and (for its id) the table and changes.
pub type UpdateOf<T, V> = Update<
    <<T as HasTable>::Table as QuerySource>::FromClause,
    <T as IntoUpdateTarget>::WhereClause,
    <V as AsChangeset>::Changeset,
    (<T as HasTable>::Table, V),
>;

/// `update(target, changes)`: like `diesel::update(target).set(changes)`.
pub fn update<T, V>(target: T, changes: V) -> UpdateOf<T, V>
where
    T: IntoUpdateTarget,
    V: AsChangeset<Target = <T as HasTable>::Table>,
{
    let target = target.into_update_target();
    Update {
        from: target.table.from_clause(),
        filter: target.where_clause,
        changes: changes.as_changeset(),
        id: PhantomData,
    }
}

/// An `UPDATE` that the statement cache keeps (see the module). `I` is
/// what its id is made of: the table and the changes as given.
#[derive(Debug, Clone)]
pub struct Update<F, W, S, I> {
    from: F,
    filter: W,
    changes: S,
    id: PhantomData<fn() -> I>,
}

impl<F, W, S, I, DB> QueryFragment<DB> for Update<F, W, S, I>
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

/// Its SQL follows from its parts' types when they all have static ids
/// (columns set to bound values, a filter of bound values): the cache then
/// finds it by type, without building its SQL on every execution. A part
/// whose SQL varies (an `IN` list) has no static id, and the cache keys the
/// statement by its SQL text.
impl<F, W: QueryId, S, T: QueryId, V: QueryId> QueryId for Update<F, W, S, (T, V)> {
    type QueryId = Update<(), (), (), (T::QueryId, W::QueryId, V::QueryId)>;
    const HAS_STATIC_QUERY_ID: bool =
        T::HAS_STATIC_QUERY_ID && W::HAS_STATIC_QUERY_ID && V::HAS_STATIC_QUERY_ID;
}

impl<F, W, S, I, Conn> RunQueryDsl<Conn> for Update<F, W, S, I> {}

impl<F, W, S, I> Update<F, W, S, I> {
    /// `… RETURNING columns`: the updated rows, read by the same statement.
    pub fn returning<R>(self, columns: R) -> UpdateReturning<Self, R> {
        UpdateReturning {
            update: self,
            columns,
        }
    }
}

/// An `Update` that returns its rows (see `Update::returning`).
#[derive(Debug, Clone)]
pub struct UpdateReturning<U, R> {
    update: U,
    columns: R,
}

impl<U, R> diesel::query_builder::Query for UpdateReturning<U, R>
where
    R: diesel::expression::Expression,
{
    type SqlType = R::SqlType;
}

impl<U, R, DB> QueryFragment<DB> for UpdateReturning<U, R>
where
    DB: Backend,
    U: QueryFragment<DB>,
    R: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.update.walk_ast(out.reborrow())?;
        out.push_sql(" RETURNING ");
        self.columns.walk_ast(out.reborrow())
    }
}

/// Static when the update's and the returned columns' ids are (see `Update`).
impl<U: QueryId, R: QueryId> QueryId for UpdateReturning<U, R> {
    type QueryId = UpdateReturning<U::QueryId, R::QueryId>;
    const HAS_STATIC_QUERY_ID: bool = U::HAS_STATIC_QUERY_ID && R::HAS_STATIC_QUERY_ID;
}

impl<U, R, Conn> RunQueryDsl<Conn> for UpdateReturning<U, R> {}

/// `SELECT count(*) FROM (query) AS capped`: how many rows `query` gives,
/// counted inside the database. With a `LIMIT` in `query` the count stops
/// there, however many rows match.
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

/// Its SQL follows from the query's, and so may its id: a query of a
/// static type stays cached by type, without its SQL being built first.
impl<Q: QueryId> QueryId for CountOf<Q> {
    type QueryId = CountOf<Q::QueryId>;
    const HAS_STATIC_QUERY_ID: bool = Q::HAS_STATIC_QUERY_ID;
}

impl<Q, Conn> RunQueryDsl<Conn> for CountOf<Q> {}

/// `(SELECT count(*) FROM (query) AS capped)` as a column of another
/// query, so one statement can say how many rows `query` has (up to its
/// `LIMIT`) beside what else it selects.
pub fn capped_count<Q>(query: Q) -> CappedCount<Q> {
    CappedCount {
        count: count_of(query),
    }
}

/// See `capped_count`: a `count_of` in parentheses.
#[derive(Debug, Clone)]
pub struct CappedCount<Q> {
    count: CountOf<Q>,
}

impl<Q> diesel::expression::Expression for CappedCount<Q> {
    type SqlType = diesel::sql_types::BigInt;
}

impl<Q, QS> diesel::expression::AppearsOnTable<QS> for CappedCount<Q> {}

impl<Q, QS> diesel::expression::SelectableExpression<QS> for CappedCount<Q> {}

/// A subquery is a single value, never an aggregate of the outer rows.
impl<Q> diesel::expression::ValidGrouping<()> for CappedCount<Q> {
    type IsAggregate = diesel::expression::is_aggregate::Never;
}

impl<Q, DB> QueryFragment<DB> for CappedCount<Q>
where
    DB: Backend,
    Q: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("(");
        self.count.walk_ast(out.reborrow())?;
        out.push_sql(")");
        Ok(())
    }
}

/// Its SQL follows from the query's, and so may its id: a query of a
/// static type stays cached by type, without its SQL being built first.
impl<Q: QueryId> QueryId for CappedCount<Q> {
    type QueryId = CappedCount<Q::QueryId>;
    const HAS_STATIC_QUERY_ID: bool = Q::HAS_STATIC_QUERY_ID;
}

/// `SELECT * FROM (one) AS one LEFT JOIN (rows) AS rows ON TRUE`: the
/// single row of `one` beside each row of `rows`, or beside nulls when
/// `rows` has none. A page that needs who is signed in and its own rows
/// asks both in one statement: on PostgreSQL one round trip instead of
/// two. `one` must give at most one row (more would repeat the rows), and
/// the result is read by position: both sides may repeat column names.
/// The rows come back in no promised order; sort them after loading.
pub fn beside_each<A, B>(one: A, rows: B) -> BesideEach<A, B> {
    BesideEach { one, rows }
}

/// The rows a `beside_each` loaded, taken apart: its one row (`None`
/// when there was none) and the rows beside it, in the order loaded.
pub fn taken_apart<A, B>(rows: Vec<(A, Option<B>)>) -> (Option<A>, Vec<B>) {
    let mut beside = Vec::with_capacity(rows.len());
    let mut one = None;
    for (a, b) in rows {
        one.get_or_insert(a);
        beside.extend(b);
    }
    (one, beside)
}

/// See `beside_each`.
#[derive(Debug, Clone)]
pub struct BesideEach<A, B> {
    one: A,
    rows: B,
}

impl<A, B> diesel::query_builder::Query for BesideEach<A, B>
where
    A: diesel::query_builder::Query,
    B: diesel::query_builder::Query,
    B::SqlType: diesel::sql_types::IntoNullable,
{
    type SqlType = (
        A::SqlType,
        <B::SqlType as diesel::sql_types::IntoNullable>::Nullable,
    );
}

impl<A, B, DB> QueryFragment<DB> for BesideEach<A, B>
where
    DB: Backend,
    A: QueryFragment<DB>,
    B: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("SELECT * FROM (");
        self.one.walk_ast(out.reborrow())?;
        out.push_sql(") AS one LEFT JOIN (");
        self.rows.walk_ast(out.reborrow())?;
        out.push_sql(") AS rows ON TRUE");
        Ok(())
    }
}

/// Static when both queries' ids are.
impl<A: QueryId, B: QueryId> QueryId for BesideEach<A, B> {
    type QueryId = BesideEach<A::QueryId, B::QueryId>;
    const HAS_STATIC_QUERY_ID: bool = A::HAS_STATIC_QUERY_ID && B::HAS_STATIC_QUERY_ID;
}

impl<A, B, Conn> RunQueryDsl<Conn> for BesideEach<A, B> {}

/// `together(first, second)`: two statements that change data, sent as
/// one — `WITH first AS (first) second` — so PostgreSQL runs both in one
/// round trip (each sees the data as it was before either; use it for
/// writes that do not depend on each other, such as two inserts). Not for
/// SQLite, which allows only `SELECT` in a `WITH`.
pub fn together<A, B>(first: A, second: B) -> Together<A, B> {
    Together { first, second }
}

/// See `together`.
#[derive(Debug, Clone)]
pub struct Together<A, B> {
    first: A,
    second: B,
}

impl<A, B> QueryFragment<diesel::pg::Pg> for Together<A, B>
where
    A: QueryFragment<diesel::pg::Pg>,
    B: QueryFragment<diesel::pg::Pg>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, diesel::pg::Pg>) -> QueryResult<()> {
        out.push_sql("WITH first AS (");
        self.first.walk_ast(out.reborrow())?;
        out.push_sql(") ");
        self.second.walk_ast(out.reborrow())
    }
}

/// What the second statement returns, when it returns anything (an
/// `UPDATE … RETURNING`, a `SELECT`): the pair is read as it.
impl<A, B> diesel::query_builder::Query for Together<A, B>
where
    B: diesel::query_builder::Query,
{
    type SqlType = B::SqlType;
}

/// `ctes(a, name, b)`: two statements for the `WITH` list of a
/// `together` — `together(ctes(a, "b", b), main)` is `WITH first AS (a),
/// b AS (b) main` — and nested, more: every statement of the list runs
/// once, in the one round trip, each seeing the data as it was before
/// any. The names are the caller's, so such a statement is kept prepared
/// by its text (not its type).
pub fn ctes<A, B>(first: A, name: &'static str, then: B) -> Ctes<A, B> {
    Ctes { first, name, then }
}

/// See `ctes`.
#[derive(Debug, Clone)]
pub struct Ctes<A, B> {
    first: A,
    name: &'static str,
    then: B,
}

impl<A, B> QueryFragment<diesel::pg::Pg> for Ctes<A, B>
where
    A: QueryFragment<diesel::pg::Pg>,
    B: QueryFragment<diesel::pg::Pg>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, diesel::pg::Pg>) -> QueryResult<()> {
        self.first.walk_ast(out.reborrow())?;
        out.push_sql("), ");
        out.push_identifier(self.name)?;
        out.push_sql(" AS (");
        self.then.walk_ast(out.reborrow())
    }
}

/// Named by the caller: known by its text.
impl<A, B> QueryId for Ctes<A, B> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

/// `EXISTS (SELECT 1 FROM first)`: whether the first statement of a
/// `together` pair changed a row (it must return something, e.g. its
/// ids). In the second statement's filter it makes PostgreSQL run the
/// first before the second takes its row locks, so the pair locks in the
/// order written, and the second changes nothing when the first did not.
pub fn first_changed() -> FirstChanged {
    FirstChanged
}

/// See `first_changed`.
#[derive(Debug, Clone, Copy, QueryId)]
pub struct FirstChanged;

impl diesel::expression::Expression for FirstChanged {
    type SqlType = diesel::sql_types::Bool;
}

impl<QS> diesel::expression::AppearsOnTable<QS> for FirstChanged {}

impl<QS> diesel::expression::SelectableExpression<QS> for FirstChanged {}

impl diesel::expression::ValidGrouping<()> for FirstChanged {
    type IsAggregate = diesel::expression::is_aggregate::Never;
}

impl QueryFragment<diesel::pg::Pg> for FirstChanged {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, diesel::pg::Pg>) -> QueryResult<()> {
        out.push_sql("EXISTS (SELECT 1 FROM first)");
        Ok(())
    }
}

/// `(SELECT column FROM first)`: a column of the row the first statement
/// of a `together` pair returned, read in the second (its `RETURNING`).
/// Typed by the column, so the pair keeps its static id and stays
/// prepared — an SQL literal here had PostgreSQL plan every decision's
/// statement afresh.
pub fn of_first<C: diesel::Column>(_column: C) -> OfFirst<C> {
    OfFirst(std::marker::PhantomData)
}

/// See `of_first`.
#[derive(Debug, Clone, Copy)]
pub struct OfFirst<C>(std::marker::PhantomData<fn() -> C>);

impl<C: diesel::Column> diesel::expression::Expression for OfFirst<C> {
    type SqlType = C::SqlType;
}

impl<C: diesel::Column, QS> diesel::expression::AppearsOnTable<QS> for OfFirst<C> {}

impl<C: diesel::Column, QS> diesel::expression::SelectableExpression<QS> for OfFirst<C> {}

impl<C> diesel::expression::ValidGrouping<()> for OfFirst<C> {
    type IsAggregate = diesel::expression::is_aggregate::Never;
}

impl<C: diesel::Column> QueryFragment<diesel::pg::Pg> for OfFirst<C> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, diesel::pg::Pg>) -> QueryResult<()> {
        out.push_sql("(SELECT ");
        out.push_identifier(C::NAME)?;
        out.push_sql(" FROM first)");
        Ok(())
    }
}

impl<C: 'static> QueryId for OfFirst<C> {
    type QueryId = OfFirst<C>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

/// Static when both statements' ids are.
impl<A: QueryId, B: QueryId> QueryId for Together<A, B> {
    type QueryId = Together<A::QueryId, B::QueryId>;
    const HAS_STATIC_QUERY_ID: bool = A::HAS_STATIC_QUERY_ID && B::HAS_STATIC_QUERY_ID;
}

impl<A, B, Conn> RunQueryDsl<Conn> for Together<A, B> {}

/// `SELECT * FROM (a) AS a FULL JOIN (b) AS b ON FALSE`: the rows of
/// both queries, each beside nulls for the other's columns — two lists
/// of different shapes read in one statement (on PostgreSQL one round
/// trip instead of two), `|a| + |b|` rows, no product. Read by position;
/// the rows come back in no promised order, so sort each list after
/// loading. PostgreSQL only: SQLite runs such lists apart.
pub fn apart<A, B>(a: A, b: B) -> Apart<A, B> {
    Apart { a, b }
}

/// See `apart`.
#[derive(Debug, Clone)]
pub struct Apart<A, B> {
    a: A,
    b: B,
}

impl<A, B> diesel::query_builder::Query for Apart<A, B>
where
    A: diesel::query_builder::Query,
    B: diesel::query_builder::Query,
    A::SqlType: diesel::sql_types::IntoNullable,
    B::SqlType: diesel::sql_types::IntoNullable,
{
    type SqlType = (
        <A::SqlType as diesel::sql_types::IntoNullable>::Nullable,
        <B::SqlType as diesel::sql_types::IntoNullable>::Nullable,
    );
}

impl<A, B> QueryFragment<diesel::pg::Pg> for Apart<A, B>
where
    A: QueryFragment<diesel::pg::Pg>,
    B: QueryFragment<diesel::pg::Pg>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, diesel::pg::Pg>) -> QueryResult<()> {
        out.push_sql("SELECT * FROM (");
        self.a.walk_ast(out.reborrow())?;
        out.push_sql(") AS a FULL JOIN (");
        self.b.walk_ast(out.reborrow())?;
        out.push_sql(") AS b ON FALSE");
        Ok(())
    }
}

/// Static when both queries' ids are.
impl<A: QueryId, B: QueryId> QueryId for Apart<A, B> {
    type QueryId = Apart<A::QueryId, B::QueryId>;
    const HAS_STATIC_QUERY_ID: bool = A::HAS_STATIC_QUERY_ID && B::HAS_STATIC_QUERY_ID;
}

impl<A, B, Conn> RunQueryDsl<Conn> for Apart<A, B> {}
