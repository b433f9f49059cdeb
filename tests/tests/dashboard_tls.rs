//! The dashboard over HTTPS (`serve --http --http-tls`), through the real binary: `init` makes the
//! certificate and prints its fingerprint, a client trusting only that certificate logs in and gets
//! a `Secure` cookie, other certificates are not accepted, a hub initialised without a certificate
//! gets one on first `serve --http-tls`, the operator's own PEM files work and bad ones are refused,
//! silent clients do not hold up the handshakes of others, and `--http-public` without TLS warns.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Instant;

use baobi_hub::http::tls::{CERT_FILE, KEY_FILE};
use baobi_tests::{bin, Hub, Web};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use sha2::Digest;

const NAME: &str = "chị Lan";
const PASSWORD: &str = "mật khẩu đủ dài";

/// SHA-256 of a PEM certificate's DER, `AB:CD:…`.
fn fingerprint(pem: &str) -> String {
    let der = CertificateDer::from_pem_slice(pem.as_bytes()).expect("PEM certificate");
    sha2::Sha256::digest(&der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn operator_hub() -> Hub {
    let hub = Hub::init();
    let out = hub.add_operator(NAME, PASSWORD);
    assert!(out.status.success(), "{}", baobi_tests::stderr(&out));
    hub
}

#[test]
fn init_prints_the_certificate_fingerprint_and_login_over_https_sets_a_secure_cookie() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin("baobi-hub"))
        .args(["init", "--province", "87", "--name", "Đồng Tháp", "--data"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", baobi_tests::stderr(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let cert = std::fs::read_to_string(dir.path().join(CERT_FILE)).expect("certificate made");
    assert!(
        stdout.contains(&format!("(SHA-256): {}", fingerprint(&cert))),
        "init prints the dashboard fingerprint: {stdout}"
    );

    let mut hub = operator_hub();
    hub.serve_https(&[]);
    assert!(hub.https, "serve announces dashboard on https://");
    let mut web = hub.web();
    assert_eq!(web.scheme, "https");
    // Silent clients that never start their handshake do not hold up the others.
    let silent: Vec<_> = (0..4)
        .map(|_| std::net::TcpStream::connect(hub.http.unwrap()).unwrap())
        .collect();
    let began = Instant::now();
    assert_eq!(web.get("/api/me").status, 401);
    assert!(
        began.elapsed() < baobi_hub::http::tls::HANDSHAKE_DEADLINE,
        "a request waited for silent handshakes: {:?}",
        began.elapsed()
    );
    drop(silent);
    let r = web.login(NAME, PASSWORD);
    assert_eq!(r.status, 200, "{}", r.text());
    let set = r.header("set-cookie").expect("cookie").to_string();
    assert!(
        set.split(';').any(|a| a.trim() == "Secure"),
        "cookie over HTTPS is Secure: {set}"
    );
    assert_eq!(web.json("/api/me")["operator"], NAME);
    let r = web.post("/api/logout", &serde_json::json!({}));
    assert_eq!(r.status, 200);
    assert!(r.header("set-cookie").unwrap().contains("Secure"));

    // A client trusting another certificate does not get through; nor does plain HTTP.
    let (other, _) = baobi_hub::http::tls::generate(&[]).unwrap();
    let stranger = Web::tls(hub.http.unwrap(), &other);
    assert!(
        stranger.try_get("/api/me").is_err(),
        "unknown certificate accepted"
    );
    let plain = Web::new(hub.http.unwrap());
    assert!(
        plain.try_get("/api/me").map(|r| r.status).unwrap_or(0) != 200,
        "plain HTTP answered on the HTTPS port"
    );
}

#[test]
fn plain_http_cookie_is_not_secure() {
    let mut hub = operator_hub();
    hub.serve_http();
    let mut web = hub.web();
    assert_eq!(web.scheme, "http");
    let r = web.login(NAME, PASSWORD);
    assert_eq!(r.status, 200);
    let set = r.header("set-cookie").unwrap();
    assert!(!set.contains("Secure"), "{set}");
}

#[test]
fn a_hub_without_a_certificate_gets_one_on_first_https_serve() {
    let mut hub = operator_hub();
    let before = hub.dashboard_cert();
    // As a hub initialised before the dashboard had HTTPS.
    std::fs::remove_file(hub.dir.path().join(CERT_FILE)).unwrap();
    std::fs::remove_file(hub.dir.path().join(KEY_FILE)).unwrap();
    hub.serve_https(&[]);
    let after = hub.dashboard_cert();
    assert_ne!(fingerprint(&before), fingerprint(&after));
    let mut web = hub.web();
    assert_eq!(web.login(NAME, PASSWORD).status, 200);
    // The same certificate across restarts.
    hub.stop();
    hub.serve_https(&[]);
    assert_eq!(fingerprint(&hub.dashboard_cert()), fingerprint(&after));
    assert_eq!(hub.web().login(NAME, PASSWORD).status, 200);
}

#[test]
fn operator_pem_files_are_served_and_bad_ones_refused() {
    let mut hub = operator_hub();
    let files = tempfile::tempdir().unwrap();
    let (cert, key) = baobi_hub::http::tls::generate(&["dashboard.example".into()]).unwrap();
    let (c, k) = (files.path().join("c.pem"), files.path().join("k.pem"));
    std::fs::write(&c, &cert).unwrap();
    std::fs::write(&k, &key).unwrap();
    let (cs, ks) = (c.to_str().unwrap(), k.to_str().unwrap());

    // A key that is not the certificate's: a clear error, exit 2, nothing served.
    let (_, wrong) = baobi_hub::http::tls::generate(&[]).unwrap();
    let bad = files.path().join("bad.pem");
    std::fs::write(&bad, wrong).unwrap();
    let r = hub.run(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--http",
        "127.0.0.1:0",
        "--http-tls",
        "--http-cert",
        cs,
        "--http-key",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(2), "{}", baobi_tests::stderr(&r));
    assert!(baobi_tests::stderr(&r).contains("chứng chỉ"));
    // Not PEM at all.
    std::fs::write(&bad, "garbage").unwrap();
    let r = hub.run(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--http",
        "127.0.0.1:0",
        "--http-tls",
        "--http-cert",
        bad.to_str().unwrap(),
        "--http-key",
        ks,
    ]);
    assert_eq!(r.status.code(), Some(2), "{}", baobi_tests::stderr(&r));
    assert!(baobi_tests::stderr(&r).contains("PEM"));
    // --http-cert alone is a usage error.
    let r = hub.run(&["serve", "--http", "0", "--http-tls", "--http-cert", cs]);
    assert_eq!(r.status.code(), Some(2));

    hub.serve_https(&["--http-cert", cs, "--http-key", ks]);
    let mut web = Web::tls(hub.http.unwrap(), &cert);
    assert_eq!(web.login(NAME, PASSWORD).status, 200);
    // The hub's own certificate is not what is served.
    let own = Web::tls(hub.http.unwrap(), &hub.dashboard_cert());
    assert!(own.try_get("/api/me").is_err());
}

#[test]
fn public_plain_http_warns_on_stderr() {
    let hub = Hub::init();
    let mut child = Command::new(bin("baobi-hub"))
        .args(["serve", "--listen", "127.0.0.1:0", "--http", "0.0.0.0:0"])
        .arg("--http-public")
        .arg("--data")
        .arg(hub.dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let mut line = String::new();
    while err.read_line(&mut line).unwrap_or(0) > 0 {
        seen.push_str(&line);
        if line.contains("đang chạy") {
            break;
        }
        line.clear();
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        seen.contains("CẢNH BÁO / WARNING") && seen.contains("in clear text"),
        "no warning: {seen}"
    );
}
