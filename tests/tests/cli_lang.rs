//! The command lines speak Vietnamese by default and English with `--lang en` or `BAOBI_LANG=en`:
//! help, usage, clap's own parse errors, through the real binaries; and a negative or non-numeric
//! count gets the same bilingual message, naming the field, as every other invalid value, exit 2,
//! with nothing stored.

use std::process::{Command, Output};

use baobi_tests::{bin, stderr, Hub};
use unicode_normalization::UnicodeNormalization;

fn run(binary: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    Command::new(bin(binary))
        .arg("--data")
        .arg(dir.path().join("store"))
        .args(args)
        .env_remove("BAOBI_LANG")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("utf-8 stdout")
}

/// Vietnamese as it must be written: NFC (a decomposed "ệ" looks right but does not search right).
fn assert_nfc(text: &str) {
    assert_eq!(text.nfc().collect::<String>(), text, "not NFC");
}

fn contains_all(text: &str, want: &[&str]) {
    for w in want {
        assert!(text.contains(w), "no {w:?} in:\n{text}");
    }
}

fn contains_none(text: &str, unwanted: &[&str]) {
    for w in unwanted {
        assert!(!text.contains(w), "{w:?} in:\n{text}");
    }
}

/// Words of clap's English help that must not show in the Vietnamese one.
const ENGLISH_HELP: &[&str] = &[
    "Usage:",
    "Options:",
    "Commands:",
    "Arguments:",
    "Print help",
    "Print version",
    "[default:",
    "[env:",
    "possible values",
    "[OPTIONS]",
    "<COMMAND>",
];

#[test]
fn agent_help_is_vietnamese_by_default() {
    let out = run("baobi-agent", &["--help"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let help = stdout(&out);
    contains_all(
        &help,
        &[
            "Cách dùng: baobi-agent [TÙY_CHỌN] <LỆNH>",
            "Lệnh:",
            "Tùy chọn:",
            "Đăng ký với máy chủ tỉnh bằng mã dùng một lần, rồi đồng bộ lần đầu.",
            "Phiếu khảo sát bao bì.",
            "In trợ giúp này hoặc trợ giúp của (các) lệnh đã nêu",
            "[mặc định: ./baobi-agent-data] [biến môi trường: BAOBI_DATA]",
            "In phiên bản",
            "--lang <LANG>",
        ],
    );
    contains_none(&help, ENGLISH_HELP);
    assert_nfc(&help);

    let out = run("baobi-agent", &["survey", "market", "-h"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let help = stdout(&out);
    contains_all(
        &help,
        &[
            "Ghi một phiếu khảo sát chợ.",
            "Cách dùng: baobi-agent survey market",
            "Tổng số tiểu thương tại chợ.",
            "Đợt khảo sát (mặc định: hằng năm). [giá trị: baseline, annual, follow-up]",
            "In trợ giúp (xem đầy đủ với '--help')",
        ],
    );
    contains_none(&help, ENGLISH_HELP);
    let out = run("baobi-agent", &["survey", "market", "--help"], &[]);
    contains_all(
        &stdout(&out),
        &["Giá trị:", "- follow-up: khảo sát bổ sung"],
    );
    assert_nfc(&stdout(&out));
}

#[test]
fn agent_help_is_english_with_the_flag_before_or_after_the_command_or_the_variable() {
    for (args, env) in [
        (&["--lang", "en", "--help"][..], &[][..]),
        (&["--help", "--lang=en"], &[]),
        (&["--help"], &[("BAOBI_LANG", "en")]),
    ] {
        let out = run("baobi-agent", args, env);
        assert_eq!(out.status.code(), Some(0), "{args:?} {}", stderr(&out));
        let help = stdout(&out);
        contains_all(
            &help,
            &[
                "Usage: baobi-agent [OPTIONS] <COMMAND>",
                "Commands:",
                "Options:",
                "Enroll with the hub using a one-time token, then sync for the first time",
                "Print help",
                "--lang <LANG>",
            ],
        );
        contains_none(&help, &["Cách dùng", "Lệnh:", "Tùy chọn:", "In trợ giúp"]);
    }
    let out = run(
        "baobi-agent",
        &["survey", "market", "--lang", "en", "-h"],
        &[],
    );
    contains_all(
        &stdout(&out),
        &["Usage: baobi-agent survey market", "Vendors at the market"],
    );
    // An empty variable (`BAOBI_LANG=` in an environment file) is the default.
    // (`status` on a store never enrolled: exit 1, not a refused `--lang`.)
    let out = run("baobi-agent", &["status"], &[("BAOBI_LANG", "")]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    contains_all(&stderr(&out), &["Chưa đăng ký với máy chủ tỉnh"]);
    // The flag wins over the variable.
    let out = run(
        "baobi-agent",
        &["--lang", "vi", "--help"],
        &[("BAOBI_LANG", "en")],
    );
    contains_all(&stdout(&out), &["Cách dùng: baobi-agent"]);
    // A language it does not speak is refused, not ignored.
    let out = run("baobi-agent", &["--lang", "fr", "status"], &[]);
    assert_eq!(out.status.code(), Some(2));
    contains_all(
        &stderr(&out),
        &[
            "Lỗi / Error: giá trị 'fr' không hợp lệ cho '--lang <LANG>'",
            "must be vi or en",
        ],
    );
    // --version still answers (exit 0).
    let out = run("baobi-agent", &["--version"], &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).starts_with("baobi-agent "), "{}", stdout(&out));
}

#[test]
fn agent_parse_errors_are_vietnamese_with_english_beside_or_english_alone() {
    // An unknown flag.
    let out = run("baobi-agent", &["status", "--bogus"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    contains_all(
        &err,
        &[
            "Lỗi / Error: tham số không có trong lệnh này '--bogus' / unexpected argument '--bogus' found",
            "Cách dùng / Usage: baobi-agent status",
            "Xem thêm với '--help' / For more information, try '--help'.",
        ],
    );
    assert!(out.stdout.is_empty());
    let out = run("baobi-agent", &["status", "--bogus", "--lang", "en"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.starts_with("error: unexpected argument '--bogus' found"),
        "{err}"
    );
    contains_all(
        &err,
        &[
            "Usage: baobi-agent status",
            "For more information, try '--help'.",
        ],
    );
    contains_none(&err, &["Lỗi", "Cách dùng"]);

    // A flag without its value.
    let out = run("baobi-agent", &["init", "--token"], &[]);
    assert_eq!(out.status.code(), Some(2));
    contains_all(
        &stderr(&out),
        &["Lỗi / Error: '--token <TOKEN>' cần một giá trị nhưng không có / a value is required for '--token <TOKEN>' but none was supplied"],
    );
    let out = run("baobi-agent", &["init", "--token"], &[("BAOBI_LANG", "en")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out)
            .starts_with("error: a value is required for '--token <TOKEN>' but none was supplied"),
        "{}",
        stderr(&out)
    );

    // A required flag missing, a mistyped command, a value not among the choices.
    let out = run("baobi-agent", &["init"], &[]);
    assert_eq!(out.status.code(), Some(2));
    contains_all(
        &stderr(&out),
        &["thiếu các tham số bắt buộc sau / the following required arguments were not provided:\n  --token <TOKEN>"],
    );
    let out = run("baobi-agent", &["surve", "list"], &[]);
    assert_eq!(out.status.code(), Some(2));
    contains_all(
        &stderr(&out),
        &[
            "không có lệnh 'surve' / unrecognized subcommand 'surve'",
            "gợi ý / tip: có lệnh gần giống: 'survey' / a similar subcommand exists: 'survey'",
        ],
    );
    let out = run(
        "baobi-agent",
        &[
            "campaign",
            "add",
            "--date",
            "2025-03-01",
            "--topic",
            "x",
            "--kind",
            "radio",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    contains_all(
        &stderr(&out),
        &[
            "giá trị 'radio' không hợp lệ cho '--kind <KIND>' / invalid value 'radio' for '--kind <KIND>'",
            "giá trị hợp lệ: 'training', 'media', 'event', 'materials', 'other'",
        ],
    );
}

#[test]
fn a_negative_or_non_numeric_count_names_the_field_exits_2_and_stores_nothing() {
    let hub = Hub::start();
    let office = hub.enroll_agent("30226");
    let market = office.outlet("market", "Chợ Tân Thành", "30226", &["--class", "2"]);
    let shop = office.outlet("supermarket", "Siêu thị Tân Thành", "30226", &[]);
    let pending = office.json(&["status"])["pending"].clone();
    assert!(pending.as_u64().is_some_and(|n| n > 0), "{pending}");
    let market_args = |flag: &str, value: &str| -> Vec<String> {
        let mut a: Vec<String> = [
            "survey",
            "market",
            "--outlet",
            &market,
            "--date",
            "2025-03-01",
            "--vendors-total",
            "40",
            "--vendors-surveyed",
            "20",
            "--nonbio-kg",
            "3",
            "--vendors-nonbio",
            "10",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        match a.iter().position(|x| x == &format!("--{flag}")) {
            Some(i) => a[i + 1] = value.to_string(),
            None => a.extend([format!("--{flag}"), value.to_string()]),
        }
        a
    };
    let cases = [
        ("vendors-total", "-3", "must not be negative"),
        ("vendors-total", "abc", "'abc' is not a whole number"),
        ("vendors-surveyed", "-1", "must not be negative"),
        ("vendors-nonbio", "2.5", "'2.5' is not a whole number"),
        ("vendors-alternatives", "-7", "must not be negative"),
        ("operating-days", "-30", "must not be negative"),
        ("operating-days", "300", "must be at most 255"),
        ("year", "-2025", "must not be negative"),
    ];
    for (flag, value, why) in cases {
        for lang in ["vi", "en"] {
            let mut args = market_args(flag, value);
            args.extend(["--lang".to_string(), lang.to_string()]);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = office.run(&args);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{flag} {value}: {}",
                stderr(&out)
            );
            assert_eq!(
                stderr(&out).trim_end(),
                format!("Dữ liệu không hợp lệ / Invalid input: {flag}: {why}"),
                "{flag} {value}"
            );
        }
    }
    // The message is the one the field rules give (ops::Error::Invalid), e.g. for a count of 0.
    let args = market_args("vendors-total", "0");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = office.run(&args);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).starts_with("Dữ liệu không hợp lệ / Invalid input: vendors-total: "),
        "{}",
        stderr(&out)
    );
    // Retail and campaign counts, and survey correct, the same.
    for (args, field) in [
        (
            vec![
                "survey",
                "retail",
                "--outlet",
                &shop,
                "--date",
                "2025-03-01",
                "--gives-nonbio",
                "yes",
                "--nonbio-bags",
                "-5",
            ],
            "nonbio-bags",
        ),
        (
            vec![
                "campaign",
                "add",
                "--date",
                "2025-03-01",
                "--kind",
                "media",
                "--topic",
                "Túi ni lông",
                "--participants",
                "-12",
            ],
            "participants",
        ),
        (
            vec!["survey", "correct", "1a2b3c4d-1", "--vendors-total", "-3"],
            "vendors-total",
        ),
    ] {
        let out = office.run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert_eq!(
            stderr(&out).trim_end(),
            format!("Dữ liệu không hợp lệ / Invalid input: {field}: must not be negative"),
        );
    }
    // Nothing was stored: no survey, no campaign, nothing more waiting to be sent.
    assert_eq!(office.json(&["survey", "list"]), serde_json::json!([]));
    assert_eq!(office.json(&["status"])["pending"], pending);
    // A valid survey right after is saved (the office was never the problem).
    let args = market_args("vendors-total", "40");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    office.ok(&args);
    assert_eq!(
        office.json(&["survey", "list"]).as_array().unwrap().len(),
        1
    );
}

#[test]
fn hub_help_and_parse_errors_speak_the_same_way() {
    let out = run("baobi-hub", &["--help"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let help = stdout(&out);
    contains_all(
        &help,
        &[
            "Cách dùng: baobi-hub [TÙY_CHỌN] <LỆNH>",
            "Lệnh:",
            "Cấp mã đăng ký dùng một lần cho văn phòng của một đơn vị.",
            "Ngôn ngữ của dòng lệnh",
        ],
    );
    contains_none(&help, ENGLISH_HELP);
    assert_nfc(&help);
    let out = run("baobi-hub", &["--help"], &[("BAOBI_LANG", "en")]);
    contains_all(
        &stdout(&out),
        &[
            "Usage: baobi-hub",
            "Issue a one-time enrollment token for an office of a unit",
        ],
    );

    let out = run("baobi-hub", &["totals", "--by", "district"], &[]);
    assert_eq!(out.status.code(), Some(2));
    contains_all(
        &stderr(&out),
        &[
            "Lỗi / Error: giá trị 'district' không hợp lệ cho '--by <BY>' / invalid value 'district' for '--by <BY>'",
            "giá trị hợp lệ: 'unit', 'kind' / possible values: 'unit', 'kind'",
        ],
    );
    let out = run(
        "baobi-hub",
        &["--lang", "en", "totals", "--by", "district"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.starts_with("error: invalid value 'district' for '--by <BY>'"),
        "{err}"
    );
    contains_none(&err, &["Lỗi", "giá trị"]);
    let out = run("baobi-hub", &["enroll", "--unit"], &[]);
    assert_eq!(out.status.code(), Some(2));
    contains_all(
        &stderr(&out),
        &["'--unit <UNIT>' cần một giá trị nhưng không có"],
    );
}
