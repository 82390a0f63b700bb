//! The catalog layer of each service, read at build time from the service crates'
//! `[package.metadata.lucid]` (the one place it is written; see build.rs), so that services that
//! are down still appear in their layer.

include!(concat!(env!("OUT_DIR"), "/layers.rs"));

/// Names of layers 0, 1 and 2 (README, "The catalog").
pub const LAYER_NAMES: [&str; 3] = ["core support", "session pipeline", "service integration"];

/// The layer of `service`, when the catalog of this build has it.
pub fn layer_of(service: &str) -> Option<u8> {
    LAYERS
        .iter()
        .find(|(name, _)| *name == service)
        .map(|(_, layer)| *layer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_service_of_the_catalog_has_its_layer() {
        assert_eq!(layer_of("tor-proxy"), Some(0));
        assert_eq!(layer_of("session-recorder"), Some(1));
        assert_eq!(layer_of("admin-ui"), Some(2));
        assert_eq!(
            layer_of("lucid-runtime"),
            None,
            "support crates are no services"
        );
        assert_eq!(LAYERS.len(), 27);
        assert!(LAYERS
            .iter()
            .all(|(_, l)| (*l as usize) < LAYER_NAMES.len()));
    }
}
