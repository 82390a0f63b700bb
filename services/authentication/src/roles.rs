//! The roles a Lucid identity can hold.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    NodeWorker,
    Admin,
    Observer,
    Server,
    Dev,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::User,
        Role::NodeWorker,
        Role::Admin,
        Role::Observer,
        Role::Server,
        Role::Dev,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::NodeWorker => "node_worker",
            Role::Admin => "admin",
            Role::Observer => "observer",
            Role::Server => "server",
            Role::Dev => "dev",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_serialize_as_their_catalog_names() {
        for role in Role::ALL {
            assert_eq!(
                serde_json::to_value(role).unwrap(),
                serde_json::Value::from(role.as_str())
            );
        }
        assert!(serde_json::from_str::<Role>("\"root\"").is_err());
    }
}
