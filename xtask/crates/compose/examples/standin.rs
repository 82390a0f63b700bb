//! Prints the MongoDB stand-in override for an image: `cargo run -p lucid-compose --example standin -- IMAGE`.
fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..");
    let ws = lucid_catalog::Workspace::load(&root).unwrap();
    let image = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "docker.io/pickme/lucid:server-tools-0.1.0".into());
    print!("{}", lucid_compose::mongodb_standin_override(&ws, &image));
}
