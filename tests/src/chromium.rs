//! `chromedriver` for the tests that drive real headless Chromium (`browser.rs` for the hub's
//! dashboard, `office_browser.rs` for the office app): Debian's `chromium` and `chromium-driver`,
//! required (a missing one fails the test with how to install it; `.ci/run` does), never skipped.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Debian's Chromium.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's WebDriver for it.
pub const DRIVER: &str = "/usr/bin/chromedriver";
/// Longest wait for the driver to listen (a limit on a loaded machine, not a timing assertion).
const PATIENCE: Duration = Duration::from_secs(60);

/// `chromedriver` on a free loopback port, killed on drop.
pub struct Driver {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl Driver {
    /// Starts the driver and waits until it listens.
    pub fn start() -> Driver {
        for p in [CHROMIUM, DRIVER] {
            assert!(
                Path::new(p).exists(),
                "{p} not found: the browser test needs Debian's chromium and chromium-driver \
                 (apt-get install -y chromium chromium-driver; .ci/run installs them)"
            );
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new(DRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let deadline = Instant::now() + PATIENCE;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            std::thread::sleep(Duration::from_millis(100));
        }
        Driver { child, port }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A WebDriver session on `driver` with the capabilities `caps` (a JSON object).
pub async fn session(driver: &Driver, caps: serde_json::Value) -> fantoccini::Client {
    let serde_json::Value::Object(caps) = caps else {
        panic!("WebDriver capabilities must be a JSON object")
    };
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    fantoccini::ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("WebDriver session with headless Chromium")
}
