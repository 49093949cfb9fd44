//! Starts a real Gatehouse server as a child process (this same executable, `serve`) on a fresh
//! data directory and a free port, creates its staff token, and reads its peak memory.

use std::path::PathBuf;
use std::process::Stdio;

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub struct Spawned {
    pub child: Child,
    pub addr: String,
    pub admin_token: String,
    data_dir: PathBuf,
    pg_url: Option<String>,
    schema: String,
    env: Vec<(String, String)>,
    _dir: Option<tempdir::TempDir>,
}

impl Spawned {
    /// Stops the server and starts it again on the same data: every in-memory cache is cold.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.child.start_kill()?;
        self.child.wait().await?;
        let (child, addr) = start_serve(
            &self.data_dir,
            self.pg_url.as_deref(),
            &self.schema,
            &self.env,
        )
        .await?;
        self.child = child;
        self.addr = addr;
        Ok(())
    }
}

async fn start_serve(
    data_dir: &std::path::Path,
    pg_url: Option<&str>,
    schema: &str,
    env: &[(String, String)],
) -> anyhow::Result<(Child, String)> {
    let mut serve = Command::new(std::env::current_exe()?);
    serve
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    env_for(&mut serve, data_dir, pg_url, schema);
    serve.envs(env.iter().map(|(k, v)| (k, v)));
    let mut child = serve.spawn().context("starting gatehouse serve")?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let addr = loop {
        let line = lines
            .next_line()
            .await?
            .context("server exited before listening")?;
        if let Some(rest) = line.split("http://").nth(1) {
            break rest.trim().to_owned();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((child, addr))
}

mod tempdir {
    /// A directory removed on drop.
    pub struct TempDir(pub std::path::PathBuf);
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Where the server keeps its data, and which database it uses.
pub struct ServerSetup {
    pub data_dir: Option<PathBuf>,
    /// `postgres://…` to run on PostgreSQL (in a fresh schema), or None for SQLite.
    pub pg_url: Option<String>,
    /// More `GATEHOUSE_…` settings for the server.
    pub env: Vec<(String, String)>,
}

/// The traffic-protection policy benchmark servers run unless told otherwise: every check runs,
/// no limit is set (every client comes from 127.0.0.1, so the built-in per-address limits would
/// measure the limits, not the server). `bench shield` measures the limits themselves.
pub const OPEN_POLICY: &str = "version = 1\n";

fn env_for(cmd: &mut Command, data_dir: &std::path::Path, pg_url: Option<&str>, schema: &str) {
    let policy = data_dir.join("shield-open.toml");
    if !policy.exists() {
        let _ = std::fs::write(&policy, OPEN_POLICY);
    }
    cmd.env("GATEHOUSE_DATA_DIR", data_dir)
        .env("GATEHOUSE_SHIELD__POLICY", &policy)
        .env("GATEHOUSE_LISTEN", "127.0.0.1:0")
        .env("GATEHOUSE_DEMO_CATALOGUE", "false")
        .env("GATEHOUSE_PAYMENTS__MODE", "off")
        // Every benchmark client signs in from 127.0.0.1.
        .env(
            "GATEHOUSE_IDENTITY__LIMITS__CODE_SENDS_PER_IP__BURST",
            "100000000",
        )
        .env(
            "GATEHOUSE_IDENTITY__LIMITS__CODE_FAILURES_PER_IP__BURST",
            "100000000",
        )
        .env(
            "GATEHOUSE_LOG",
            std::env::var("GH_BENCH_SERVER_LOG").unwrap_or_else(|_| "warn".into()),
        )
        // Benchmark clients are one script on one address booking for thousands of accounts:
        // risk control assesses and records every booking (its cost is measured) without
        // refusing them. `sim rush` sets `enforce`.
        .env("GATEHOUSE_RISK__MODE", "observe");
    if let Some(url) = pg_url {
        cmd.env("GATEHOUSE_DATABASE__URL", url)
            .env("GATEHOUSE_DATABASE__PG_SCHEMA", schema);
    }
}

pub async fn spawn(setup: ServerSetup) -> anyhow::Result<Spawned> {
    let exe = std::env::current_exe()?;
    let (data_dir, owned) = match setup.data_dir {
        Some(d) => (d, None),
        None => {
            let d = std::env::temp_dir().join(format!("gatehouse-bench-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(&d)?;
            (d.clone(), Some(tempdir::TempDir(d)))
        }
    };
    let schema = format!("bench_{}", std::process::id());

    let mut admin = Command::new(&exe);
    admin
        .args([
            "admin",
            "create-account",
            "--name",
            "bench-staff",
            "--roles",
            "administrator",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    env_for(&mut admin, &data_dir, setup.pg_url.as_deref(), &schema);
    let out = admin
        .output()
        .await
        .context("running gatehouse admin create-account")?;
    anyhow::ensure!(out.status.success(), "admin create-account failed");
    let created: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let admin_token = created
        .get("token")
        .and_then(|t| t.as_str())
        .context("no token printed")?
        .to_owned();

    let (child, addr) =
        start_serve(&data_dir, setup.pg_url.as_deref(), &schema, &setup.env).await?;
    Ok(Spawned {
        child,
        addr,
        admin_token,
        data_dir,
        pg_url: setup.pg_url,
        schema,
        env: setup.env,
        _dir: owned,
    })
}

/// The peak resident memory of a process, in MiB (Linux `VmHWM`).
pub fn peak_rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// CPU seconds (user + system) a process has used so far (Linux `/proc/<pid>/stat`).
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start at ") ".
    let rest = stat.rsplit_once(") ")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}
