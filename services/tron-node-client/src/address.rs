//! TRON addresses: Base58Check of a 21-byte payload, version byte 0x41 followed by the 20-byte
//! account hash, with a 4-byte checksum = first bytes of SHA-256(SHA-256(payload)).

use sha2::{Digest, Sha256};
use std::fmt;

/// Version byte of TRON mainnet (and testnet) account addresses.
pub const VERSION: u8 = 0x41;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TronAddress([u8; 21]);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressError {
    NotBase58(String),
    WrongLength(usize),
    BadChecksum,
    WrongVersion(u8),
}

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressError::NotBase58(e) => write!(f, "not Base58: {e}"),
            AddressError::WrongLength(n) => {
                write!(
                    f,
                    "decodes to {n} bytes, expected 25 (21-byte payload + 4-byte checksum)"
                )
            }
            AddressError::BadChecksum => write!(f, "Base58Check checksum does not match"),
            AddressError::WrongVersion(v) => {
                write!(f, "version byte 0x{v:02x}, expected 0x{VERSION:02x}")
            }
        }
    }
}

fn checksum(payload: &[u8]) -> [u8; 4] {
    let twice = Sha256::digest(Sha256::digest(payload));
    [twice[0], twice[1], twice[2], twice[3]]
}

impl TronAddress {
    /// The address of a 20-byte account hash.
    pub fn from_account(hash: [u8; 20]) -> Self {
        let mut payload = [0u8; 21];
        payload[0] = VERSION;
        payload[1..].copy_from_slice(&hash);
        TronAddress(payload)
    }

    pub fn parse(text: &str) -> Result<Self, AddressError> {
        let bytes = bs58::decode(text)
            .into_vec()
            .map_err(|e| AddressError::NotBase58(e.to_string()))?;
        if bytes.len() != 25 {
            return Err(AddressError::WrongLength(bytes.len()));
        }
        let (payload, check) = bytes.split_at(21);
        if checksum(payload) != check {
            return Err(AddressError::BadChecksum);
        }
        if payload[0] != VERSION {
            return Err(AddressError::WrongVersion(payload[0]));
        }
        let mut out = [0u8; 21];
        out.copy_from_slice(payload);
        Ok(TronAddress(out))
    }

    pub fn payload(&self) -> &[u8; 21] {
        &self.0
    }

    /// Base58Check text (`T…`, 34 characters).
    pub fn to_base58(&self) -> String {
        let mut bytes = self.0.to_vec();
        bytes.extend_from_slice(&checksum(&self.0));
        bs58::encode(bytes).into_string()
    }
}

impl fmt::Display for TronAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base58())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Base58Check of arbitrary bytes, to build wrong-version and wrong-length inputs whose
    /// checksum is nevertheless right.
    fn base58check(payload: &[u8]) -> String {
        let mut bytes = payload.to_vec();
        bytes.extend_from_slice(&checksum(payload));
        bs58::encode(bytes).into_string()
    }

    #[test]
    fn zero_account_is_the_known_address() {
        let zero = TronAddress::from_account([0; 20]);
        assert_eq!(zero.to_base58(), "T9yD14Nj9j7xAB4dbGeiX9h8unkKHxuWwb");
        assert_eq!(
            TronAddress::parse("T9yD14Nj9j7xAB4dbGeiX9h8unkKHxuWwb"),
            Ok(zero)
        );
    }

    #[test]
    fn accepts_a_known_mainnet_address() {
        // The USDT (TRC-20) contract on TRON mainnet.
        let usdt = TronAddress::parse("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t").unwrap();
        assert_eq!(usdt.payload()[0], VERSION);
        assert_eq!(usdt.to_base58(), "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t");
    }

    #[test]
    fn addresses_built_from_payloads_round_trip() {
        for seed in [1u8, 0x7f, 0xff] {
            let addr = TronAddress::from_account([seed; 20]);
            let text = addr.to_base58();
            assert!(text.starts_with('T') && text.len() == 34, "{text}");
            assert_eq!(TronAddress::parse(&text), Ok(addr));
        }
    }

    #[test]
    fn rejects_address_with_bad_checksum() {
        // Last character changed: the checksum no longer matches.
        assert_eq!(
            TronAddress::parse("T9yD14Nj9j7xAB4dbGeiX9h8unkKHxuWwc"),
            Err(AddressError::BadChecksum)
        );
    }

    #[test]
    fn rejects_address_with_wrong_version_byte() {
        let mut payload = [0u8; 21];
        payload[0] = 0x00; // a Bitcoin-style version byte
        assert_eq!(
            TronAddress::parse(&base58check(&payload)),
            Err(AddressError::WrongVersion(0x00))
        );
    }

    #[test]
    fn rejects_address_of_wrong_length() {
        let mut short = vec![VERSION];
        short.extend_from_slice(&[5; 19]);
        assert_eq!(
            TronAddress::parse(&base58check(&short)),
            Err(AddressError::WrongLength(24))
        );
        assert_eq!(TronAddress::parse(""), Err(AddressError::WrongLength(0)));
    }

    #[test]
    fn rejects_non_base58_text() {
        // 0, O, I and l are not in the Base58 alphabet.
        assert!(matches!(
            TronAddress::parse("T0yD14Nj9j7xAB4dbGeiX9h8unkKHxuWwb"),
            Err(AddressError::NotBase58(_))
        ));
    }
}
