//! What a service gets at start: its identity, the shutdown flag, a client for other services.

use crate::client::Client;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Handed to [`crate::app::App::start`]; clones share the shutdown flag.
#[derive(Clone)]
pub struct Context {
    pub service: String,
    /// The service's version (its crate version), reported by `/health`.
    pub version: String,
    pub client: Client,
    shutdown: Arc<AtomicBool>,
}

impl Context {
    pub fn new(service: &str, version: &str) -> Self {
        Context {
            service: service.into(),
            version: version.into(),
            client: Client::default(),
            shutdown: Arc::new(AtomicBool::new(false)),
        }
    }

    /// True once SIGTERM/SIGINT arrived: background loops should finish their current item and return.
    pub fn shutting_down(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
    }

    pub fn shutdown_flag(&self) -> Arc<AtomicBool> {
        self.shutdown.clone()
    }
}
