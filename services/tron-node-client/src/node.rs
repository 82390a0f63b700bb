//! The TRON node's HTTP API (java-tron `/wallet/*` endpoints), the only place TRON is spoken to.

use crate::address::TronAddress;
use crate::payout::Payout;
use lucid_runtime::client::Client;
use lucid_runtime::ids::from_hex;
use serde_json::{json, Value};

pub struct TronNode {
    url: String,
    owner: TronAddress,
    client: Client,
}

/// Why the node did not accept a relayed request; both become 502 for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayError {
    Unreachable(String),
    Rejected(String),
}

impl std::fmt::Display for RelayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RelayError::Unreachable(e) => write!(f, "TRON node unreachable: {e}"),
            RelayError::Rejected(e) => write!(f, "TRON node refused the request: {e}"),
        }
    }
}

/// java-tron reports failures inside 200 replies: `{"Error": …}` or `{"code": …, "message": <hex>}`.
fn node_error(reply: &Value) -> Option<String> {
    if let Some(e) = reply.get("Error").and_then(Value::as_str) {
        return Some(e.to_string());
    }
    let code = reply.get("code").and_then(Value::as_str)?;
    if code == "SUCCESS" {
        return None;
    }
    let message = reply.get("message").and_then(Value::as_str).unwrap_or("");
    let message = from_hex(message)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_else(|| message.to_string());
    Some(format!("{code}: {message}"))
}

impl TronNode {
    pub fn new(url: &str, owner: TronAddress, client: Client) -> Self {
        TronNode {
            url: url.trim_end_matches('/').to_string(),
            owner,
            client,
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    fn call(&self, path: &str, body: &Value) -> Result<Value, RelayError> {
        let url = format!("{}{path}", self.url);
        let reply = self
            .client
            .post_json(&url, body)
            .map_err(RelayError::Unreachable)?;
        let value: Value = reply.json().map_err(RelayError::Rejected)?;
        match node_error(&value) {
            Some(e) => Err(RelayError::Rejected(e)),
            None => Ok(value),
        }
    }

    /// Asks the node to build the unsigned TRX transfer from the payout wallet.
    pub fn create_transaction(&self, payout: &Payout) -> Result<Value, RelayError> {
        let tx = self.call(
            "/wallet/createtransaction",
            &json!({
                "owner_address": self.owner.to_base58(),
                "to_address": payout.to_address,
                "amount": payout.amount_sun,
                "visible": true,
            }),
        )?;
        if tx.get("txID").and_then(Value::as_str).is_none() {
            return Err(RelayError::Rejected("reply has no txID".into()));
        }
        Ok(tx)
    }

    /// Relays a transaction signed elsewhere; the node answers `{"result": true, "txid": …}`.
    pub fn broadcast(&self, signed: &Value) -> Result<Value, RelayError> {
        let reply = self.call("/wallet/broadcasttransaction", signed)?;
        if reply.get("result").and_then(Value::as_bool) != Some(true) {
            return Err(RelayError::Rejected(format!(
                "broadcast not accepted: {reply}"
            )));
        }
        Ok(reply)
    }
}

/// The shape a signed transaction must have before it is worth sending to the node.
pub fn check_signed(tx: &Value) -> Result<(), String> {
    let tx_id = tx.get("txID").and_then(Value::as_str).unwrap_or("");
    if tx_id.len() != 64 || from_hex(tx_id).is_err() {
        return Err("transaction.txID: expected 64 hex digits".into());
    }
    if tx.get("raw_data").map(Value::is_object) != Some(true) {
        return Err("transaction.raw_data: expected an object".into());
    }
    let signed = tx
        .get("signature")
        .and_then(Value::as_array)
        .is_some_and(|s| {
            !s.is_empty()
                && s.iter()
                    .all(|v| v.as_str().is_some_and(|h| from_hex(h).is_ok()))
        });
    if !signed {
        return Err("transaction.signature: expected a non-empty list of hex signatures".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_errors_are_decoded() {
        assert_eq!(
            node_error(
                &json!({"Error": "class org.tron.core.exception.ContractValidateException"})
            ),
            Some("class org.tron.core.exception.ContractValidateException".into())
        );
        // "balance is not sufficient" hex-encoded, as java-tron sends it.
        let hex = lucid_runtime::ids::to_hex(b"balance is not sufficient");
        assert_eq!(
            node_error(&json!({"code": "CONTRACT_VALIDATE_ERROR", "message": hex})),
            Some("CONTRACT_VALIDATE_ERROR: balance is not sufficient".into())
        );
        assert_eq!(node_error(&json!({"result": true, "txid": "ab"})), None);
    }

    #[test]
    fn unsigned_or_malformed_transactions_are_not_broadcast() {
        let good = json!({"txID": "ab".repeat(32), "raw_data": {}, "signature": ["00ff"]});
        assert!(check_signed(&good).is_ok());
        let mut unsigned = good.clone();
        unsigned["signature"] = json!([]);
        assert!(check_signed(&unsigned).unwrap_err().contains("signature"));
        assert!(check_signed(&json!({"txID": "xyz"}))
            .unwrap_err()
            .contains("txID"));
    }
}
