//! `baobi-hub standby token`, `init --standby-of` and `promote`: a standby hub that follows the
//! primary (the work is in `crate::follow` and `store/standby.rs`), kept apart from `mod.rs`.

use super::*;

/// `standby` subcommands.
#[derive(Debug, Subcommand)]
pub enum StandbyCmd {
    /// Issue a one-time standby token (on the primary): `baobi-hub init --standby-of TOKEN` on the
    /// second machine makes it a standby that follows this hub.
    Token {
        /// This hub's address the standby connects to (default: the last address `serve` listened on).
        #[arg(long)]
        addr: Option<String>,
        /// Hours the token stays valid.
        #[arg(long, default_value_t = 24)]
        ttl_hours: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a `standby` subcommand.
pub(super) fn run_standby(dir: &Path, cmd: StandbyCmd) -> anyhow::Result<()> {
    match cmd {
        StandbyCmd::Token {
            addr,
            ttl_hours,
            json: j,
        } => {
            let Response::StandbyToken {
                token,
                expires_at,
                warning,
            } = call(dir, Request::StandbyToken { addr, ttl_hours })?
            else {
                bail!("unexpected answer from the hub");
            };
            let hint = format!(
                "Mã dùng một lần cho máy chủ dự phòng, hết hạn {expires_at} / One-time standby \
                 token, expires {expires_at}.\n\
                 Trên máy dự phòng / On the standby: baobi-hub --data DIR init --standby-of \
                 <TOKEN> --addr HOST:PORT"
            );
            print_token(j, &token, &expires_at, warning, &hint)?;
        }
    }
    Ok(())
}

/// `init --standby-of TOKEN --addr ADDR`: contacts the primary, then makes the standby's store.
pub(super) fn init_standby(dir: &Path, token: &str, addr: Option<&str>) -> anyhow::Result<()> {
    let addr = addr.ok_or_else(|| {
        Usage(
            "--standby-of cần --addr HOST:PORT (địa chỉ văn phòng dùng để tới máy chủ dự phòng) / \
             --standby-of needs --addr HOST:PORT (where offices reach the standby)"
                .into(),
        )
    })?;
    if addr.parse::<SocketAddr>().is_err() && !addr.contains(':') {
        return Err(Usage(format!(
            "--addr '{addr}' không phải HOST:PORT / is not HOST:PORT"
        ))
        .into());
    }
    let token = baobi_proto::Token::from_standby_text(token).map_err(|e| Usage(e.to_string()))?;
    let rt = tokio::runtime::Runtime::new()?;
    let hub = rt
        .block_on(crate::follow::first_contact(dir, &token, addr))
        .map_err(|e| match e {
            crate::follow::Error::Store(crate::Error::Invalid(m)) => Usage(m).into(),
            e => anyhow::Error::from(e).context(format!("standby of the hub at {}", token.addr)),
        })?;
    out!(
        "Tỉnh / Province: {} ({})",
        hub.province_name(),
        hub.province()
    );
    out!(
        "Dấu vân tay máy chủ dự phòng / Standby fingerprint: {}",
        data_encoding::HEXLOWER.encode(&hub.fingerprint())
    );
    note!(
        "Đã khởi tạo máy chủ dự phòng của {} / Standby of the hub at {} initialised in {}; \
         `baobi-hub serve` theo dõi máy chủ chính / follows the primary",
        token.addr,
        token.addr,
        dir.display()
    );
    Ok(())
}

/// `promote`: this standby becomes the primary.
pub(super) fn promote(dir: &Path, j: bool) -> anyhow::Result<()> {
    let Response::Promoted { was_standby } = call(dir, Request::Promote)? else {
        bail!("unexpected answer from the hub");
    };
    if j {
        out!("{}", json(&serde_json::json!({"promoted": was_standby}))?);
    } else if was_standby {
        note!(
            "Máy chủ dự phòng nay là máy chủ chính; ngừng theo dõi / This standby is now the \
             primary; it no longer follows"
        );
    } else {
        note!("Máy chủ này đã là máy chủ chính / This hub is already a primary");
    }
    Ok(())
}

/// `serve` on a primary whose standby was promoted while it was down: refuses to start, so that two
/// primaries never take offices' syncs apart.
pub(super) async fn refuse_if_superseded(hub: &Arc<Hub>) -> anyhow::Result<()> {
    let found = match crate::standby_peer::superseded(hub)? {
        Some(s) => Some(s),
        None => crate::follow::superseded(hub).await?,
    };
    if let Some((addr, at)) = found {
        bail!(
            "máy chủ dự phòng tại {addr} đã được đưa lên làm máy chủ chính lúc {}; máy chủ này không \
             phục vụ nữa (để làm máy chủ dự phòng của nó: baobi-hub init --standby-of trong thư mục \
             mới) / the standby at {addr} was promoted to primary at {}; this hub no longer serves \
             (to make it a standby of the new primary: baobi-hub init --standby-of in a new folder)",
            crate::rfc3339(at),
            crate::rfc3339(at)
        );
    }
    Ok(())
}

/// Prints a one-time token for a hub that will follow this one (standby or national): the token
/// alone on stdout (or `{"token","expires_at"}` with `--json`), the warning and `hint` on stderr.
pub(super) fn print_token(
    j: bool,
    token: &str,
    expires_at: &str,
    warning: Option<String>,
    hint: &str,
) -> anyhow::Result<()> {
    if j {
        out!(
            "{}",
            json(&serde_json::json!({"token": token, "expires_at": expires_at}))?
        );
    } else {
        if let Some(w) = warning {
            note!("Cảnh báo / Warning: {w}");
        }
        out!("{token}");
        note!("{hint}");
    }
    Ok(())
}
