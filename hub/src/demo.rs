//! `baobi-hub demo`: the README's main job. A real hub (in this process) and three real agents (the
//! `baobi-agent` binary) in a temporary directory tell the whole story: enrollment, offline work while
//! the hub is down, a sync that fails plainly, then sync, provincial totals, and an idempotent re-sync.
//!
//! Nothing is mocked: real sled stores, real QUIC on 127.0.0.1, real processes.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};

use crate::report::{self, By};
use crate::server;

/// Finds `baobi-agent` beside this executable; under `cargo run`, builds it first with the same profile.
fn agent_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("locating this executable")?;
    let dir = exe.parent().context("executable has no directory")?;
    let bin = dir.join(format!("baobi-agent{}", std::env::consts::EXE_SUFFIX));
    // Under `cargo run` (CARGO set) always let cargo bring the agent up to date: a binary left over
    // from an older build would otherwise be used silently. It is a no-op when nothing changed.
    let Ok(cargo) = std::env::var("CARGO") else {
        if bin.exists() {
            return Ok(bin);
        }
        bail!(
            "baobi-agent not found next to {} / không tìm thấy baobi-agent; build it with \
             `cargo build -p baobi-agent` (same profile as baobi-hub)",
            exe.display()
        );
    };
    let release = exe.components().any(|c| c.as_os_str() == "release");
    eprintln!("(Kiểm tra bản dựng baobi-agent / Making sure baobi-agent is built…)");
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let mut cmd = std::process::Command::new(cargo);
    cmd.arg("build").arg("--manifest-path").arg(&manifest);
    if release {
        cmd.arg("--release");
    }
    cmd.args(["-p", "baobi-agent", "--bin", "baobi-agent"]);
    let status = cmd.status().context("running cargo build")?;
    if !status.success() || !bin.exists() {
        bail!("could not build baobi-agent (cargo exited with {status})");
    }
    Ok(bin)
}

/// One office: its data directory and name.
struct Office {
    name: &'static str,
    unit: &'static str,
    label: &'static str,
    dir: PathBuf,
}

struct Agent {
    bin: PathBuf,
}

struct Out {
    code: i32,
    stdout: String,
}

impl Agent {
    /// Runs the agent for `office`, echoing its stderr indented; fails unless the exit code is `want`.
    async fn run(&self, office: &Office, args: &[&str], want: i32) -> anyhow::Result<Out> {
        let out = tokio::process::Command::new(&self.bin)
            .arg("--data")
            .arg(&office.dir)
            .args(args)
            .env_remove("BAOBI_DATA")
            .output()
            .await
            .with_context(|| format!("running baobi-agent {}", args.join(" ")))?;
        let code = out.status.code().unwrap_or(-1);
        let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let stderr = String::from_utf8_lossy(&out.stderr);
        for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
            out!("      {line}");
        }
        if code != want {
            bail!(
                "baobi-agent {} for {} exited with {code} (expected {want}): {stdout} {stderr}",
                args.join(" "),
                office.name
            );
        }
        Ok(Out { code, stdout })
    }

    /// Runs a command that saves a record and returns the record id it printed.
    async fn save(&self, office: &Office, args: &[&str]) -> anyhow::Result<String> {
        let out = self.run(office, args, 0).await?;
        let id = out.stdout.lines().last().unwrap_or("").trim().to_string();
        if id.is_empty() {
            bail!("baobi-agent {} printed no id", args.join(" "));
        }
        Ok(id)
    }

    async fn sync(&self, office: &Office) -> anyhow::Result<serde_json::Value> {
        let out = self.run(office, &["sync", "--json"], 0).await?;
        let v: serde_json::Value = serde_json::from_str(&out.stdout)
            .with_context(|| format!("reading sync result '{}'", out.stdout))?;
        out!(
            "   {:<28} gửi / sent {:>3}, nhận / received {:>3}{}",
            office.name,
            v["sent"],
            v["received"],
            if v["up_to_date"] == true {
                "  (đã cập nhật / up to date)"
            } else {
                ""
            }
        );
        Ok(v)
    }
}

fn step(n: u32, text: &str) -> anyhow::Result<()> {
    out!("\n{n}. {text}");
    Ok(())
}

/// Runs the demo; `keep` keeps (and prints) the temporary directory.
pub async fn run(keep: bool) -> anyhow::Result<()> {
    let agent = Agent {
        bin: agent_binary()?,
    };
    let tmp = tempfile::Builder::new()
        .prefix("baobi-demo-")
        .tempdir()
        .context("creating a temporary directory")?;
    let root = tmp.path().to_path_buf();
    out!("baobi — trình diễn / demo: máy chủ tỉnh Đồng Tháp và ba văn phòng / a provincial hub and three offices");

    step(
        1,
        "Khởi tạo máy chủ tỉnh / Initialising the provincial hub (province 87, Đồng Tháp)",
    )?;
    let hub_dir = root.join("hub");
    let hub = Arc::new(crate::cli::init(
        &hub_dir,
        "87",
        "Đồng Tháp",
        None,
        None,
        Some("dong-thap-2021"),
    )?);
    out!(
        "   {} đơn vị hành chính / units; dấu vân tay / fingerprint {}…",
        hub.units().len(),
        data_encoding::HEXLOWER.encode(&hub.fingerprint()[..8])
    );
    let running = server::start(hub.clone(), SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = running.addr;
    out!("   Đang chạy tại / listening on {addr}");

    step(2, "Đăng ký ba văn phòng / Enrolling three offices")?;
    let offices = [
        Office {
            name: "UBND huyện Lai Vung",
            unit: "876",
            label: "UBND huyện Lai Vung",
            dir: root.join("lai-vung-district"),
        },
        Office {
            name: "UBND thị trấn Lai Vung",
            unit: "30208",
            label: "UBND thị trấn Lai Vung",
            dir: root.join("lai-vung-town"),
        },
        Office {
            name: "UBND xã Tân Thành",
            unit: "30226",
            label: "UBND xã Tân Thành",
            dir: root.join("tan-thanh"),
        },
    ];
    for o in &offices {
        let issued = hub.enroll(o.unit, o.label, &addr.to_string(), 168)?;
        out!(
            "   {} — {} ({}): mã / token {}…",
            o.name,
            issued.unit_name,
            o.unit,
            &issued.token.to_text()[..24]
        );
        agent
            .run(o, &["init", "--token", &issued.token.to_text()], 0)
            .await?;
    }

    step(3, "Máy chủ tỉnh ngừng; các văn phòng làm việc ngoại tuyến / The hub goes down; offices work offline")?;
    running.stop().await?;
    let [district, town, tan_thanh] = &offices;

    out!("   {}:", district.name);
    let cho_lv = agent
        .save(
            district,
            &[
                "outlet",
                "add",
                "market",
                "--name",
                "Chợ Lai Vung",
                "--commune",
                "30208",
                "--address",
                "Khóm 1, thị trấn Lai Vung",
                "--class",
                "2",
                "--civilized-since",
                "2023-06-15",
            ],
        )
        .await?;
    let sieu_thi = agent
        .save(
            district,
            &[
                "outlet",
                "add",
                "supermarket",
                "--name",
                "Siêu thị Co.opmart Lai Vung",
                "--commune",
                "30208",
            ],
        )
        .await?;
    agent
        .save(
            district,
            &[
                "survey",
                "market",
                "--outlet",
                &cho_lv,
                "--date",
                "2025-03-12",
                "--round",
                "baseline",
                "--vendors-total",
                "310",
                "--vendors-surveyed",
                "60",
                "--nonbio-kg",
                "24.5",
                "--vendors-nonbio",
                "52",
                "--eco-kg",
                "3",
                "--vendors-alternatives",
                "8",
                "--operating-days",
                "30",
            ],
        )
        .await?;
    agent
        .save(
            district,
            &[
                "survey",
                "market",
                "--outlet",
                &cho_lv,
                "--date",
                "2025-06-20",
                "--round",
                "annual",
                "--vendors-total",
                "312",
                "--vendors-surveyed",
                "60",
                "--nonbio-kg",
                "19.75",
                "--vendors-nonbio",
                "44",
                "--eco-kg",
                "5.5",
                "--vendors-alternatives",
                "16",
                "--operating-days",
                "30",
                "--reduction-model",
            ],
        )
        .await?;
    agent
        .save(
            district,
            &[
                "survey",
                "retail",
                "--outlet",
                &sieu_thi,
                "--date",
                "2025-05-10",
                "--gives-nonbio",
                "no",
                "--bag-types",
                "túi phân hủy sinh học, túi vải",
                "--eco-bags",
                "400",
                "--sells-reusable",
                "yes",
                "--eco-labelled",
                "yes",
            ],
        )
        .await?;
    agent
        .save(
            district,
            &[
                "campaign",
                "add",
                "--date",
                "2025-04-22",
                "--kind",
                "training",
                "--topic",
                "Tập huấn giảm túi ni lông khó phân hủy cho ban quản lý chợ",
                "--participants",
                "45",
            ],
        )
        .await?;

    out!("   {}:", town.name);
    let ch1 = agent
        .save(
            town,
            &[
                "outlet",
                "add",
                "convenience",
                "--name",
                "Bách hóa Xanh Lai Vung",
                "--commune",
                "Lai Vung",
            ],
        )
        .await?;
    let ch2 = agent
        .save(
            town,
            &[
                "outlet",
                "add",
                "convenience",
                "--name",
                "Cửa hàng tiện lợi Minh Phát",
                "--commune",
                "30208",
            ],
        )
        .await?;
    agent
        .save(
            town,
            &[
                "survey",
                "retail",
                "--outlet",
                &ch1,
                "--date",
                "2025-05-15",
                "--gives-nonbio",
                "yes",
                "--bag-types",
                "túi ni lông, túi phân hủy",
                "--nonbio-bags",
                "180",
                "--eco-bags",
                "60",
                "--sells-reusable",
                "yes",
            ],
        )
        .await?;
    agent
        .save(
            town,
            &[
                "survey",
                "retail",
                "--outlet",
                &ch2,
                "--date",
                "2025-05-16",
                "--gives-nonbio",
                "no",
                "--bag-types",
                "túi giấy",
                "--eco-bags",
                "90",
            ],
        )
        .await?;

    out!("   {}:", tan_thanh.name);
    let cho_tt = agent
        .save(
            tan_thanh,
            &[
                "outlet",
                "add",
                "market",
                "--name",
                "Chợ Tân Thành",
                "--commune",
                "30226",
                "--class",
                "3",
                "--new-rural-since",
                "2022-11-10",
            ],
        )
        .await?;
    agent
        .save(
            tan_thanh,
            &[
                "survey",
                "market",
                "--outlet",
                &cho_tt,
                "--date",
                "2025-02-20",
                "--round",
                "baseline",
                "--vendors-total",
                "85",
                "--vendors-surveyed",
                "30",
                "--nonbio-kg",
                "9.2",
                "--vendors-nonbio",
                "27",
                "--operating-days",
                "30",
            ],
        )
        .await?;
    agent
        .save(
            tan_thanh,
            &[
                "survey",
                "market",
                "--outlet",
                &cho_tt,
                "--date",
                "2025-06-25",
                "--round",
                "annual",
                "--vendors-total",
                "86",
                "--vendors-surveyed",
                "30",
                "--nonbio-kg",
                "7.4",
                "--vendors-nonbio",
                "22",
                "--eco-kg",
                "1.5",
                "--vendors-alternatives",
                "8",
                "--operating-days",
                "30",
            ],
        )
        .await?;
    agent
        .save(
            tan_thanh,
            &[
                "campaign",
                "add",
                "--date",
                "2025-03-08",
                "--kind",
                "event",
                "--topic",
                "Ngày hội đổi túi ni lông lấy túi vải tại chợ Tân Thành",
                "--participants",
                "120",
            ],
        )
        .await?;

    out!("   Thử đồng bộ khi máy chủ ngừng / Trying to sync while the hub is down:");
    let failed = agent.run(tan_thanh, &["sync"], 3).await?;
    out!(
        "   → mã thoát / exit code {}: không mất gì / nothing is lost",
        failed.code
    );

    step(4, "Máy chủ chạy lại trên cùng cổng; các văn phòng đồng bộ / The hub is back on the same port; offices sync")?;
    let running = server::start(hub.clone(), addr)
        .await
        .with_context(|| format!("restarting the hub on {addr}"))?;
    for o in &offices {
        agent.sync(o).await?;
    }
    out!("");
    let totals = report::totals(&hub, Some(2025), By::UnitKind)?;
    out!("{}", report::render_totals(&totals));

    step(
        5,
        "Đồng bộ lần hai: không gửi lại gì / A second sync re-sends nothing",
    )?;
    let mut resent = 0;
    for o in &offices {
        let v = agent.sync(o).await?;
        resent += v["sent"].as_u64().unwrap_or(0);
    }
    if resent != 0 {
        bail!("the second sync re-sent {resent} entries");
    }
    out!("   (Văn phòng huyện nhận bản ghi của các xã trong địa bàn / the district office receives its communes' records)");

    step(
        6,
        "Chỉ số năm 2025 theo kế hoạch Đồng Tháp 2021 / 2025 indicators against the Đồng Tháp 2021 plan",
    )?;
    let q = crate::indicators::Query {
        year: 2025,
        unit: None,
    };
    let r = crate::indicators::compute(&hub, &q, crate::indicators::today())?;
    for line in crate::indicators::render(&r).lines().take(26) {
        out!("   {line}");
    }
    out!("   (đầy đủ / in full: baobi-hub indicators --year 2025)");
    running.stop().await?;
    drop(hub);

    if keep {
        let path = tmp.keep();
        out!(
            "\nThư mục được giữ lại / Kept directory: {}",
            path.display()
        );
    }
    out!("\nXong / Done.");
    Ok(())
}
