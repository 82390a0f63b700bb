//! Option values shared by several commands, parsed into the library's types.

use clap::builder::{PossibleValuesParser, TypedValueParser};
use lucid_pipeline::compile::Builder;
use lucid_pipeline::images::Engine;

/// `--builder auto|cargo|zigbuild|cross`.
pub fn builder() -> impl TypedValueParser<Value = Builder> {
    PossibleValuesParser::new(Builder::NAMES).map(|s| s.parse().expect("a listed name"))
}

/// `--engine auto|buildx|oci`.
pub fn engine() -> impl TypedValueParser<Value = Engine> {
    PossibleValuesParser::new(Engine::NAMES).map(|s| s.parse().expect("a listed name"))
}
