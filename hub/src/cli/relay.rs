//! `baobi-hub enroll --relay ADDR --relay-fingerprint FP` (issue 14): the enrollment token names the
//! district office the new office syncs through when the hub does not answer (a `baobi3.` token;
//! without a relay the token is written exactly as before).

use anyhow::bail;
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
