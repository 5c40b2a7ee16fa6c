//! What `/metrics` serves, with prometheus-client: one `Metrics` per
//! database handle (`Db::metrics`; a server has one, and each test's
//! server counts apart), depending on nothing of ours so that every layer
//! but `flow` may use it. The store notes what a unit of work did to
//! tickets (`note`), and the database layer counts it only once that unit
//! has committed (`take_noted`, `Metrics::count`): a refused or rolled-back
//! action never counts. The web layer measures requests; what is read at
//! scrape time arrives as `Readings`.

use std::cell::RefCell;
use std::sync::LazyLock;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::{EncodeLabelSet, prometheus_text};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The content type of what `Metrics::encode` writes: Prometheus' text
/// format 0.0.4 (what `promtool check metrics` reads).
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// The route label of a request no route served.
pub const UNMATCHED: &str = "unmatched";

/// Request durations' bucket bounds, in seconds: SQLite answers a page in
/// well under a millisecond, a CSV export may take seconds.
const DURATION_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Request {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Route {
    method: &'static str,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Process {
    kind: &'static str,
    process: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Ended {
    kind: &'static str,
    process: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Vote {
    channel: &'static str,
    decision: &'static str,
}

/// What a unit of work did that `/metrics` counts once it commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Noted {
    /// A ticket of a process (its kind and English name) was filed.
    Filed { kind: &'static str, process: String },
    /// A ticket ended: `outcome` is its end status as stored
    /// (`finished`, `rejected`, `withdrawn`).
    Ended {
        kind: &'static str,
        process: String,
        outcome: &'static str,
    },
    /// A vote was cast on a step through a channel (`web`, `email_link`,
    /// `batch`, `api`, `timer`, …) as stored (`approve`, `reject`,
    /// `send_back`, `done`).
    Decided {
        channel: &'static str,
        decision: &'static str,
    },
}

thread_local! {
    /// What the unit of work running on this thread noted so far.
    static NOTED: RefCell<Vec<Noted>> = const { RefCell::new(Vec::new()) };
}

/// Notes what the unit of work running on this thread did; it is counted
/// if that unit commits (the database layer takes it, `take_noted`).
pub fn note(noted: Noted) {
    NOTED.with_borrow_mut(|all| all.push(noted));
}

/// Hands over (and forgets) what this thread's unit of work noted.
pub fn take_noted() -> Vec<Noted> {
    NOTED.with_borrow_mut(std::mem::take)
}

/// When this process started serving, as far as anyone asks: the first
/// `Metrics` made (the server's database opened) fixes it.
static STARTED: LazyLock<f64> = LazyLock::new(|| {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
});

/// The live metrics of one database handle and the server beside it.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<Request, Counter>,
    durations: Family<Route, Histogram, fn() -> Histogram>,
    filed: Family<Process, Counter>,
    ended: Family<Ended, Counter>,
    decisions: Family<Vote, Counter>,
    pool_waits: Counter,
    pool_waited: Counter<f64, AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        LazyLock::force(&STARTED);
        let mut registry = Registry::default();
        let requests = Family::<Request, Counter>::default();
        let durations: Family<Route, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(|| Histogram::new(DURATION_BUCKETS));
        let filed = Family::<Process, Counter>::default();
        let ended = Family::<Ended, Counter>::default();
        let decisions = Family::<Vote, Counter>::default();
        let pool_waits = Counter::default();
        let pool_waited = Counter::<f64, AtomicU64>::default();
        registry.register(
            "countersign_http_requests",
            "HTTP requests answered, by method, route pattern (`unmatched` for addresses no route serves) and status",
            requests.clone(),
        );
        registry.register(
            "countersign_http_request_duration_seconds",
            "Time from a request's arrival to its answer's head, by method and route pattern",
            durations.clone(),
        );
        registry.register(
            "countersign_tickets_filed",
            "Tickets filed, by process kind and process name, counted once committed",
            filed.clone(),
        );
        registry.register(
            "countersign_tickets_finished",
            "Tickets that ended, by process kind, process name and outcome (their end status: finished, rejected or withdrawn), counted once committed",
            ended.clone(),
        );
        registry.register(
            "countersign_decisions",
            "Votes cast on steps, by channel (web, email_link, batch, api, timer, ...) and decision, counted once committed",
            decisions.clone(),
        );
        registry.register(
            "countersign_db_pool_waits",
            "Units of work that found no database connection free and waited for one",
            pool_waits.clone(),
        );
        registry.register(
            "countersign_db_pool_wait_seconds",
            "Seconds units of work waited for a database connection, in all",
            pool_waited.clone(),
        );
        Metrics {
            registry,
            requests,
            durations,
            filed,
            ended,
            decisions,
            pool_waits,
            pool_waited,
        }
    }

    /// Counts a request answered with `status` after `took`; `route` is
    /// the pattern of the route that served it, or `UNMATCHED`.
    pub fn request(&self, method: &str, route: &str, status: u16, took: Duration) {
        let method = known_method(method);
        self.requests
            .get_or_create(&Request {
                method,
                route: route.to_string(),
                status,
            })
            .inc();
        self.durations
            .get_or_create(&Route {
                method,
                route: route.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    /// Counts what a committed unit of work noted.
    pub fn count(&self, noted: Vec<Noted>) {
        for one in noted {
            match one {
                Noted::Filed { kind, process } => {
                    self.filed.get_or_create(&Process { kind, process }).inc();
                }
                Noted::Ended {
                    kind,
                    process,
                    outcome,
                } => {
                    self.ended
                        .get_or_create(&Ended {
                            kind,
                            process,
                            outcome,
                        })
                        .inc();
                }
                Noted::Decided { channel, decision } => {
                    self.decisions
                        .get_or_create(&Vote { channel, decision })
                        .inc();
                }
            }
        }
    }

    /// Counts a wait of `took` for a database connection.
    pub fn waited(&self, took: Duration) {
        self.pool_waits.inc();
        self.pool_waited.inc_by(took.as_secs_f64());
    }

    /// Everything, in Prometheus' text format: the live metrics, then
    /// what this scrape read.
    pub fn encode(&self, readings: &Readings) -> Result<String, std::fmt::Error> {
        let mut out = String::with_capacity(8 * 1024);
        prometheus_text::encode(&mut out, &self.registry)?;
        prometheus_text::encode(&mut out, &readings.registry())?;
        Ok(out)
    }
}

/// The methods counted by name; any other is `other`, so a client
/// cannot make new series by inventing methods.
fn known_method(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

/// What a scrape reads as it is asked: the database's counters and pool,
/// what waits in it, and the process's memory.
#[derive(Debug, Clone, Default)]
pub struct Readings {
    /// Statements and transactions the database's connections have sent,
    /// less those of scrapes.
    pub statements: u64,
    pub transactions: u64,
    /// Statements scrapes have sent (the reads below), counted apart.
    pub scrape_statements: u64,
    /// Pooled connections at work, idle, and the most the pool makes.
    pub pool_in_use: u32,
    pub pool_idle: u32,
    pub pool_max: u32,
    /// What waits in the database.
    pub backlog: Backlog,
}

/// What waits in the database, read at scrape time in one unit of work.
#[derive(Debug, Clone, Default)]
pub struct Backlog {
    /// Messages waiting to be sent, and given up on (each counted up to
    /// a cap: a larger backlog costs no more to read).
    pub outbox_unsent: i64,
    pub outbox_failed: i64,
    /// How long the oldest unsent message has waited; 0 when none waits.
    pub oldest_unsent_secs: f64,
    /// Webhook deliveries that failed and wait to be tried again.
    pub webhook_retries: i64,
    /// Events of the webhook stream the active endpoint furthest behind
    /// has not yet been sent (up to a cap).
    pub webhook_events_unsent: i64,
    /// Timers (reminders, deadlines) due and not yet fired.
    pub timers_due: i64,
    /// Steps of running tickets waiting past their deadline.
    pub steps_overdue: i64,
}

impl Readings {
    fn registry(&self) -> Registry {
        let mut r = Registry::default();
        r.register(
            "countersign_db_statements",
            "Statements sent to the database, including BEGIN and COMMIT (each a round trip on PostgreSQL); not those of /metrics itself, counted in countersign_db_scrape_statements_total",
            ConstCounter::new(self.statements),
        );
        r.register(
            "countersign_db_transactions",
            "Database transactions begun, not those of /metrics itself",
            ConstCounter::new(self.transactions),
        );
        r.register(
            "countersign_db_scrape_statements",
            "Statements /metrics itself sent to read what waits in the database, counted apart so that scraping moves no other figure",
            ConstCounter::new(self.scrape_statements),
        );
        let pool = Family::<[(&'static str, &'static str); 1], Gauge>::default();
        pool.get_or_create(&[("state", "in_use")])
            .set(i64::from(self.pool_in_use));
        pool.get_or_create(&[("state", "idle")])
            .set(i64::from(self.pool_idle));
        r.register(
            "countersign_db_pool_connections",
            "Pooled database connections at work (in_use) and idle",
            pool,
        );
        r.register(
            "countersign_db_pool_max_connections",
            "The most connections the pool opens (DB_POOL_SIZE)",
            ConstGauge::new(i64::from(self.pool_max)),
        );
        let b = &self.backlog;
        r.register(
            "countersign_outbox_unsent_messages",
            "Messages in the outbox waiting to be sent (counted up to 100000)",
            ConstGauge::new(b.outbox_unsent),
        );
        r.register(
            "countersign_outbox_failed_messages",
            "Messages given up on (counted up to 100000)",
            ConstGauge::new(b.outbox_failed),
        );
        r.register(
            "countersign_outbox_oldest_unsent_age_seconds",
            "How long the oldest message waiting to be sent has waited; 0 when none waits",
            ConstGauge::new(b.oldest_unsent_secs),
        );
        r.register(
            "countersign_webhook_retries_waiting",
            "Webhook deliveries that failed and wait to be tried again",
            ConstGauge::new(b.webhook_retries),
        );
        r.register(
            "countersign_webhook_events_unsent",
            "Events of the webhook stream not yet sent to the active endpoint furthest behind (counted up to 100000)",
            ConstGauge::new(b.webhook_events_unsent),
        );
        r.register(
            "countersign_timers_due",
            "Timers (reminders, deadlines) that are due and not yet fired",
            ConstGauge::new(b.timers_due),
        );
        r.register(
            "countersign_steps_overdue",
            "Steps of running tickets still waiting past their deadline",
            ConstGauge::new(b.steps_overdue),
        );
        let (resident, virtual_) = memory();
        r.register(
            "process_resident_memory_bytes",
            "Resident memory size in bytes",
            ConstGauge::new(resident),
        );
        r.register(
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes",
            ConstGauge::new(virtual_),
        );
        r.register(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds",
            ConstGauge::new(*STARTED),
        );
        r
    }
}

/// This process's resident and virtual memory in bytes, from
/// `/proc/self/status` (kB there); zeros where there is no such file.
fn memory() -> (i64, i64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = |key: &str| -> i64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<i64>().ok())
            .map_or(0, |n| n * 1024)
    };
    (kb("VmRSS:"), kb("VmSize:"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_unit_noted_is_handed_over_once() {
        note(Noted::Decided {
            channel: "web",
            decision: "approve",
        });
        assert_eq!(take_noted().len(), 1);
        assert!(take_noted().is_empty());
    }

    #[test]
    fn counts_appear_with_their_labels_in_the_text_format() {
        let m = Metrics::new();
        m.count(vec![
            Noted::Filed {
                kind: "request",
                process: "Purchase \"fast\"".into(),
            },
            Noted::Decided {
                channel: "email_link",
                decision: "approve",
            },
        ]);
        m.request("BREW", "/tickets/{id}", 200, Duration::from_millis(3));
        let text = m.encode(&Readings::default()).unwrap();
        assert!(
            text.contains(
                "countersign_tickets_filed_total{kind=\"request\",process=\"Purchase \\\"fast\\\"\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains(
            "countersign_decisions_total{channel=\"email_link\",decision=\"approve\"} 1"
        ));
        assert!(text.contains(
            "countersign_http_requests_total{method=\"other\",route=\"/tickets/{id}\",status=\"200\"} 1"
        ));
        assert!(text.contains("# TYPE countersign_db_statements_total counter"));
        assert!(!text.contains("# EOF"));
    }

    #[test]
    fn the_process_memory_is_read() {
        let (resident, virtual_) = memory();
        if std::path::Path::new("/proc/self/status").exists() {
            assert!(resident > 0 && virtual_ >= resident);
        }
    }
}
