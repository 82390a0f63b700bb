//! Deployment records and their status machine:
//! `pending → deployed` (with the contract address), `pending → failed` (with the reason),
//! `failed → pending` (a retry). `deployed` is final. Every change is appended to the history.

use lucid_runtime::http::Refusal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pending,
    Deployed,
    Failed,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Pending => "pending",
            Status::Deployed => "deployed",
            Status::Failed => "failed",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub status: Status,
    pub at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    pub id: String,
    pub artifact_id: String,
    pub chain: String,
    pub status: Status,
    pub address: Option<String>,
    pub tx_hash: Option<String>,
    pub error: Option<String>,
    pub created_at: u64,
    pub updated_at: u64,
    pub history: Vec<HistoryEntry>,
}

/// Everything on the volume.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Records {
    pub deployments: BTreeMap<String, Deployment>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewDeployment {
    pub artifact_id: String,
    pub chain: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusUpdate {
    pub status: Status,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub tx_hash: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
}

/// A refused change: 422 for bad values, 409 for a transition the status machine forbids, 404
/// for an unknown deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    Invalid(String),
    Transition(String),
    NotFound(String),
}

impl Refusal for Refused {
    fn status(&self) -> u16 {
        match self {
            Refused::Invalid(_) => 422,
            Refused::Transition(_) => 409,
            Refused::NotFound(_) => 404,
        }
    }

    fn message(&self) -> String {
        match self {
            Refused::Invalid(m) | Refused::Transition(m) | Refused::NotFound(m) => m.clone(),
        }
    }
}

/// Printable text without whitespace, of bounded length: chain names, addresses, hashes.
fn token(field: &str, value: &str, max: usize) -> Result<(), Refused> {
    if value.is_empty() || value.len() > max || !value.chars().all(|c| c.is_ascii_graphic()) {
        return Err(Refused::Invalid(format!(
            "{field} {value:?}: expected 1-{max} printable ASCII characters without spaces"
        )));
    }
    Ok(())
}

pub fn check_new(new: &NewDeployment) -> Result<(), Refused> {
    let hex64 = new.artifact_id.len() == 64
        && new
            .artifact_id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !hex64 {
        return Err(Refused::Invalid(format!(
            "artifact_id {:?}: expected the 64-hex-digit id from contract-compiler",
            new.artifact_id
        )));
    }
    token("chain", &new.chain, 64)
}

pub fn create(id: String, new: NewDeployment, now: u64) -> Deployment {
    Deployment {
        id,
        artifact_id: new.artifact_id,
        chain: new.chain,
        status: Status::Pending,
        address: None,
        tx_hash: None,
        error: None,
        created_at: now,
        updated_at: now,
        history: vec![HistoryEntry {
            status: Status::Pending,
            at: now,
            note: None,
        }],
    }
}

/// Applies `update` if the status machine allows it; otherwise leaves `d` untouched.
pub fn transition(d: &mut Deployment, update: StatusUpdate, now: u64) -> Result<(), Refused> {
    use Status::*;
    let allowed = matches!(
        (d.status, update.status),
        (Pending, Deployed) | (Pending, Failed) | (Failed, Pending)
    );
    if !allowed {
        return Err(Refused::Transition(format!(
            "deployment {} is {}; it cannot become {}",
            d.id, d.status, update.status
        )));
    }
    if let Some(tx) = &update.tx_hash {
        token("tx_hash", tx, 128)?;
    }
    let note = match update.status {
        Deployed => {
            let address = update.address.ok_or_else(|| {
                Refused::Invalid("address: required when the status becomes deployed".into())
            })?;
            token("address", &address, 128)?;
            d.address = Some(address.clone());
            d.error = None;
            Some(format!("deployed at {address}"))
        }
        Failed => {
            let error = update
                .error
                .filter(|e| !e.trim().is_empty())
                .ok_or_else(|| {
                    Refused::Invalid("error: required when the status becomes failed".into())
                })?;
            if error.len() > 2000 {
                return Err(Refused::Invalid(
                    "error: longer than 2000 characters".into(),
                ));
            }
            d.error = Some(error.clone());
            Some(error)
        }
        Pending => Some("retry".into()),
    };
    if update.tx_hash.is_some() {
        d.tx_hash = update.tx_hash;
    }
    d.status = update.status;
    d.updated_at = now;
    d.history.push(HistoryEntry {
        status: update.status,
        at: now,
        note,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending() -> Deployment {
        create(
            "d1".into(),
            NewDeployment {
                artifact_id: "a".repeat(64),
                chain: "lucid-onsystem".into(),
            },
            100,
        )
    }

    fn update(status: Status) -> StatusUpdate {
        StatusUpdate {
            status,
            address: None,
            tx_hash: None,
            error: None,
        }
    }

    #[test]
    fn pending_to_deployed_records_address_and_history() {
        let mut d = pending();
        let mut u = update(Status::Deployed);
        u.address = Some("0x00000000000000000000000000000000000000aa".into());
        u.tx_hash = Some("0xbeef".into());
        transition(&mut d, u, 200).unwrap();
        assert_eq!(d.status, Status::Deployed);
        assert_eq!(d.tx_hash.as_deref(), Some("0xbeef"));
        assert_eq!(
            d.history
                .iter()
                .map(|h| (h.status, h.at))
                .collect::<Vec<_>>(),
            vec![(Status::Pending, 100), (Status::Deployed, 200)]
        );
    }

    #[test]
    fn deployed_is_final() {
        let mut d = pending();
        let mut u = update(Status::Deployed);
        u.address = Some("0xaa".into());
        transition(&mut d, u, 200).unwrap();
        let before = d.clone();
        let mut again = update(Status::Failed);
        again.error = Some("late".into());
        assert_eq!(transition(&mut d, again, 300).unwrap_err().status(), 409);
        assert_eq!(
            transition(&mut d, update(Status::Pending), 300)
                .unwrap_err()
                .status(),
            409
        );
        assert_eq!(d, before, "a refused transition changes nothing");
    }

    #[test]
    fn failed_can_be_retried_and_then_deployed() {
        let mut d = pending();
        let mut fail = update(Status::Failed);
        fail.error = Some("out of gas".into());
        transition(&mut d, fail, 200).unwrap();
        transition(&mut d, update(Status::Pending), 300).unwrap();
        let mut ok = update(Status::Deployed);
        ok.address = Some("0xaa".into());
        transition(&mut d, ok, 400).unwrap();
        assert_eq!(d.history.len(), 4);
        assert_eq!(d.error, None);
    }

    #[test]
    fn pending_to_pending_is_not_a_transition() {
        let mut d = pending();
        assert_eq!(
            transition(&mut d, update(Status::Pending), 200)
                .unwrap_err()
                .status(),
            409
        );
    }

    #[test]
    fn deployed_needs_an_address_and_failed_a_reason() {
        let mut d = pending();
        assert_eq!(
            transition(&mut d, update(Status::Deployed), 200)
                .unwrap_err()
                .status(),
            422
        );
        assert_eq!(
            transition(&mut d, update(Status::Failed), 200)
                .unwrap_err()
                .status(),
            422
        );
        let mut spaced = update(Status::Deployed);
        spaced.address = Some("0x aa".into());
        assert_eq!(transition(&mut d, spaced, 200).unwrap_err().status(), 422);
        assert_eq!(d.status, Status::Pending);
    }

    #[test]
    fn new_deployment_needs_an_artifact_hash_and_a_chain() {
        let ok = NewDeployment {
            artifact_id: "0".repeat(64),
            chain: "tron-nile".into(),
        };
        assert!(check_new(&ok).is_ok());
        let mut bad = ok.clone();
        bad.artifact_id = "xyz".into();
        assert!(check_new(&bad)
            .unwrap_err()
            .message()
            .contains("artifact_id"));
        let mut bad = ok;
        bad.chain = "two words".into();
        assert!(check_new(&bad).unwrap_err().message().contains("chain"));
    }
}
