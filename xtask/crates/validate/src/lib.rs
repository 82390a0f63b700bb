//! Validate stage (see the crate description).
