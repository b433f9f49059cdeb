//! The errors of `ops` and the exit codes they mean: one place where a failure of the store, a sync
//! or a drop file becomes the bilingual message and the exit code every door (CLI, control socket,
//! office app) shows.

use crate::store;
use crate::sync;

/// Exit code for errors in general.
pub const EXIT_ERROR: i32 = 1;
/// Exit code for invalid input.
pub const EXIT_INVALID: i32 = 2;
/// Exit code when the hub is unreachable.
pub const EXIT_UNREACHABLE: i32 = 3;

/// What can go wrong executing a command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Invalid input, naming the field when one is at fault (the CLI shows "field: message").
    #[error("Dữ liệu không hợp lệ / Invalid input: {}", invalid_text(.field.as_deref(), .message))]
    Invalid {
        /// The field at fault, as the CLI names it (`vendors-total`), when there is one.
        field: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// The store was never enrolled.
    #[error("Chưa đăng ký với máy chủ tỉnh / Not enrolled with the hub: run `baobi-agent init --token TOKEN` first")]
    NotEnrolled,
    /// Sync failed.
    #[error("{}", sync_message(.0))]
    Sync(#[from] sync::Error),
    /// The store failed.
    #[error("Lỗi kho dữ liệu / Store error: {0}")]
    Store(#[from] store::Error),
    /// A drop file was refused (nothing changed) or could not be written.
    #[error("Tệp chuyển dữ liệu / Drop file: {0}; không thay đổi gì / nothing changed")]
    Drop(#[from] crate::drop::Error),
}

fn invalid_text(field: Option<&str>, message: &str) -> String {
    match field {
        Some(f) => format!("{f}: {message}"),
        None => message.to_string(),
    }
}

fn sync_message(e: &sync::Error) -> String {
    match e {
        sync::Error::Unreachable {
            addr,
            detail,
            pending,
        } => format!(
            "Không kết nối được máy chủ tỉnh / Hub unreachable at {addr}: {detail}; nothing is lost, {pending} entries wait to be sent"
        ),
        e @ sync::Error::HubMismatch { .. } => format!(
            "{e}. Không gửi gì / Nothing was sent: kiểm tra địa chỉ máy chủ hoặc hỏi quản trị máy chủ tỉnh / check the hub address or ask the hub operator"
        ),
        sync::Error::Refused(r) => format!(
            "Máy chủ tỉnh từ chối / The hub refused ({:?}): {}",
            r.code, r.message
        ),
        e @ (sync::Error::ForgedReceipt { .. } | sync::Error::RelayRefused { .. }) => e.to_string(),
        sync::Error::NotEnrolled => Error::NotEnrolled.to_string(),
        sync::Error::AlreadyEnrolled(addr) => format!(
            "Văn phòng đã đăng ký / This office is already enrolled with the hub at {addr}"
        ),
        other => format!("Trao đổi với máy chủ tỉnh thất bại / Exchange with the hub failed: {other}"),
    }
}

impl Error {
    /// The process exit code this error means.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Invalid { .. } => EXIT_INVALID,
            Error::Drop(e) if e.is_bad_input() => EXIT_INVALID,
            Error::Sync(sync::Error::Unreachable { .. }) => EXIT_UNREACHABLE,
            _ => EXIT_ERROR,
        }
    }
}

impl From<baobi_proto::Error> for Error {
    fn from(e: baobi_proto::Error) -> Self {
        match e {
            baobi_proto::Error::Field { field, message } => Error::Invalid {
                field: Some(field),
                message,
            },
            other => Error::Invalid {
                field: None,
                message: other.to_string(),
            },
        }
    }
}

impl Error {
    /// The field at fault, for invalid input that names one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::Invalid { field, .. } => field.as_deref(),
            _ => None,
        }
    }
}

pub(super) fn invalid(field: &str, msg: impl std::fmt::Display) -> Error {
    Error::Invalid {
        field: Some(field.to_string()),
        message: msg.to_string(),
    }
}

/// Result with the ops error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
