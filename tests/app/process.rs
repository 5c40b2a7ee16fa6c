//! The real binary as a process of its own, for what only a
//! process shows: its memory, a `kill -9`, a SIGTERM, two instances
//! starting at once, a disk that fills up.

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// `countersign serve` on a port of its own; killed when dropped.
pub struct Server {
    child: Child,
    pub port: u16,
    pub base: String,
}

/// A port nobody listens on just now.
pub fn unused_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Server {
    /// Starts `countersign serve` (with `args`, such as `--demo`) on
    /// `database_url`, with `env` on top of a quiet default.
    pub fn start(
        database_url: &str,
        data_dir: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Server {
        Self::start_on(unused_port(), database_url, data_dir, args, env)
    }

    /// Like `start`, on `port` (the same server starting again).
    pub fn start_on(
        port: u16,
        database_url: &str,
        data_dir: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Server {
        let command = Command::new(env!("CARGO_BIN_EXE_countersign"));
        Self::start_with(command, port, database_url, data_dir, args, env)
    }

    /// Like `start_on`, through `command` (which ends by running the
    /// binary, e.g. inside a mount namespace).
    pub fn start_with(
        mut command: Command,
        port: u16,
        database_url: &str,
        data_dir: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Server {
        command
            .arg("serve")
            .args(args)
            .env("DATABASE_URL", database_url)
            .env("DATA_DIR", data_dir)
            .env("BIND", format!("127.0.0.1:{port}"))
            .env(
                "RUST_LOG",
                std::env::var("TEST_LOG").map_or("error".into(), |_| "info".to_string()),
            )
            .env(
                "SECRET_KEY",
                "test-secret-key-that-is-long-enough-for-signing-cookies",
            )
            .stdout(if std::env::var("TEST_LOG").is_ok() {
                Stdio::inherit()
            } else {
                Stdio::null()
            });
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command.spawn().expect("start countersign");
        Server {
            child,
            port,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Waits (up to 60 s) until the server answers its health check.
    pub async fn ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("countersign exited before it was ready: {status}");
            }
            if let Ok(res) = reqwest::get(self.url("/healthz")).await
                && res.status().is_success()
            {
                return;
            }
            assert!(Instant::now() < deadline, "countersign did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory in MiB.
    pub fn rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
            .map_or(0.0, |kib| kib / 1024.0)
    }

    /// `kill -9`: no chance to clean up.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, as a service manager stops it; waits (up to 60 s) for it
    /// to exit, while the test's own servers (SMTP) keep answering.
    pub async fn terminate(&mut self) -> ExitStatus {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(Instant::now() < deadline, "countersign did not stop");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.running() {
            self.kill();
        }
    }
}
