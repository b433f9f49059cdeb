//! `baobi-hub drop import FILE` and `drop export --for AGENT --out FILE`: drop files for offices with
//! no link, through the serving hub's control socket or on a stopped store (the work is
//! `crate::drop`).

use super::*;

/// `drop` subcommands.
#[derive(Debug, Subcommand)]
pub enum DropCmd {
    /// Merge an office's drop file (`baobi-agent drop export`) with every check a sync does.
    Import {
        /// The file.
        file: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write what an office lacks (its audience), with the hub's receipt, for `baobi-agent drop
    /// import`.
    Export {
        /// The office: author hex prefix (≥ 8 digits) or exact label, as `agents` shows them.
        #[arg(long = "for", value_name = "AGENT")]
        agent: String,
        /// The file to write.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(p).with_context(|| format!("path {}", p.display()))
}

pub(super) fn run_drop(dir: &Path, cmd: DropCmd) -> anyhow::Result<()> {
    match cmd {
        DropCmd::Import { file, json: j } => {
            let r = call(
                dir,
                Request::DropImport {
                    file: absolute(&file)?,
                },
            )?;
            let Response::DropImported(i) = r else {
                bail!("unexpected answer from the hub");
            };
            if j {
                out!("{}", json(&i)?);
            } else {
                out!(
                    "{} ({}): {} mục, {} mới; máy chủ giữ đến mục {} / {} entries, {} new; the hub \
                     holds up to entry {}",
                    i.label,
                    i.unit,
                    i.entries,
                    i.new,
                    i.at_hub,
                    i.entries,
                    i.new,
                    i.at_hub
                );
            }
        }
        DropCmd::Export {
            agent,
            out,
            json: j,
        } => {
            let r = call(
                dir,
                Request::DropExport {
                    agent,
                    out: absolute(&out)?,
                },
            )?;
            let Response::DropExported(e) = r else {
                bail!("unexpected answer from the hub");
            };
            if j {
                out!("{}", json(&e)?);
            } else {
                out!("{}", e.path);
                note!(
                    "Cho {}: {} mục, biên nhận đến mục {}, {} byte / For {}: {} entries, receipt up \
                     to entry {}, {} bytes",
                    e.label,
                    e.entries,
                    e.receipt_seq,
                    e.bytes,
                    e.label,
                    e.entries,
                    e.receipt_seq,
                    e.bytes
                );
            }
        }
    }
    Ok(())
}
