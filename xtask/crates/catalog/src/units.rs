//! Sizes, durations and subnets as Compose writes them.

use anyhow::{anyhow, bail, Context, Result};
/// `64M`, `1G`, `512k`, `1024` (bytes). Units are binary (M = MiB), as Docker reads them.
pub fn parse_bytes(text: &str) -> Result<u64> {
    let t = text.trim();
    let lower = t.to_ascii_lowercase();
    let lower = lower.trim_end_matches('b').trim_end_matches('i');
    let (num, mult) = match lower.chars().last() {
        Some('k') => (&lower[..lower.len() - 1], 1u64 << 10),
        Some('m') => (&lower[..lower.len() - 1], 1 << 20),
        Some('g') => (&lower[..lower.len() - 1], 1 << 30),
        Some(c) if c.is_ascii_digit() => (lower, 1),
        _ => bail!("{text:?} is not a size like 64M or 1G"),
    };
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| anyhow!("{text:?} is not a size like 64M or 1G"))?;
    if !(n.is_finite() && n > 0.0) {
        bail!("{text:?} must be positive");
    }
    Ok((n * mult as f64) as u64)
}

/// `10s`, `1m30s`, `500ms`, `2h` -> seconds.
pub fn parse_duration_secs(text: &str) -> Result<f64> {
    let bad = || anyhow!("{text:?} is not a duration like 10s or 1m30s");
    let mut total = 0.0;
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let n: f64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += n * factor;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

/// `172.28.0.0/24` -> (network address, prefix length).
pub fn parse_cidr(text: &str) -> Result<(std::net::Ipv4Addr, u8)> {
    let (addr, prefix) = text
        .split_once('/')
        .with_context(|| format!("{text:?} has no /prefix"))?;
    let addr: std::net::Ipv4Addr = addr
        .parse()
        .map_err(|_| anyhow!("{addr:?} is not an IPv4 address"))?;
    let prefix: u8 = prefix
        .parse()
        .ok()
        .filter(|p| *p <= 32)
        .with_context(|| format!("{prefix:?} is not a prefix length"))?;
    Ok((addr, prefix))
}

/// True when `ip` lies inside `cidr`.
pub fn cidr_contains(cidr: &str, ip: std::net::Ipv4Addr) -> Result<bool> {
    let (net, prefix) = parse_cidr(cidr)?;
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    Ok(u32::from(net) & mask == u32::from(ip) & mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("64M").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("1G").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("512Mi").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("1.5g").unwrap(), 3 << 29);
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("0M").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_secs("10s").unwrap(), 10.0);
        assert_eq!(parse_duration_secs("1m30s").unwrap(), 90.0);
        assert_eq!(parse_duration_secs("500ms").unwrap(), 0.5);
        assert!(parse_duration_secs("10").is_err());
        assert!(parse_duration_secs("s").is_err());
    }

    #[test]
    fn subnets() {
        assert!(cidr_contains("172.28.0.0/24", "172.28.0.10".parse().unwrap()).unwrap());
        assert!(!cidr_contains("172.28.0.0/24", "172.28.1.10".parse().unwrap()).unwrap());
        assert!(parse_cidr("172.28.0.0").is_err());
    }
}
