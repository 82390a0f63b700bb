//! Catalog errors: which manifest, which service, which field, what is wrong.

use std::fmt;
use std::path::PathBuf;

/// A catalog error: which manifest, which service, which field, what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct MetadataError {
    pub manifest: PathBuf,
    pub service: String,
    pub field: String,
    pub message: String,
}

impl fmt::Display for MetadataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}: {}: {}",
            self.manifest.display(),
            self.service,
            self.field,
            self.message
        )
    }
}

/// All errors found, so that one run reports every problem.
#[derive(Debug, Clone)]
pub struct MetadataErrors(pub Vec<MetadataError>);

impl fmt::Display for MetadataErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "invalid catalog metadata ({} problem{}):",
            self.0.len(),
            if self.0.len() == 1 { "" } else { "s" }
        )?;
        for e in &self.0 {
            writeln!(f, "  {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for MetadataErrors {}
