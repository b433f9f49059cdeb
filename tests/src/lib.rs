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
        let addr = std::net::UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .expect("free port");
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

    /// Starts `baobi-hub serve` on loopback (a free port the first time, the same port after).
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
        let listen = self
            .addr
            .map(|a| a.to_string())
            .unwrap_or_else(|| "127.0.0.1:0".into());
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

/// `n` market surveys as import rows, spread over `outlets` and the years 2015–2024 (a few surveys per
/// outlet and year, as offices make them), with amounts that vary with `salt`.
pub fn market_rows(outlets: &[String], n: usize, salt: u64) -> Vec<Value> {
    let k = outlets.len().max(1);
    (0..n)
        .map(|i| {
            let year = 2015 + (i / k) % 10;
            let nth = i / (k * 10);
            let month = nth % 12 + 1;
            let day = (nth / 12) % 28 + 1;
            let grams = (i as u64 * 7919 + salt * 104_729) % 50_000 + 250;
            serde_json::json!({
                "type": "market",
                "outlet": outlets[i % k],
                "date": format!("{year}-{month:02}-{day:02}"),
                "vendors_total": 180,
                "vendors_surveyed": 60,
                "nonbio_kg": format!("{}.{:03}", grams / 1000, grams % 1000),
                "vendors_nonbio": 45,
            })
        })
        .collect()
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

/// Per (commune, kind): surveys, outlets, market grams/day, retail bags/day, retail outlets with no bags.
pub type TotalsRows = std::collections::BTreeMap<(String, String), [i64; 5]>;

/// An outlet's latest survey so far: (date, clock, version), its row, amount, gives no bags.
type Latest = ((String, u64, String), (String, String), i64, bool);

/// Totals recomputed from `records --json`, independently of the hub's counters: for each
/// (year, unit, kind) the live surveys, and over each outlet's latest survey of the year the outlets,
/// market grams, retail bags and retail outlets giving no non-biodegradable bags.
pub fn recompute_totals(records: &[Value], year: u64) -> TotalsRows {
    use std::collections::BTreeMap;
    let mut rows = TotalsRows::new();
    let mut latest: BTreeMap<String, Latest> = BTreeMap::new();
    for r in records {
        if r["retracted"].as_bool() == Some(true) {
            continue;
        }
        let head = &r["heads"][0];
        let v = &head["value"];
        let ty = v["type"].as_str().unwrap_or_default();
        if ty != "market-survey" && ty != "retail-survey" {
            continue;
        }
        if v["year"].as_u64() != Some(year) {
            continue;
        }
        let kind = if ty == "market-survey" {
            "market".to_string()
        } else {
            v["kind"].as_str().unwrap_or_default().to_string()
        };
        let key = (v["unit"].as_str().unwrap_or_default().to_string(), kind);
        rows.entry(key.clone()).or_default()[0] += 1;
        let (amount, no_nonbio) = if ty == "market-survey" {
            (v["nonbio_g_per_day"].as_i64().unwrap_or(0), false)
        } else {
            (
                v["nonbio_bags_per_day"].as_i64().unwrap_or(0),
                v["gives_nonbio"].as_bool() == Some(false),
            )
        };
        let order = (
            v["date"].as_str().unwrap_or_default().to_string(),
            head["hlc"].as_u64().unwrap_or(0),
            head["version"].as_str().unwrap_or_default().to_string(),
        );
        let outlet = v["outlet"].as_str().unwrap_or_default().to_string();
        let slot = latest
            .entry(outlet)
            .or_insert((order.clone(), key.clone(), amount, no_nonbio));
        if order > slot.0 {
            *slot = (order, key, amount, no_nonbio);
        }
    }
    for (_, key, amount, no_nonbio) in latest.into_values() {
        let row = rows.entry(key.clone()).or_default();
        row[1] += 1;
        if key.1 == "market" {
            row[2] += amount;
        } else {
            row[3] += amount;
            row[4] += i64::from(no_nonbio);
        }
    }
    rows
}

/// The hub's `totals --json` rows for `year` in the shape of [`recompute_totals`].
pub fn hub_totals(hub: &Hub, year: u64) -> TotalsRows {
    let t = hub.json(&["totals", "--year", &year.to_string()]);
    t["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                (
                    r["unit"].as_str().unwrap_or_default().to_string(),
                    r["kind"].as_str().unwrap_or_default().to_string(),
                ),
                [
                    r["surveys"].as_i64().unwrap_or(-1),
                    r["outlets_surveyed"].as_i64().unwrap_or(-1),
                    r["market_nonbio_g_per_day"].as_i64().unwrap_or(-1),
                    r["retail_nonbio_bags_per_day"].as_i64().unwrap_or(-1),
                    r["retail_no_nonbio"].as_i64().unwrap_or(-1),
                ],
            )
        })
        .collect()
}

/// An HTTP response as the dashboard tests read it.
#[derive(Debug)]
pub struct WebResponse {
    /// Status code.
    pub status: u16,
    /// Headers (lowercase names), in order.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl WebResponse {
    /// The first header called `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body[..self.body.len().min(500)])
            )
        })
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("utf-8 body")
    }
}

/// A plain HTTP client of the hub's dashboard that keeps the session cookie, as a browser would.
pub struct Web {
    /// The dashboard's address.
    pub addr: SocketAddr,
    /// `http` or `https`.
    pub scheme: &'static str,
    /// The session cookie (`baobi_session=…`) once logged in.
    pub cookie: Option<String>,
    agent: ureq::Agent,
}

impl Web {
    /// A client of the dashboard at `addr`.
    pub fn new(addr: SocketAddr) -> Web {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Web {
            addr,
            scheme: "http",
            cookie: None,
            agent,
        }
    }

    /// A client of the dashboard over HTTPS at `addr`, trusting only the certificate `cert_pem`.
    pub fn tls(addr: SocketAddr, cert_pem: &str) -> Web {
        use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};
        let cert = Certificate::from_pem(cert_pem.as_bytes()).expect("a PEM certificate");
        let tls = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .root_certs(RootCerts::new_with_certs(&[cert]))
            .unversioned_rustls_crypto_provider(std::sync::Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .build();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .tls_config(tls)
            .build()
            .into();
        Web {
            addr,
            scheme: "https",
            cookie: None,
            agent,
        }
    }

    /// `GET path` with a header (e.g. `authorization`) and no session cookie.
    pub fn get_with(&self, path: &str, name: &str, value: &str) -> WebResponse {
        let req = self
            .agent
            .get(format!("{}://{}{path}", self.scheme, self.addr))
            .header(name, value);
        Self::done(req.call())
    }

    fn done(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> WebResponse {
        Self::answer(r).expect("dashboard reachable")
    }

    fn answer(
        r: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<WebResponse, ureq::Error> {
        let mut r = r?;
        let headers = r
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        Ok(WebResponse {
            status: r.status().as_u16(),
            headers,
            body: r.body_mut().with_config().limit(64 << 20).read_to_vec()?,
        })
    }

    /// `GET path` (with the session cookie if any) that may fail to connect (e.g. TLS refused).
    pub fn try_get(&self, path: &str) -> Result<WebResponse, String> {
        let mut req = self
            .agent
            .get(format!("{}://{}{path}", self.scheme, self.addr));
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        Self::answer(req.call()).map_err(|e| e.to_string())
    }

    /// `GET path` with the session cookie if any.
    pub fn get(&self, path: &str) -> WebResponse {
        let mut req = self
            .agent
            .get(format!("{}://{}{path}", self.scheme, self.addr));
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        Self::done(req.call())
    }

    /// `POST path` with a JSON body and the session cookie if any.
    pub fn post(&self, path: &str, body: &Value) -> WebResponse {
        let mut req = self
            .agent
            .post(format!("{}://{}{path}", self.scheme, self.addr))
            .header("content-type", "application/json");
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        Self::done(req.send(body.to_string()))
    }

    /// `POST path` with raw bytes of `content_type` (a file upload) and the session cookie if any.
    pub fn post_bytes(&self, path: &str, content_type: &str, body: &[u8]) -> WebResponse {
        let mut req = self
            .agent
            .post(format!("{}://{}{path}", self.scheme, self.addr))
            .header("content-type", content_type);
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        Self::done(req.send(body))
    }

    /// `POST /api/login`; keeps the session cookie on success.
    pub fn login(&mut self, name: &str, password: &str) -> WebResponse {
        let r = self.post(
            "/api/login",
            &serde_json::json!({ "name": name, "password": password }),
        );
        if r.status == 200 {
            let set = r.header("set-cookie").expect("login sets a cookie");
            self.cookie = Some(set.split(';').next().unwrap_or("").trim().to_string());
        }
        r
    }

    /// `GET path` that must answer 200 with JSON.
    pub fn json(&self, path: &str) -> Value {
        let r = self.get(path);
        assert_eq!(
            r.status,
            200,
            "GET {path}: {}",
            String::from_utf8_lossy(&r.body)
        );
        r.json()
    }
}

/// The offices and notable ids of [`dashboard_data`].
pub struct DashboardData {
    /// Office of Huyện Lai Vung (876).
    pub lai_vung: Agent,
    /// Office of Thành phố Cao Lãnh (866).
    pub cao_lanh: Agent,
    /// Trade centre T1's survey, corrected once (two versions).
    pub corrected: String,
    /// Market M1 (Lai Vung).
    pub market: String,
}

/// A known data set for the dashboard tests, recorded by two real offices and synced over QUIC to the
/// serving `hub`. All surveys are of 2024 (when Đồng Tháp's 12 districts were in force all year):
///
/// | outlet | kind | unit | 2024 survey(s) | gives non-bio bags (latest) |
/// |---|---|---|---|---|
/// | S1 Siêu thị Co.opmart Lai Vung | supermarket | 30208 (876) | 2024-04-02 | no |
/// | T1 TTTM Lai Vung | trade centre | 30208 (876) | 2024-04-03, corrected | yes |
/// | S2 Siêu thị Tân Thành | supermarket | 30226 (876) | none | — |
/// | C1 Bách hóa Xanh Tân Thành | convenience | 30226 (876) | 2024-04-05 | no |
/// | M1 Chợ Tân Thành | market | 30226 (876) | 2024-04-06 (21.5 kg/day) | — |
/// | S3 Siêu thị Cao Lãnh | supermarket | 29869 (866) | 2024-03-01 yes, 2024-09-01 no | no |
///
/// So by hand: I1 (supermarkets + trade centres) = S1, S3 / S1, T1, S2, S3 = 2/4 = 50 %, coverage 3/4;
/// I1 with convenience stores = 3/5 = 60 %; survey coverage = 5 of 6 outlets surveyed; 2 of the 12
/// districts (876, 866) reported. Records: 6 outlets + 6 surveys = 12.
pub fn dashboard_data(hub: &Hub) -> DashboardData {
    let lai_vung = hub.enroll_agent("876");
    let cao_lanh = hub.enroll_agent("866");
    let s1 = lai_vung.outlet("supermarket", "Siêu thị Co.opmart Lai Vung", "30208", &[]);
    let t1 = lai_vung.outlet("trade-centre", "TTTM Lai Vung", "30208", &[]);
    let _s2 = lai_vung.outlet("supermarket", "Siêu thị Tân Thành", "30226", &[]);
    let c1 = lai_vung.outlet("convenience", "Bách hóa Xanh Tân Thành", "30226", &[]);
    let m1 = lai_vung.outlet(
        "market",
        "Chợ Tân Thành",
        "30226",
        &["--class", "3", "--new-rural-since", "2022-11-10"],
    );
    lai_vung.retail_survey(&s1, "2024-04-02", false, "0");
    let t1s = lai_vung.retail_survey(&t1, "2024-04-03", true, "300");
    lai_vung.ok(&["survey", "correct", &t1s, "--nonbio-bags", "250"]);
    lai_vung.retail_survey(&c1, "2024-04-05", false, "0");
    lai_vung.market_survey(&m1, "2024-04-06", "21.5", &["--round", "baseline"]);
    let s3 = cao_lanh.outlet("supermarket", "Siêu thị Cao Lãnh", "29869", &[]);
    cao_lanh.retail_survey(&s3, "2024-03-01", true, "120");
    cao_lanh.retail_survey(&s3, "2024-09-01", false, "0");
    lai_vung.sync();
    cao_lanh.sync();
    DashboardData {
        lai_vung,
        cao_lanh,
        corrected: t1s,
        market: m1,
    }
}

/// Raw protocol clients for peers an honest agent cannot imitate (replays, floods, slow or oversized
/// senders), built on the agent library's transport.
pub mod raw {
    use baobi_agent::net::{self, FramedStream, Identity};
    use baobi_agent::store::Store;
    use baobi_proto::wire::{Hello, Msg, RefusalCode, Run, RunBatch};
    use baobi_proto::{Entry, Keypair, Summary, Token};

    use super::{Agent, Hub};

    /// A two-worker runtime for raw clients.
    pub fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime")
    }

    /// The identity (key and certificate) of an enrolled agent, read from its store.
    pub fn identity_of(agent: &Agent) -> Identity {
        let store = Store::open(agent.dir.path()).expect("agent store");
        baobi_agent::sync::identity(&store).expect("identity")
    }

    /// Opens a raw connection to the hub as `id` (pinning the hub of `token`).
    pub async fn open(
        hub: &Hub,
        token: &str,
        id: &Identity,
    ) -> (quinn::Endpoint, quinn::Connection, FramedStream) {
        let t = Token::from_text(token).expect("token");
        net::connect(hub.addr.expect("hub serving"), t.hub_fingerprint, id)
            .await
            .expect("connect")
    }

    /// Opens a sync by hand (a digest that never matches, an empty summary) on `s`.
    pub async fn open_session(s: &mut FramedStream) -> Option<Msg> {
        s.send(&Msg::Hello(Hello {
            version: baobi_proto::session::VERSION,
            digest: [0xAB; 16],
        }))
        .await
        .ok()?;
        match s.recv().await {
            Ok(Some(Msg::Summary(_))) => {}
            other => return other.ok().flatten(),
        }
        s.send(&Msg::Summary(Summary::new().to_wire())).await.ok()?;
        None
    }

    /// Seals `entries` (the start of `key`'s log, from seq 1) as one run, as an agent sends them.
    pub fn seal(key: &Keypair, entries: &[Entry]) -> Run {
        assert_eq!(entries.first().map(|e| e.seq), Some(1), "a log from seq 1");
        let genesis = baobi_proto::chain::genesis(&key.author());
        Run::seal(key, genesis, entries)
            .expect("contiguous entries of the key")
            .0
    }

    /// Runs the opening of a sync by hand and pushes `runs` as one batch; returns the hub's
    /// answer to it: `Refused`, `Ack`, or `None` when the connection just closed.
    pub async fn push(hub: &Hub, token: &str, id: &Identity, runs: Vec<Run>) -> Option<Msg> {
        let (_ep, _conn, mut s) = open(hub, token, id).await;
        if let Some(m) = open_session(&mut s).await {
            return Some(m);
        }
        s.send(&Msg::Runs(RunBatch { id: 0, runs })).await.ok()?;
        s.send(&Msg::Done).await.ok()?;
        loop {
            match s.recv().await {
                Ok(Some(Msg::Refused(r))) => return Some(Msg::Refused(r)),
                Ok(Some(Msg::Ack(id))) => return Some(Msg::Ack(id)),
                Ok(Some(Msg::Runs(_))) | Ok(Some(Msg::Done)) => continue,
                Ok(other) => return other,
                Err(_) => return None,
            }
        }
    }

    /// The refusal code of an answer; panics on anything else.
    pub fn refusal(m: Option<Msg>) -> RefusalCode {
        match m {
            Some(Msg::Refused(r)) => r.code,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
}
