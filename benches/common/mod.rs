//! What the benchmarks share: settings from the environment, the server
//! process they measure (its memory read from /proc), and a mail server.

#[allow(dead_code)] // the calendar, dashboards and http benchmarks use it
pub mod setup;
#[allow(dead_code)] // the tickets benchmark mails; the http one does not
pub mod smtp;

use std::process::Child;
use std::time::{Duration, Instant};

pub fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The release binary running as its own process; stopped when dropped.
pub struct Server(pub Child);

impl Drop for Server {
    /// Asks the server to stop (SIGTERM, so a profiler wrapping it writes
    /// its data) and kills it if it is still there after 10 s.
    fn drop(&mut self) {
        let asked = std::process::Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        while asked && Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Server {
    /// Resident memory in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.0.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// CPU time the server has used (user and system), in seconds.
    #[allow(dead_code)] // the tickets benchmark reads it; the http one does not
    pub fn cpu_secs(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.0.id())).unwrap_or_default();
        cpu_of(&stat).map_or(0.0, |(_, secs)| secs)
    }
}

/// A process's command name and CPU time (user and system, in seconds)
/// from its `/proc/PID/stat`. The fields after the command name (which may
/// hold spaces): utime and stime are the 12th and 13th, in clock ticks of
/// 1/100 s.
#[allow(dead_code)] // the tickets benchmark reads it; the http one does not
fn cpu_of(stat: &str) -> Option<(&str, f64)> {
    let (head, rest) = stat.rsplit_once(')')?;
    let name = head.split_once('(').map_or("", |(_, n)| n);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    Some((name, (ticks(11) + ticks(12)) / 100.0))
}

/// CPU time (user and system, in seconds) used so far by every process of
/// this machine named `postgres`: the database server's own work, when it
/// runs here. Processes that ended meanwhile are not counted, so a
/// difference of two readings is a lower bound (PostgreSQL keeps its
/// connections' processes for as long as the server keeps its pool).
#[allow(dead_code)] // the tickets benchmark reads it; the http one does not
pub fn postgres_cpu_secs() -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    entries
        .flatten()
        .filter_map(|entry| std::fs::read_to_string(entry.path().join("stat")).ok())
        .filter_map(|stat| {
            cpu_of(&stat).and_then(|(name, secs)| (name == "postgres").then_some(secs))
        })
        .sum()
}
