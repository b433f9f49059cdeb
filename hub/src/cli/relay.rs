//! `baobi-hub enroll --relay ADDR --relay-fingerprint FP` (issue 14): the enrollment token names the
//! district office the new office syncs through when the hub does not answer (a `baobi3.` token;
//! without a relay the token is written exactly as before); and `baobi-hub relay allow|deny|offices`,
//! the operator's word on which offices a relay may carry (the hub tells the relay at its syncs).

use anyhow::bail;
use clap::Subcommand;

use super::{call, json, Request, Response};
use baobi_proto::identity::PeerPin;
use baobi_proto::Token;
use data_encoding::HEXLOWER;

/// The relay at `addr` (certificate SHA-256 `fingerprint`, as `baobi-agent relay info` prints
/// it), checked before any token is issued; `None` when no relay is given.
pub(super) fn pin(
    addr: Option<String>,
    fingerprint: Option<String>,
) -> anyhow::Result<Option<PeerPin>> {
    let (Some(addr), Some(fp)) = (addr, fingerprint) else {
        return Ok(None);
    };
    if !addr.contains(':') {
        bail!(
            "--relay: địa chỉ phải có dạng máy:cổng / the relay's address must be host:port, not \
             '{addr}'"
        );
    }
    let clean: String = fp
        .chars()
        .filter(|c| !matches!(c, ':' | ' '))
        .collect::<String>()
        .to_ascii_lowercase();
    let Some(fingerprint) = HEXLOWER
        .decode(clean.as_bytes())
        .ok()
        .and_then(|v| <[u8; 32]>::try_from(v).ok())
    else {
        bail!(
            "--relay-fingerprint: phải là 64 chữ số hex (`baobi-agent relay info` trên trạm \
             chuyển tiếp) / must be 64 hex digits (`baobi-agent relay info` on the relay)"
        );
    };
    Ok(Some(PeerPin { addr, fingerprint }))
}

/// `token` naming the relay `pin` too; unchanged when there is none.
pub(super) fn with_relay(token: &str, pin: Option<PeerPin>) -> anyhow::Result<String> {
    let Some(pin) = pin else {
        return Ok(token.to_string());
    };
    let mut t = Token::from_text(token)?;
    t.relay = Some(pin);
    Ok(t.to_text())
}

/// `relay` subcommands.
#[derive(Debug, Subcommand)]
pub enum RelayCmd {
    /// Let RELAY carry OFFICE (besides the offices below its units).
    Allow {
        /// The relay office: author hex prefix (≥ 8 digits) or exact label, as `agents` shows them.
        relay: String,
        /// The office it may carry (same forms).
        office: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Forbid RELAY to carry OFFICE (even one below its units).
    Deny {
        /// The relay office: author hex prefix (≥ 8 digits) or exact label.
        relay: String,
        /// The office (same forms).
        office: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The offices RELAY may carry, as the hub tells it at its syncs.
    Offices {
        /// The relay office: author hex prefix (≥ 8 digits) or exact label.
        relay: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(super) fn run_relay(dir: &std::path::Path, cmd: RelayCmd) -> anyhow::Result<()> {
    let (relay, office, allow, j) = match cmd {
        RelayCmd::Allow {
            relay,
            office,
            json,
        } => (relay, office, Some(true), json),
        RelayCmd::Deny {
            relay,
            office,
            json,
        } => (relay, office, Some(false), json),
        RelayCmd::Offices { relay, json } => (relay, String::new(), None, json),
    };
    let Response::RelayCarry(c) = call(
        dir,
        Request::RelayCarry {
            relay,
            office,
            allow,
        },
    )?
    else {
        bail!("unexpected answer from the hub");
    };
    if j {
        out!("{}", json(&c)?);
        return Ok(());
    }
    out!(
        "Trạm chuyển tiếp {} ({}) chuyển tiếp cho {} văn phòng / Relay {} ({}) carries {} offices",
        c.label,
        &c.relay[..8],
        c.offices.len(),
        c.label,
        &c.relay[..8],
        c.offices.len()
    );
    for o in &c.offices {
        let by = if o.by == "allowed" {
            "được cho phép / allowed"
        } else {
            "thuộc địa bàn / jurisdiction"
        };
        out!("  {}  {}  {}  {by}", &o.office[..16], o.unit, o.label);
    }
    for d in &c.denied {
        out!("  {}  bị cấm / denied", &d[..16]);
    }
    Ok(())
}
