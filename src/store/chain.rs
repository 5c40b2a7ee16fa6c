//! The audit trail's hash chains. Each ticket's events form one chain
//! (events about no ticket form chain 0); an event takes the next place
//! in its chain and its hash is the SHA-256 of the hash before it and its
//! own fields (`hash_of`). Where each chain ends is kept apart from the
//! events — on the ticket (`applies.audit_seq`, `audit_hash`), for chain 0
//! in `audit_heads` — and moved in the same transaction. `verify` walks
//! every chain and names the first event altered, removed or inserted.

use std::collections::HashMap;

use chrono::{Datelike, NaiveDateTime, Timelike};
use diesel::prelude::*;
use sha2::{Digest, Sha256};

use super::StoreResult;
use crate::db::DbConn;
use crate::db::ids::UserId;
use crate::db::schema::{applies as a, audit_events as e, audit_heads as h};
use crate::db::stamp::At;
use crate::db::states::Channel;
use crate::i18n::Lang;

/// The hash before a chain's first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The chain of events about `apply` (a ticket's id), or chain 0.
pub fn chain_of(apply: Option<i32>) -> i32 {
    apply.unwrap_or(0)
}

/// An event as recorded, before it takes its place in its chain.
#[derive(Debug, Clone)]
pub struct Pending {
    /// To the microsecond, as both databases keep it.
    pub at: NaiveDateTime,
    pub actor_id: Option<UserId>,
    pub on_behalf_of_id: Option<UserId>,
    pub channel: Channel,
    pub action: String,
    pub subject_type: String,
    pub subject_id: Option<i32>,
    pub apply_id: Option<i32>,
    pub detail: String,
}

/// A time cut to the microsecond, as both databases keep it (the hash is
/// taken of the value as it reads back).
pub fn to_micros(at: NaiveDateTime) -> NaiveDateTime {
    at.with_nanosecond(at.nanosecond() / 1000 * 1000)
        .unwrap_or(at)
}

/// The text an event's hash covers: its chain, place and fields as one
/// JSON array —
/// `[chain, seq, "YYYY-MM-DD HH:MM:SS.ffffff", actor, on_behalf_of,
/// channel, action, subject_type, subject_id, apply_id, detail]` with
/// absent values `null` and `detail` the stored text as a string —
/// compact, as `json.dumps(…, separators=(",", ":"), ensure_ascii=False)`
/// writes it.
pub fn canonical(chain: i32, seq: i32, event: &Pending) -> String {
    serde_json::to_string(&(
        chain,
        seq,
        stamp(event.at),
        event.actor_id.map(|u| u.0),
        event.on_behalf_of_id.map(|u| u.0),
        event.channel.as_str(),
        &event.action,
        &event.subject_type,
        event.subject_id,
        event.apply_id,
        &event.detail,
    ))
    .expect("a tuple of plain values serializes")
}

/// `YYYY-MM-DD HH:MM:SS.ffffff`, as chrono's `%Y-%m-%d %H:%M:%S%.6f`
/// writes it, without parsing that pattern for every event.
fn stamp(at: NaiveDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}",
        at.year(),
        at.month(),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.nanosecond() % 1_000_000_000 / 1000
    )
}

/// An event's hash: the lowercase hex SHA-256 of the hash before it, a
/// newline, and its canonical text.
pub fn hash_of(prev: &str, canonical: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(prev.as_bytes());
    hasher.update(b"\n");
    hasher.update(canonical.as_bytes());
    hex::encode(hasher.finalize())
}

/// Where a chain ends: its last event's place (0 before the first) and
/// hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub seq: i32,
    pub hash: Option<String>,
}

impl Head {
    pub fn empty() -> Head {
        Head { seq: 0, hash: None }
    }

    fn prev(&self) -> &str {
        self.hash.as_deref().unwrap_or(GENESIS)
    }
}

/// An event with its place in its chain, as its row is written.
#[derive(Debug, Insertable)]
#[diesel(table_name = e)]
pub struct Linked {
    at: At,
    actor_id: Option<UserId>,
    on_behalf_of_id: Option<UserId>,
    channel: Channel,
    action: String,
    subject_type: String,
    subject_id: Option<i32>,
    apply_id: Option<i32>,
    detail: String,
    chain: i32,
    seq: i32,
    prev_hash: String,
    hash: String,
}

/// Chains and where each ends.
pub type Heads = Vec<(i32, Head)>;

/// Gives each event its place after its chain's head (`known`, else read
/// and, on PostgreSQL, locked until the transaction ends, so two actions
/// on one ticket take turns) and returns the rows with the heads they
/// leave, to be written in the same transaction (`write_heads`).
pub fn link(
    conn: &mut DbConn,
    events: Vec<Pending>,
    known: &[(i32, Head)],
) -> StoreResult<(Vec<Linked>, Heads)> {
    let mut heads: Vec<(i32, Head)> = Vec::new();
    let mut missing: Vec<i32> = Vec::new();
    for event in &events {
        let chain = chain_of(event.apply_id);
        if heads.iter().any(|(c, _)| *c == chain) || missing.contains(&chain) {
            continue;
        }
        match known.iter().find(|(c, _)| *c == chain) {
            Some((_, head)) => heads.push((chain, head.clone())),
            None => missing.push(chain),
        }
    }
    if !missing.is_empty() {
        heads.extend(read_heads(conn, missing)?);
    }
    let mut rows = Vec::with_capacity(events.len());
    for event in events {
        let chain = chain_of(event.apply_id);
        let head = &mut heads
            .iter_mut()
            .find(|(c, _)| *c == chain)
            .expect("every chain's head was found or read")
            .1;
        let seq = head.seq + 1;
        let prev = head.prev().to_string();
        let hash = hash_of(&prev, &canonical(chain, seq, &event));
        *head = Head {
            seq,
            hash: Some(hash.clone()),
        };
        rows.push(Linked {
            at: At(event.at),
            actor_id: event.actor_id,
            on_behalf_of_id: event.on_behalf_of_id,
            channel: event.channel,
            action: event.action,
            subject_type: event.subject_type,
            subject_id: event.subject_id,
            apply_id: event.apply_id,
            detail: event.detail,
            chain,
            seq,
            prev_hash: prev,
            hash,
        });
    }
    Ok((rows, heads))
}

/// The heads of `chains`, locked on PostgreSQL (in the order of their
/// ids, as every action takes them). A chain whose ticket is gone starts
/// afresh (nothing records its end).
fn read_heads(conn: &mut DbConn, mut chains: Vec<i32>) -> StoreResult<Vec<(i32, Head)>> {
    chains.sort_unstable();
    let tickets: Vec<i32> = chains.iter().copied().filter(|c| *c != 0).collect();
    let mut found: Vec<(i32, i32, Option<String>)> = Vec::new();
    if chains.first() == Some(&0) {
        let system = h::table.find(0).select((h::chain, h::seq, h::hash));
        let row: Option<(i32, i32, Option<String>)> = match conn {
            DbConn::Pg(pg) => system.for_update().first(pg).optional()?,
            DbConn::Sqlite(lite) => system.first(lite).optional()?,
        };
        found.extend(row);
    }
    if !tickets.is_empty() {
        let rows = a::table
            .filter(a::id.eq_any(&tickets))
            .order(a::id)
            .select((a::id, a::audit_seq, a::audit_hash));
        found.extend(match conn {
            DbConn::Pg(pg) => rows.for_update().load(pg)?,
            DbConn::Sqlite(lite) => rows.load(lite)?,
        });
    }
    Ok(chains
        .into_iter()
        .map(|chain| {
            let head = found.iter().find(|(c, _, _)| *c == chain).map_or_else(
                Head::empty,
                |(_, seq, hash)| Head {
                    seq: *seq,
                    hash: hash.clone(),
                },
            );
            (chain, head)
        })
        .collect())
}

/// Records where the chains now end.
pub fn write_heads(conn: &mut DbConn, heads: &[(i32, Head)]) -> StoreResult<()> {
    for (chain, head) in heads {
        if *chain == 0 {
            crate::direct!(conn, |c| diesel::update(h::table.find(0))
                .set((h::seq.eq(head.seq), h::hash.eq(&head.hash)))
                .execute(c))?;
        } else {
            crate::direct!(conn, |c| crate::db::prepared::update(
                a::table.find(*chain),
                (a::audit_seq.eq(head.seq), a::audit_hash.eq(&head.hash))
            )
            .execute(c))?;
        }
    }
    Ok(())
}

/// What `verify` found wrong, naming the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The event's fields are not those its hash was taken of.
    Altered { id: i32, chain: i32, seq: i32 },
    /// The event's own hash holds, but it does not follow the event before
    /// it: that one was altered and its hash recomputed, or this one was
    /// put in the place of another.
    Relinked {
        id: i32,
        chain: i32,
        seq: i32,
        after: i32,
    },
    /// Places `from..=to` of the chain are missing, before the event `before`
    /// (`None`: at the chain's end).
    Removed {
        chain: i32,
        from: i32,
        to: i32,
        before: Option<i32>,
    },
    /// An event not written by countersign: outside every chain, or past
    /// the end its chain records.
    Inserted { id: i32, chain: Option<i32> },
    /// The chain's last event is not the one its recorded end names: it
    /// was altered and its hash recomputed, or replaced.
    EndDiffers { id: i32, chain: i32, seq: i32 },
}

impl Problem {
    /// The problem in `lang`, naming the event and its chain.
    pub fn describe(&self, lang: Lang) -> String {
        let chain_name = |chain: i32| {
            if chain == 0 {
                lang.t("audit_trail.problem.chain_system").into_owned()
            } else {
                lang.tf(
                    "audit_trail.problem.chain_ticket",
                    &[("id", &chain.to_string())],
                )
            }
        };
        let (key, args): (&str, Vec<(&str, String)>) = match self {
            Problem::Altered { id, chain, seq } => (
                "altered",
                vec![
                    ("id", id.to_string()),
                    ("chain", chain_name(*chain)),
                    ("seq", seq.to_string()),
                ],
            ),
            Problem::Relinked {
                id,
                chain,
                seq,
                after,
            } => (
                "relinked",
                vec![
                    ("id", id.to_string()),
                    ("chain", chain_name(*chain)),
                    ("seq", seq.to_string()),
                    ("after", after.to_string()),
                ],
            ),
            Problem::Removed {
                chain,
                from,
                to,
                before,
            } => (
                if before.is_some() {
                    "removed_before"
                } else {
                    "removed_end"
                },
                vec![
                    ("chain", chain_name(*chain)),
                    ("from", from.to_string()),
                    ("to", to.to_string()),
                    ("before", before.map(|b| b.to_string()).unwrap_or_default()),
                ],
            ),
            Problem::Inserted { id, chain } => (
                if chain.is_some() {
                    "inserted_end"
                } else {
                    "inserted_loose"
                },
                vec![
                    ("id", id.to_string()),
                    ("chain", chain.map(chain_name).unwrap_or_default()),
                ],
            ),
            Problem::EndDiffers { id, chain, seq } => (
                "end_differs",
                vec![
                    ("id", id.to_string()),
                    ("chain", chain_name(*chain)),
                    ("seq", seq.to_string()),
                ],
            ),
        };
        let args: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
        lang.tf(&format!("audit_trail.problem.{key}"), &args)
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe(Lang::En))
    }
}

/// What `verify` found.
#[derive(Debug, Default)]
pub struct Report {
    pub chains: u64,
    pub events: u64,
    /// Events from before the chains began, which they do not cover.
    pub legacy: u64,
    pub problems: Vec<Problem>,
}

/// One stored event as `verify` reads it.
#[derive(Debug, Queryable)]
struct Stored {
    id: i32,
    at: NaiveDateTime,
    actor_id: Option<UserId>,
    on_behalf_of_id: Option<UserId>,
    channel: Channel,
    action: String,
    subject_type: String,
    subject_id: Option<i32>,
    apply_id: Option<i32>,
    detail: String,
    chain: Option<i32>,
    seq: Option<i32>,
    prev_hash: Option<String>,
    hash: Option<String>,
}

/// How many events `verify` reads at a time.
const PAGE: i64 = 5000;

/// Walks every chain from its first event to the end its ticket (or
/// `audit_heads`) records, recomputing each hash, and lists what does not
/// hold: each event altered, each run of places removed, each event
/// inserted. Reads in pages, so any size of trail fits in memory.
pub fn verify(conn: &mut DbConn) -> StoreResult<Report> {
    let mut report = Report::default();
    let legacy_until: i32 = crate::direct!(conn, |c| h::table
        .find(0)
        .select(h::legacy_until)
        .first(c)
        .optional())?
    .unwrap_or(0);
    report.legacy = crate::direct!(conn, |c| e::table
        .filter(e::chain.is_null())
        .filter(e::id.le(legacy_until))
        .count()
        .get_result::<i64>(c))? as u64;
    // Events outside every chain that countersign did not write.
    let outside: Vec<i32> = crate::direct!(conn, |c| e::table
        .filter(
            e::chain
                .is_null()
                .or(e::seq.is_null())
                .or(e::hash.is_null())
                .or(e::prev_hash.is_null()),
        )
        .filter(e::id.gt(legacy_until))
        .order(e::id)
        .select(e::id)
        .load(c))?;
    report.problems.extend(
        outside
            .into_iter()
            .map(|id| Problem::Inserted { id, chain: None }),
    );

    let mut walk: Option<Walk> = None;
    let mut after = (i32::MIN, i32::MIN);
    loop {
        let page: Vec<Stored> = crate::direct!(conn, |c| e::table
            .filter(e::chain.is_not_null())
            .filter(e::seq.is_not_null())
            .filter(e::hash.is_not_null())
            .filter(e::prev_hash.is_not_null())
            .filter(
                e::chain
                    .gt(after.0)
                    .or(e::chain.eq(after.0).and(e::seq.gt(after.1))),
            )
            .order((e::chain, e::seq))
            .limit(PAGE)
            .select((
                e::id,
                e::at,
                e::actor_id,
                e::on_behalf_of_id,
                e::channel,
                e::action,
                e::subject_type,
                e::subject_id,
                e::apply_id,
                e::detail,
                e::chain,
                e::seq,
                e::prev_hash,
                e::hash,
            ))
            .load(c))?;
        let full = page.len() as i64 == PAGE;
        let Some(last) = page.last() else { break };
        after = (last.chain.unwrap_or(0), last.seq.unwrap_or(0));
        let mut chains: Vec<i32> = page.iter().filter_map(|s| s.chain).collect();
        chains.dedup();
        let ends = recorded_ends(conn, &chains)?;
        for stored in page {
            let chain = stored.chain.unwrap_or(0);
            if walk.as_ref().is_none_or(|w| w.chain != chain) {
                if let Some(done) = walk.take() {
                    done.finish(&mut report);
                }
                report.chains += 1;
                walk = Some(Walk::new(chain, ends.get(&chain).cloned()));
            }
            report.events += 1;
            walk.as_mut()
                .expect("a walk just began")
                .step(stored, &mut report);
        }
        if !full {
            break;
        }
    }
    if let Some(done) = walk.take() {
        done.finish(&mut report);
    }
    // Tickets whose recorded end says they had events, none of which is
    // left.
    let emptied: Vec<(i32, i32)> = crate::direct!(conn, |c| a::table
        .filter(a::audit_seq.gt(0))
        .filter(diesel::dsl::not(diesel::dsl::exists(
            e::table.filter(e::chain.eq(a::id.nullable())),
        )))
        .select((a::id, a::audit_seq))
        .load(c))?;
    report
        .problems
        .extend(emptied.into_iter().map(|(chain, seq)| Problem::Removed {
            chain,
            from: 1,
            to: seq,
            before: None,
        }));
    let system: Option<i32> = crate::direct!(conn, |c| h::table
        .find(0)
        .select(h::seq)
        .first(c)
        .optional())?;
    if let Some(seq) = system.filter(|s| *s > 0) {
        let any: i64 = crate::direct!(conn, |c| e::table
            .filter(e::chain.eq(0))
            .count()
            .get_result(c))?;
        if any == 0 {
            report.problems.push(Problem::Removed {
                chain: 0,
                from: 1,
                to: seq,
                before: None,
            });
        }
    }
    Ok(report)
}

/// The ends recorded for `chains`.
fn recorded_ends(conn: &mut DbConn, chains: &[i32]) -> StoreResult<HashMap<i32, Head>> {
    let mut ends = HashMap::new();
    let tickets: Vec<i32> = chains.iter().copied().filter(|c| *c != 0).collect();
    for part in tickets.chunks(1000) {
        let rows: Vec<(i32, i32, Option<String>)> = crate::direct!(conn, |c| a::table
            .filter(a::id.eq_any(part))
            .select((a::id, a::audit_seq, a::audit_hash))
            .load(c))?;
        ends.extend(
            rows.into_iter()
                .map(|(id, seq, hash)| (id, Head { seq, hash })),
        );
    }
    if chains.contains(&0) {
        let row: Option<(i32, Option<String>)> = crate::direct!(conn, |c| h::table
            .find(0)
            .select((h::seq, h::hash))
            .first(c)
            .optional())?;
        if let Some((seq, hash)) = row {
            ends.insert(0, Head { seq, hash });
        }
    }
    Ok(ends)
}

/// One chain being walked.
struct Walk {
    chain: i32,
    /// Where the chain's end is recorded; `None` when its ticket is gone.
    end: Option<Head>,
    expected: Head,
    last_id: Option<i32>,
    /// An event past the recorded end was already named.
    past_end: bool,
}

impl Walk {
    fn new(chain: i32, end: Option<Head>) -> Walk {
        Walk {
            chain,
            end,
            expected: Head::empty(),
            last_id: None,
            past_end: false,
        }
    }

    fn step(&mut self, stored: Stored, report: &mut Report) {
        let (seq, prev, hash) = (
            stored.seq.unwrap_or(0),
            stored.prev_hash.clone().unwrap_or_default(),
            stored.hash.clone().unwrap_or_default(),
        );
        let event = Pending {
            at: stored.at,
            actor_id: stored.actor_id,
            on_behalf_of_id: stored.on_behalf_of_id,
            channel: stored.channel,
            action: stored.action,
            subject_type: stored.subject_type,
            subject_id: stored.subject_id,
            apply_id: stored.apply_id,
            detail: stored.detail,
        };
        let end_seq = self.end.as_ref().map_or(i32::MAX, |end| end.seq);
        if seq > end_seq {
            if !self.past_end {
                self.past_end = true;
                report.problems.push(Problem::Inserted {
                    id: stored.id,
                    chain: Some(self.chain),
                });
            }
        } else if seq > self.expected.seq + 1 {
            report.problems.push(Problem::Removed {
                chain: self.chain,
                from: self.expected.seq + 1,
                to: seq - 1,
                before: Some(stored.id),
            });
        }
        let gap = seq != self.expected.seq + 1;
        if hash_of(&prev, &canonical(self.chain, seq, &event)) != hash {
            report.problems.push(Problem::Altered {
                id: stored.id,
                chain: self.chain,
                seq,
            });
        } else if !gap && prev != self.expected.prev() {
            report.problems.push(Problem::Relinked {
                id: stored.id,
                chain: self.chain,
                seq,
                after: self.last_id.unwrap_or(stored.id),
            });
        }
        if seq <= end_seq {
            self.expected = Head {
                seq,
                hash: Some(hash),
            };
            self.last_id = Some(stored.id);
        }
    }

    fn finish(self, report: &mut Report) {
        let Some(end) = self.end else {
            return;
        };
        if end.seq > self.expected.seq {
            report.problems.push(Problem::Removed {
                chain: self.chain,
                from: self.expected.seq + 1,
                to: end.seq,
                before: None,
            });
        } else if end.seq == self.expected.seq
            && end.hash != self.expected.hash
            && let Some(id) = self.last_id
        {
            report.problems.push(Problem::EndDiffers {
                id,
                chain: self.chain,
                seq: end.seq,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(detail: &str) -> Pending {
        Pending {
            at: chrono::NaiveDate::from_ymd_opt(2026, 12, 6)
                .unwrap()
                .and_hms_micro_opt(21, 46, 13, 123_456)
                .unwrap(),
            actor_id: Some(UserId(7)),
            on_behalf_of_id: None,
            channel: Channel::EmailLink,
            action: "assignment.approved".into(),
            subject_type: "apply".into(),
            subject_id: Some(12),
            apply_id: Some(12),
            detail: detail.into(),
        }
    }

    #[test]
    fn the_canonical_text_is_a_compact_json_array_of_the_fields_in_order() {
        assert_eq!(
            canonical(12, 3, &event(r#"{"comment":"好"}"#)),
            r#"[12,3,"2026-12-06 21:46:13.123456",7,null,"email_link","assignment.approved","apply",12,12,"{\"comment\":\"好\"}"]"#
        );
    }

    #[test]
    fn a_hash_is_the_sha256_of_the_hash_before_a_newline_and_the_text() {
        // printf '%s\n%s' "$GENESIS" 'x' | sha256sum
        let mut hasher = Sha256::new();
        hasher.update(format!("{GENESIS}\nx"));
        assert_eq!(hash_of(GENESIS, "x"), hex::encode(hasher.finalize()));
        assert_ne!(hash_of(GENESIS, "x"), hash_of(GENESIS, "y"));
        assert_eq!(hash_of(GENESIS, "x").len(), 64);
    }

    #[test]
    fn times_are_cut_to_the_microsecond_the_databases_keep() {
        let at = chrono::NaiveDate::from_ymd_opt(2026, 12, 6)
            .unwrap()
            .and_hms_nano_opt(1, 2, 3, 123_456_789)
            .unwrap();
        assert_eq!(to_micros(at).nanosecond(), 123_456_000);
    }

    #[test]
    fn the_time_in_the_text_is_written_as_chrono_writes_it() {
        for (date, nano) in [
            ((2026, 12, 6), 123_456_789),
            ((999, 1, 2), 0),
            ((2027, 3, 15), 7_000),
        ] {
            let at = chrono::NaiveDate::from_ymd_opt(date.0, date.1, date.2)
                .unwrap()
                .and_hms_nano_opt(23, 4, 5, nano)
                .unwrap();
            assert_eq!(stamp(at), at.format("%Y-%m-%d %H:%M:%S%.6f").to_string());
        }
    }
}
