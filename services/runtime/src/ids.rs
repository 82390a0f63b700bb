//! Random identifiers and nonces, their hex text form, and the wall clock that stamps records.
//!
//! Several services mint ids (sessions, deployments, proposals, challenges) and stamp records with
//! Unix seconds; one implementation keeps their formats identical.

use std::time::{SystemTime, UNIX_EPOCH};

/// `N` bytes from the operating system's CSPRNG (getrandom(2) on Linux).
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // The kernel CSPRNG does not fail once the system has booted; a failure here means the
    // process cannot mint unguessable ids at all, which no caller could recover from.
    getrandom::fill(&mut buf).expect("operating system random source unavailable");
    buf
}

/// A random 128-bit id as 32 lowercase hex digits.
pub fn random_id() -> String {
    to_hex(&random_bytes::<16>())
}

/// Lowercase hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

/// Bytes of a hex string (either case, optional `0x` prefix); the error names the problem.
pub fn from_hex(text: &str) -> Result<Vec<u8>, String> {
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text);
    if !digits.len().is_multiple_of(2) {
        return Err(format!("hex string has odd length {}", digits.len()));
    }
    let value = |c: u8| -> Result<u8, String> {
        (c as char)
            .to_digit(16)
            .map(|d| d as u8)
            .ok_or_else(|| format!("{:?} is not a hex digit", c as char))
    };
    digits
        .as_bytes()
        .chunks(2)
        .map(|pair| Ok(value(pair[0])? << 4 | value(pair[1])?))
        .collect()
}

/// Seconds since the Unix epoch.
pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_errors() {
        assert_eq!(to_hex(&[0x00, 0xab, 0xff]), "00abff");
        assert_eq!(from_hex("0x00ABff").unwrap(), vec![0x00, 0xab, 0xff]);
        assert!(from_hex("abc").unwrap_err().contains("odd length"));
        assert!(from_hex("zz").unwrap_err().contains("not a hex digit"));
    }

    #[test]
    fn random_ids_differ_and_are_hex() {
        let (a, b) = (random_id(), random_id());
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(from_hex(&a).is_ok());
    }
}
