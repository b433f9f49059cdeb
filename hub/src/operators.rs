//! Dashboard operators: names with argon2id password hashes (PHC strings) in the hub's sled tree under
//! the `n` prefix. Passwords are hashed by the caller (the CLI) before anything is sent to a running hub,
//! so plaintext never crosses the control socket and is never stored.
//!
//! Architecture invariant: only PHC strings are stored; verification runs in constant time in argon2.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::store::{keys, Hub};
use crate::{now_secs, rfc3339, Error, Result};

/// Longest operator name accepted (characters).
pub const MAX_NAME: usize = 64;
/// Shortest password accepted (characters).
pub const MIN_PASSWORD: usize = 8;
/// Longest password accepted (bytes), so hashing stays bounded.
pub const MAX_PASSWORD: usize = 1024;

/// An operator as stored.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct OperatorRec {
    /// Login name (NFC, trimmed).
    pub name: String,
    /// argon2id PHC string.
    pub phc: String,
    /// Created at (Unix seconds).
    pub created_at: i64,
}

/// An operator as listed (no hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorRow {
    /// Login name.
    pub name: String,
    /// Created at (RFC 3339).
    pub created_at: String,
}

/// Checks and normalises an operator name: 1..=64 characters, no control characters or spaces at the ends.
pub fn check_name(name: &str) -> Result<String> {
    let n = baobi_proto::validate::nfc(name.trim());
    if n.is_empty() || n.chars().count() > MAX_NAME || n.chars().any(char::is_control) {
        return Err(Error::Invalid(format!(
            "operator name must be 1-{MAX_NAME} printable characters / tên người dùng phải có 1-{MAX_NAME} ký tự"
        )));
    }
    Ok(n)
}

/// Hashes a password with argon2id (default parameters, random salt) into a PHC string.
pub fn hash_password(password: &str) -> Result<String> {
    if password.chars().count() < MIN_PASSWORD || password.len() > MAX_PASSWORD {
        return Err(Error::Invalid(format!(
            "password must have at least {MIN_PASSWORD} characters / mật khẩu phải có ít nhất {MIN_PASSWORD} ký tự"
        )));
    }
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Invalid(format!("password hashing failed: {e}")))
}

/// True when `password` matches the PHC string `phc`.
pub fn verify_password(phc: &str, password: &str) -> bool {
    if password.len() > MAX_PASSWORD {
        return false;
    }
    PasswordHash::new(phc).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

fn row(r: &OperatorRec) -> OperatorRow {
    OperatorRow {
        name: r.name.clone(),
        created_at: rfc3339(r.created_at),
    }
}

/// Adds an operator with an already computed PHC string; refuses an existing name or a malformed hash.
pub fn add(hub: &Hub, name: &str, phc: &str) -> Result<OperatorRow> {
    let name = check_name(name)?;
    let parsed = PasswordHash::new(phc)
        .map_err(|e| Error::Invalid(format!("not a PHC password hash: {e}")))?;
    if parsed.algorithm.as_str() != "argon2id" {
        return Err(Error::Invalid("password hash must be argon2id".into()));
    }
    let rec = OperatorRec {
        name: name.clone(),
        phc: phc.to_string(),
        created_at: now_secs(),
    };
    let tree = hub.tree();
    let key = keys::operator(&name);
    let res = tree.compare_and_swap(
        key,
        None as Option<&[u8]>,
        Some(baobi_proto::wire::encode(&rec)),
    )?;
    if res.is_err() {
        return Err(Error::Invalid(format!(
            "operator '{name}' already exists / người dùng '{name}' đã có"
        )));
    }
    hub.flush()?;
    Ok(row(&rec))
}

/// The stored operator called `name`.
pub fn get(hub: &Hub, name: &str) -> Result<Option<OperatorRec>> {
    let name = baobi_proto::validate::nfc(name.trim());
    hub.tree()
        .get(keys::operator(&name))?
        .map(|v| {
            baobi_proto::wire::decode(&v).map_err(|e| Error::Corrupt(format!("operator: {e}")))
        })
        .transpose()
}

/// Every operator, by name.
pub fn list(hub: &Hub) -> Result<Vec<OperatorRow>> {
    let mut out = vec![];
    for kv in hub.tree().scan_prefix([b'n']) {
        let rec: OperatorRec = baobi_proto::wire::decode(&kv?.1)
            .map_err(|e| Error::Corrupt(format!("operator: {e}")))?;
        out.push(row(&rec));
    }
    Ok(out)
}

/// Removes an operator; an unknown name is invalid input.
pub fn remove(hub: &Hub, name: &str) -> Result<OperatorRow> {
    let name = baobi_proto::validate::nfc(name.trim());
    let tree = hub.tree();
    let Some(old) = tree.remove(keys::operator(&name))? else {
        return Err(Error::Invalid(format!(
            "no operator '{name}' / không có người dùng '{name}'"
        )));
    };
    hub.flush()?;
    let rec: OperatorRec =
        baobi_proto::wire::decode(&old).map_err(|e| Error::Corrupt(format!("operator: {e}")))?;
    Ok(row(&rec))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_argon2id_phc_and_verifies() {
        let phc = hash_password("mật khẩu dài").unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(!phc.contains("mật khẩu"));
        assert!(verify_password(&phc, "mật khẩu dài"));
        assert!(!verify_password(&phc, "mật khẩu dai"));
        assert!(!verify_password("garbage", "mật khẩu dài"));
        assert!(hash_password("short").is_err());
    }

    #[test]
    fn names_are_checked() {
        assert_eq!(check_name("  Lan ").unwrap(), "Lan");
        assert!(check_name("").is_err());
        assert!(check_name("a\nb").is_err());
        assert!(check_name(&"x".repeat(65)).is_err());
    }
}
