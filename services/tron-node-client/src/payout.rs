//! Payout requests and the bounds they must respect before anything is sent to a TRON node.

use crate::address::TronAddress;
use serde::{Deserialize, Serialize};

/// Amount bounds in sun (1 TRX = 1,000,000 sun).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub min_sun: u64,
    pub max_sun: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayoutRequest {
    pub to_address: String,
    pub amount_sun: u64,
}

/// A request that passed validation.
#[derive(Debug, Clone, Serialize)]
pub struct Payout {
    pub to_address: String,
    pub amount_sun: u64,
}

/// A refused request: the field and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Invalid {
    pub field: &'static str,
    pub error: String,
}

pub fn validate(req: &PayoutRequest, limits: Limits) -> Result<Payout, Invalid> {
    let address = TronAddress::parse(req.to_address.trim()).map_err(|e| Invalid {
        field: "to_address",
        error: format!("to_address {:?}: {e}", req.to_address),
    })?;
    if req.amount_sun < limits.min_sun {
        return Err(Invalid {
            field: "amount_sun",
            error: format!(
                "amount_sun {} is below the minimum payout of {} sun",
                req.amount_sun, limits.min_sun
            ),
        });
    }
    if req.amount_sun > limits.max_sun {
        return Err(Invalid {
            field: "amount_sun",
            error: format!(
                "amount_sun {} is above the maximum payout of {} sun",
                req.amount_sun, limits.max_sun
            ),
        });
    }
    Ok(Payout {
        to_address: address.to_base58(),
        amount_sun: req.amount_sun,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        min_sun: 1_000_000,
        max_sun: 100_000_000_000,
    };

    fn req(to: &str, amount: u64) -> PayoutRequest {
        PayoutRequest {
            to_address: to.into(),
            amount_sun: amount,
        }
    }

    #[test]
    fn accepts_payout_within_bounds() {
        let p = validate(
            &req("T9yD14Nj9j7xAB4dbGeiX9h8unkKHxuWwb", 1_000_000),
            LIMITS,
        )
        .unwrap();
        assert_eq!(p.amount_sun, 1_000_000);
        assert!(validate(
            &req("T9yD14Nj9j7xAB4dbGeiX9h8unkKHxuWwb", 100_000_000_000),
            LIMITS
        )
        .is_ok());
    }

    #[test]
    fn rejects_payout_below_minimum() {
        let e = validate(&req("T9yD14Nj9j7xAB4dbGeiX9h8unkKHxuWwb", 999_999), LIMITS).unwrap_err();
        assert_eq!(e.field, "amount_sun");
        assert!(e.error.contains("minimum"), "{}", e.error);
    }

    #[test]
    fn rejects_payout_above_maximum() {
        let e = validate(
            &req("T9yD14Nj9j7xAB4dbGeiX9h8unkKHxuWwb", 100_000_000_001),
            LIMITS,
        )
        .unwrap_err();
        assert!(e.error.contains("maximum"), "{}", e.error);
    }

    #[test]
    fn rejects_payout_to_invalid_address() {
        let e = validate(
            &req("T9yD14Nj9j7xAB4dbGeiX9h8unkKHxuWwc", 2_000_000),
            LIMITS,
        )
        .unwrap_err();
        assert_eq!(e.field, "to_address");
        assert!(e.error.contains("checksum"), "{}", e.error);
    }
}
