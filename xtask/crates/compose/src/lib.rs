//! Compose stage (see the crate description).
