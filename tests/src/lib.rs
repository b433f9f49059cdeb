//! Helpers for baobi's end-to-end tests: a real `baobi-hub` process on loopback and real `baobi-agent`
//! processes, each with its own sled store in a temporary folder.
//!
//! Tests read as specifications on top of these: `Hub::start()`, `hub.enroll_agent("30226")`,
//! `agent.ok(&[...])`. Nothing is mocked; the binaries are the ones `cargo test --workspace` builds
//! (the agent and hub crates' own CLI tests make cargo build them).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

pub mod app;
pub mod chromium;
mod data;
mod ports;
pub mod raw;
mod web;

pub use data::*;
pub use ports::*;
pub use web::*;

/// Path of a workspace binary built next to the running test executable.
pub fn bin(name: &str) -> PathBuf {
    let var = format!(
        "BAOBI_{}_BIN",
        name.trim_start_matches("baobi-").to_uppercase()
    );
    if let Ok(p) = std::env::var(var) {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test executable path");
    // target/debug/deps/e2e-xxxx → target/debug/NAME
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let p = dir.join(name);
    assert!(
        p.exists(),
        "{} not built: run the tests with `cargo test --workspace`",
        p.display()
    );
    p
}

fn check(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

/// Output of a command as text, for assertions on failures.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A provincial hub: its store, and its serving process when started.
pub struct Hub {
    /// The hub's data folder.
    pub dir: TempDir,
    child: Option<Child>,
    /// The address it listens on (the same port across restarts).
    pub addr: Option<SocketAddr>,
    /// The dashboard's address when started with [`Hub::serve_http`].
    pub http: Option<SocketAddr>,
    /// The dashboard serves HTTPS ([`Hub::serve_https`]).
    pub https: bool,
    /// Extra environment for `serve` (e.g. short deadlines: `BAOBI_HUB_FIRST_MESSAGE_SECS`).
    pub serve_env: Vec<(String, String)>,
    /// When set, `serve` appends its stderr (its logs) to this file instead of the test's stderr.
    pub serve_stderr: Option<PathBuf>,
}

impl Hub {
    /// `baobi-hub init` for Đồng Tháp (87), the province of seed plan 000.
    pub fn init() -> Hub {
        Hub::init_with(&[])
    }

    /// `baobi-hub init` for Đồng Tháp (87) with more arguments (e.g. `--plan dong-thap-2021`).
    pub fn init_with(extra: &[&str]) -> Hub {
        Hub::init_province("87", "Đồng Tháp", extra)
    }

    /// `baobi-hub init` for another seed province (e.g. Đồng Nai, 75) with more arguments.
    pub fn init_province(province: &str, name: &str, extra: &[&str]) -> Hub {
        Hub::init_at(
            tempfile::tempdir().expect("temp dir"),
            province,
            name,
            extra,
        )
    }

    /// `baobi-hub init` for Đồng Tháp (87) with its data folder in `parent` (e.g. a fault file system).
    pub fn init_in(parent: &Path) -> Hub {
        Hub::init_at(
            tempfile::tempdir_in(parent).expect("temp dir"),
            "87",
            "Đồng Tháp",
            &[],
        )
    }

    fn init_at(dir: TempDir, province: &str, name: &str, extra: &[&str]) -> Hub {
        let hub = Hub {
            dir,
            child: None,
            addr: None,
            http: None,
            https: false,
            serve_env: vec![],
            serve_stderr: None,
        };
        let mut args = vec!["init", "--province", province, "--name", name];
        args.extend_from_slice(extra);
        hub.ok(&args);
        hub
    }

    /// A standby of `primary` (which must be serving): `standby token` there, then
    /// `init --standby-of TOKEN --addr A` here, `A` a free loopback port it will serve on (offices'
    /// tokens name it). Not serving yet.
    pub fn standby_of(primary: &Hub) -> Hub {
        let addr = restartable_port();
        Hub::standby_of_at(primary, addr, addr)
    }

    /// As [`Hub::standby_of`], serving (later) on `listen` while offices' tokens name `advertised`
    /// (e.g. a simulated link in front of it).
    pub fn standby_of_at(primary: &Hub, listen: SocketAddr, advertised: SocketAddr) -> Hub {
        let addr = listen;
        let token = primary.ok(&["standby", "token"]).trim().to_string();
        let hub = Hub {
            dir: tempfile::tempdir().expect("temp dir"),
            child: None,
            addr: Some(addr),
            http: None,
            https: false,
            serve_env: vec![],
            serve_stderr: None,
        };
        hub.ok(&[
            "init",
            "--standby-of",
            &token,
            "--addr",
            &advertised.to_string(),
        ]);
        hub
    }

    /// `baobi-hub init --national`: a national hub (`province add TOKEN` adds a province). Not
    /// serving.
    pub fn national() -> Hub {
        let hub = Hub {
            dir: tempfile::tempdir().expect("temp dir"),
            child: None,
            addr: None,
            http: None,
            https: false,
            serve_env: vec![],
            serve_stderr: None,
        };
        hub.ok(&["init", "--national"]);
        hub
    }

    /// A hub initialised with more arguments and serving.
    pub fn start_with(extra: &[&str]) -> Hub {
        let mut hub = Hub::init_with(extra);
        hub.serve();
        hub
    }

    /// `indicators --year Y [--unit CODE] --json`.
    pub fn indicators(&self, year: u16, unit: Option<&str>) -> Value {
        let y = year.to_string();
        let mut args = vec!["indicators", "--year", &y];
        if let Some(u) = unit {
            args.extend_from_slice(&["--unit", u]);
        }
        self.json(&args)
    }

    /// A hub made by `baobi-hub restore --from FILE` in a new folder, not serving yet; it will serve
    /// on `addr` (give the old hub's address: the offices' tokens name it).
    pub fn restored(file: &Path, addr: Option<SocketAddr>) -> Hub {
        let hub = Hub {
            dir: tempfile::tempdir().expect("temp dir"),
            child: None,
            addr,
            http: None,
            https: false,
            serve_env: vec![],
            serve_stderr: None,
        };
        let out = Command::new(bin("baobi-hub"))
            .args(["restore", "--json", "--from"])
            .arg(file)
            .arg("--data")
            .arg(hub.dir.path())
            .env("RUST_LOG", "warn")
            .output()
            .expect("run baobi-hub restore");
        check(out, "baobi-hub restore --from");
        hub
    }

    /// A hub initialised and serving.
    pub fn start() -> Hub {
        let mut hub = Hub::init();
        hub.serve();
        hub
    }

    /// A hub initialised and serving with extra environment (kept across restarts).
    pub fn start_with_env(env: &[(&str, &str)]) -> Hub {
        let mut hub = Hub::init();
        hub.serve_env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        hub.serve();
        hub
    }

    /// Process id of the serving hub.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Resident memory of the serving hub in KiB (`VmRSS` of `/proc/PID/status`).
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// Runs `baobi-hub ARGS --data DIR`.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(bin("baobi-hub"))
            .args(args)
            .arg("--data")
            .arg(self.dir.path())
            .env("RUST_LOG", "warn")
            .output()
            .expect("run baobi-hub")
    }

    /// Runs a hub command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        check(self.run(args), &format!("baobi-hub {args:?}"))
    }

    /// Runs a hub command with `--json` and parses its stdout.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.push("--json");
        serde_json::from_str(&self.ok(&a)).expect("hub JSON")
    }

    /// Starts `baobi-hub serve` on loopback (a free port outside the ephemeral range the first time,
    /// the same port after: see [`restartable_port`]).
    pub fn serve(&mut self) {
        self.serve_with(&[]);
    }

    /// Starts `baobi-hub serve` with the dashboard on a free loopback port (`--http 127.0.0.1:0`).
    pub fn serve_http(&mut self) {
        self.serve_with(&["--http", "127.0.0.1:0"]);
    }

    /// Starts `baobi-hub serve` with the dashboard over HTTPS on a free loopback port, with the
    /// hub's own certificate, and more arguments (e.g. `--metrics-token`).
    pub fn serve_https(&mut self, extra: &[&str]) {
        let mut args = vec!["--http", "127.0.0.1:0", "--http-tls"];
        args.extend_from_slice(extra);
        self.serve_with(&args);
    }

    /// Starts `baobi-hub serve` with `extra` arguments; a `--http` among them means the dashboard's
    /// address is read from the second stdout line.
    pub fn serve_with(&mut self, extra: &[&str]) {
        assert!(self.child.is_none(), "hub already serving");
        let http = extra.contains(&"--http");
        let listen = self.addr.unwrap_or_else(restartable_port).to_string();
        let mut child = Command::new(bin("baobi-hub"))
            .args(["serve", "--listen", &listen, "--data"])
            .arg(self.dir.path())
            .args(extra)
            .env("RUST_LOG", "info")
            .envs(self.serve_env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(match &self.serve_stderr {
                Some(p) => Stdio::from(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(p)
                        .expect("serve log file"),
                ),
                None => Stdio::inherit(),
            })
            .spawn()
            .expect("spawn baobi-hub serve");
        let mut line = String::new();
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        out.read_line(&mut line).expect("read listen line");
        if http {
            let mut l2 = String::new();
            out.read_line(&mut l2).expect("read dashboard line");
            self.https = l2.contains("https://");
            let a = l2
                .trim()
                .trim_end_matches('/')
                .rsplit("://")
                .next()
                .and_then(|a| a.parse().ok())
                .unwrap_or_else(|| panic!("unexpected second line from serve: {l2:?}"));
            self.http = Some(a);
        }
        let addr = line
            .trim()
            .rsplit(' ')
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line from serve: {line:?}"));
        self.addr = Some(addr);
        self.child = Some(child);
        // The control socket comes up with the listener; give the process a moment to settle.
        wait_for(Duration::from_secs(10), || {
            self.dir.path().join("hub.sock").exists()
        });
    }

    /// Stops the serving process gracefully (SIGTERM) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(15);
            loop {
                if c.try_wait().expect("wait hub").is_some() {
                    break;
                }
                if Instant::now() > deadline {
                    let _ = c.kill();
                    let _ = c.wait();
                    panic!("hub did not stop on SIGTERM within 15 s");
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// Kills the serving process abruptly (SIGKILL).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// True while the serving process runs.
    pub fn is_serving(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    /// A one-time enrollment token for an office at `unit`.
    pub fn token(&self, unit: &str) -> String {
        let addr = self.addr.expect("hub has served").to_string();
        self.ok(&["enroll", "--unit", unit, "--addr", &addr])
            .trim()
            .to_string()
    }

    /// Enrolls a new agent at `unit` (the hub must be serving).
    pub fn enroll_agent(&self, unit: &str) -> Agent {
        self.enroll_agent_as(unit, Agent::new())
    }

    /// Enrolls a new agent at `unit` whose data folder is in `parent` (e.g. a fault file system).
    pub fn enroll_agent_in(&self, unit: &str, parent: &Path) -> Agent {
        self.enroll_agent_as(unit, Agent::new_in(parent))
    }

    fn enroll_agent_as(&self, unit: &str, mut agent: Agent) -> Agent {
        let token = self.token(unit);
        agent.ok(&[
            "init",
            "--token",
            &token,
            "--label",
            &format!("office {unit}"),
        ]);
        agent.token = token;
        agent
    }

    /// Adds a dashboard operator with `operator add NAME --password-stdin`.
    pub fn add_operator(&self, name: &str, password: &str) -> Output {
        use std::io::Write;
        let mut c = Command::new(bin("baobi-hub"))
            .args(["operator", "add", name, "--password-stdin", "--data"])
            .arg(self.dir.path())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run baobi-hub operator add");
        c.stdin
            .take()
            .expect("stdin")
            .write_all(format!("{password}\n").as_bytes())
            .expect("write password");
        c.wait_with_output().expect("operator add")
    }

    /// A dashboard client for the serving hub (not logged in).
    pub fn web(&self) -> Web {
        let addr = self.http.expect("hub serves the dashboard (serve_http)");
        if self.https {
            Web::tls(addr, &self.dashboard_cert())
        } else {
            Web::new(addr)
        }
    }

    /// The PEM of the dashboard's self-signed certificate (made at `init`).
    pub fn dashboard_cert(&self) -> String {
        std::fs::read_to_string(self.dir.path().join(baobi_hub::http::tls::CERT_FILE))
            .expect("the dashboard certificate in the data folder")
    }

    /// What Chromium's `--ignore-certificate-errors-spki-list` takes for the dashboard's own key:
    /// base64 of the SHA-256 of its SubjectPublicKeyInfo.
    pub fn dashboard_spki_hash(&self) -> String {
        let key = std::fs::read_to_string(self.dir.path().join(baobi_hub::http::tls::KEY_FILE))
            .expect("the dashboard key in the data folder");
        let kp = rcgen::KeyPair::from_pem(&key).expect("a PEM key");
        use sha2::Digest;
        data_encoding::BASE64.encode(&sha2::Sha256::digest(kp.public_key_der()))
    }

    /// Enrolls a new agent at `unit` whose token names `addr` (a link proxy in front of the hub).
    pub fn enroll_agent_at(&self, unit: &str, addr: SocketAddr) -> Agent {
        let mut agent = Agent::new();
        let token = self
            .ok(&["enroll", "--unit", unit, "--addr", &addr.to_string()])
            .trim()
            .to_string();
        agent.ok(&[
            "init",
            "--token",
            &token,
            "--label",
            &format!("office {unit}"),
        ]);
        agent.token = token;
        agent
    }

    /// Every merged record (`records --json`).
    pub fn records(&self) -> Vec<Value> {
        match self.json(&["records"]) {
            Value::Array(a) => a,
            other => panic!("records --json is not an array: {other}"),
        }
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A commune or district office's agent with its own store.
pub struct Agent {
    /// The agent's data folder.
    pub dir: TempDir,
    /// The token it enrolled with.
    pub token: String,
    daemon: Option<Child>,
}

impl Default for Agent {
    fn default() -> Self {
        Self::new()
    }
}

impl Agent {
    /// An agent with an empty store (not enrolled).
    pub fn new() -> Agent {
        Agent {
            dir: tempfile::tempdir().expect("temp dir"),
            token: String::new(),
            daemon: None,
        }
    }

    /// An agent with an empty store in a new folder inside `parent` (e.g. a fault file system).
    pub fn new_in(parent: &Path) -> Agent {
        Agent {
            dir: tempfile::tempdir_in(parent).expect("temp dir"),
            token: String::new(),
            daemon: None,
        }
    }

    /// Runs `baobi-agent --data DIR ARGS`.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(bin("baobi-agent"))
            .arg("--data")
            .arg(self.dir.path())
            .args(args)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run baobi-agent")
    }

    /// Runs `baobi-agent --data DIR ARGS` with extra environment (e.g. `BAOBI_CLOCK_OFFSET_SECS`).
    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        Command::new(bin("baobi-agent"))
            .arg("--data")
            .arg(self.dir.path())
            .args(args)
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .output()
            .expect("run baobi-agent")
    }

    /// Runs an agent command that must succeed; returns its stdout trimmed.
    pub fn ok(&self, args: &[&str]) -> String {
        check(self.run(args), &format!("baobi-agent {args:?}"))
            .trim()
            .to_string()
    }

    /// [`Agent::ok`] with extra environment.
    pub fn ok_env(&self, args: &[&str], env: &[(&str, &str)]) -> String {
        check(self.run_env(args, env), &format!("baobi-agent {args:?}"))
            .trim()
            .to_string()
    }

    /// The office's author key, hex (from `status --json`).
    pub fn author(&self) -> String {
        self.json(&["status"])["author"]
            .as_str()
            .expect("author in status")
            .to_string()
    }

    /// Runs an agent command with `--json` and parses its stdout.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.push("--json");
        serde_json::from_str(&self.ok(&a)).expect("agent JSON")
    }

    /// `sync --json`, which must succeed.
    pub fn sync(&self) -> Value {
        self.json(&["sync"])
    }

    /// Registers an outlet and returns its id.
    pub fn outlet(&self, kind: &str, name: &str, commune: &str, extra: &[&str]) -> String {
        let mut a = vec!["outlet", "add", kind, "--name", name, "--commune", commune];
        a.extend_from_slice(extra);
        self.ok(&a)
    }

    /// Records a market survey and returns its id.
    pub fn market_survey(
        &self,
        outlet: &str,
        date: &str,
        nonbio_kg: &str,
        extra: &[&str],
    ) -> String {
        let mut a = vec![
            "survey",
            "market",
            "--outlet",
            outlet,
            "--date",
            date,
            "--vendors-total",
            "180",
            "--vendors-surveyed",
            "60",
            "--nonbio-kg",
            nonbio_kg,
            "--vendors-nonbio",
            "45",
        ];
        a.extend_from_slice(extra);
        self.ok(&a)
    }

    /// Records a retail survey and returns its id.
    pub fn retail_survey(
        &self,
        outlet: &str,
        date: &str,
        gives_nonbio: bool,
        bags: &str,
    ) -> String {
        self.ok(&[
            "survey",
            "retail",
            "--outlet",
            outlet,
            "--date",
            date,
            "--gives-nonbio",
            if gives_nonbio { "yes" } else { "no" },
            "--nonbio-bags",
            bags,
        ])
    }

    /// Starts `baobi-agent ARGS` in the background (stdout piped, stderr inherited).
    pub fn spawn(&self, args: &[&str]) -> Child {
        Command::new(bin("baobi-agent"))
            .arg("--data")
            .arg(self.dir.path())
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn baobi-agent")
    }

    /// Writes `rows` (JSON objects) as a JSON Lines file and runs `survey import FILE --json`;
    /// returns the saved ids in order.
    pub fn import(&self, rows: &[Value]) -> Vec<String> {
        let file = self.dir.path().join(format!("import-{}.jsonl", rows.len()));
        let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
        std::fs::write(&file, text).expect("write import file");
        let path = file.to_string_lossy().into_owned();
        let saved = self.json(&["survey", "import", &path]);
        let _ = std::fs::remove_file(&file);
        saved
            .as_array()
            .expect("import --json is an array")
            .iter()
            .map(|r| r["id"].as_str().expect("id").to_string())
            .collect()
    }

    /// Starts `baobi-agent daemon` with a short interval.
    pub fn start_daemon(&mut self, interval_secs: u32) {
        self.start_daemon_with(interval_secs, &[]);
    }

    /// Starts `baobi-agent daemon` with a short interval and `extra` arguments (e.g. `--relay`).
    pub fn start_daemon_with(&mut self, interval_secs: u32, extra: &[&str]) {
        let child = Command::new(bin("baobi-agent"))
            .arg("--data")
            .arg(self.dir.path())
            .args(["daemon", "--interval", &interval_secs.to_string()])
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn daemon");
        self.daemon = Some(child);
        wait_for(Duration::from_secs(10), || {
            self.dir.path().join("agent.sock").exists()
        });
    }

    /// Kills the daemon abruptly (SIGKILL) and removes the socket it leaves behind.
    pub fn kill_daemon(&mut self) {
        if let Some(mut c) = self.daemon.take() {
            let _ = c.kill();
            let _ = c.wait();
            let _ = std::fs::remove_file(self.dir.path().join("agent.sock"));
        }
    }

    /// True while a daemon started by [`Agent::start_daemon`] runs.
    pub fn has_daemon(&mut self) -> bool {
        self.daemon
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    /// Stops the daemon gracefully.
    pub fn stop_daemon(&mut self) {
        if let Some(mut c) = self.daemon.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let _ = c.wait();
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut c) = self.daemon.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A simulated link ([`baobi_netsim::UdpProxy`]) between agents and the hub, with its own small tokio
/// runtime so that blocking tests (which run the real binaries) can use it.
pub struct Link {
    proxy: Option<baobi_netsim::UdpProxy>,
    rt: tokio::runtime::Runtime,
}

impl Link {
    /// A proxy in front of `upstream` (the hub's address) with `profile`, randomness seeded by `seed`.
    pub fn start(upstream: SocketAddr, profile: baobi_netsim::Profile, seed: u64) -> Link {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let proxy = rt
            .block_on(baobi_netsim::UdpProxy::start(upstream, profile, seed))
            .expect("start the link proxy");
        Link {
            proxy: Some(proxy),
            rt,
        }
    }

    /// The proxy (set its profile, partition it, migrate it, read its stats).
    pub fn proxy(&self) -> &baobi_netsim::UdpProxy {
        self.proxy.as_ref().expect("proxy runs until drop")
    }

    /// Where agents connect.
    pub fn addr(&self) -> SocketAddr {
        self.proxy().addr()
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        let _guard = self.rt.enter();
        self.proxy.take();
    }
}

/// Polls `cond` every 50 ms until it holds; panics after `limit`.
pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "condition not met within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
