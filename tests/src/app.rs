//! Helpers for the office app's tests: an agent daemon serving the app (`daemon --http`, optionally
//! `--http-lan`, on ports the system picks), and a plain HTTP client that keeps the app's session
//! cookie as a browser would and can send any method, header and body (to play another origin, a
//! device that never paired, an upload).

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::{bin, wait_for, Agent, WebResponse};

/// Where a daemon serves the app.
#[derive(Debug, Clone, Copy)]
pub struct AppAddrs {
    /// `--http` (loopback).
    pub loopback: SocketAddr,
    /// `--http-lan`, when asked for.
    pub lan: Option<SocketAddr>,
}

fn read_url(path: &std::path::Path) -> Option<SocketAddr> {
    let text = std::fs::read_to_string(path).ok()?;
    text.trim()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .ok()
}

impl Agent {
    /// Starts `baobi-agent daemon --http 127.0.0.1:0` (with `--http-lan 127.0.0.1:0` when `lan`) and
    /// `extra` arguments; works on a store not enrolled yet. Returns the bound addresses.
    pub fn start_app(&mut self, lan: bool, extra: &[&str]) -> AppAddrs {
        let dir = self.dir.path().to_path_buf();
        let _ = std::fs::remove_file(dir.join("app.url"));
        let mut args = vec!["daemon", "--interval", "3600", "--http", "127.0.0.1:0"];
        if lan {
            args.extend(["--http-lan", "127.0.0.1:0"]);
        }
        args.extend_from_slice(extra);
        let child = Command::new(bin("baobi-agent"))
            .arg("--data")
            .arg(&dir)
            .args(&args)
            .env("BAOBI_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn daemon --http");
        self.daemon = Some(child);
        wait_for(Duration::from_secs(20), || dir.join("app.url").exists());
        AppAddrs {
            loopback: read_url(&dir.join("app.url")).expect("app.url holds the address"),
            lan: if lan {
                Some(read_url(&dir.join("app-lan.url")).expect("app-lan.url holds the address"))
            } else {
                None
            },
        }
    }
}

/// A client of the office app that keeps its cookies (`name=value`), as a browser would.
pub struct AppClient {
    /// The listener's address.
    pub addr: SocketAddr,
    /// Cookies to send.
    pub cookies: Vec<String>,
    agent: ureq::Agent,
}

impl AppClient {
    /// A client with no session yet.
    pub fn new(addr: SocketAddr) -> AppClient {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        AppClient {
            addr,
            cookies: vec![],
            agent,
        }
    }

    /// A client that loaded the page (`GET /`) and so holds the loopback session.
    pub fn open(addr: SocketAddr) -> AppClient {
        let mut c = AppClient::new(addr);
        let r = c.get("/");
        assert_eq!(r.status, 200, "GET /: {}", r.text());
        c
    }

    /// The app's own origin.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sends `method path` with `headers` and `body`; keeps any cookie set.
    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> WebResponse {
        let mut b = ureq::http::Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr));
        if !self.cookies.is_empty() {
            b = b.header("cookie", self.cookies.join("; "));
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let r = match body {
            Some(bytes) => self.agent.run(b.body(bytes).expect("request")),
            None => self.agent.run(b.body(()).expect("request")),
        };
        let mut r = r.expect("the app answers");
        let headers: Vec<(String, String)> = r
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        for (k, v) in &headers {
            if k == "set-cookie" {
                let kv = v.split(';').next().unwrap_or("").trim().to_string();
                let name = kv.split('=').next().unwrap_or("").to_string();
                self.cookies.retain(|c| !c.starts_with(&format!("{name}=")));
                self.cookies.push(kv);
            }
        }
        WebResponse {
            status: r.status().as_u16(),
            headers,
            body: r
                .body_mut()
                .with_config()
                .limit(64 << 20)
                .read_to_vec()
                .expect("body"),
        }
    }

    /// `GET path`.
    pub fn get(&mut self, path: &str) -> WebResponse {
        self.send("GET", path, &[], None)
    }

    /// `GET path`, 200, as JSON.
    pub fn json(&mut self, path: &str) -> Value {
        let r = self.get(path);
        assert_eq!(r.status, 200, "GET {path}: {}", r.text());
        r.json()
    }

    /// `POST path` with a JSON body (sent with the app's own `Origin`, as its pages do).
    pub fn post(&mut self, path: &str, body: &Value) -> WebResponse {
        let origin = self.origin();
        self.send(
            "POST",
            path,
            &[("content-type", "application/json"), ("origin", &origin)],
            Some(body.to_string().into_bytes()),
        )
    }

    /// `DELETE path` (with the app's own `Origin`).
    pub fn delete(&mut self, path: &str) -> WebResponse {
        let origin = self.origin();
        self.send("DELETE", path, &[("origin", &origin)], None)
    }
}
