//! Identifiers that name files on a volume (session ids, tree ids).
//!
//! Several pipeline services store one directory or file per session; a single rule for what an
//! id may contain keeps path traversal (`../x`) out of every one of them.

/// Longest accepted identifier.
pub const MAX_LEN: usize = 64;

/// Checks that `id` is 1–64 characters of `[A-Za-z0-9_-]`; the error names `kind` and the id.
pub fn check(kind: &str, id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= MAX_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        let shown: String = id.chars().take(80).collect();
        Err(format!(
            "{kind} {shown:?} is not 1-{MAX_LEN} characters of A-Z, a-z, 0-9, '-' and '_'"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_path_traversal_and_empty_ids() {
        assert!(check("session id", "abc-DEF_012").is_ok());
        for bad in ["", "../etc", "a/b", "a.b", &"x".repeat(65)] {
            let err = check("session id", bad).unwrap_err();
            assert!(err.starts_with("session id"), "{err}");
        }
    }
}
