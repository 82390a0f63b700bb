//! Image stage (see the crate description).
