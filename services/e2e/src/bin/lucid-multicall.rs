//! Any pipeline service in one binary, chosen by `LUCID_MULTICALL_SERVICE` (see the crate doc).

fn main() {
    let name = std::env::var("LUCID_MULTICALL_SERVICE").unwrap_or_default();
    let version = env!("CARGO_PKG_VERSION");
    macro_rules! run {
        ($($service:literal => $app:ty),* $(,)?) => {
            match name.as_str() {
                $($service => lucid_runtime::run::<$app>($service, "Lucid pipeline service (multi-call test binary)", version),)*
                other => {
                    eprintln!("lucid-multicall: LUCID_MULTICALL_SERVICE={other:?} is not one of: {}", [$($service),*].join(", "));
                    std::process::exit(2)
                }
            }
        };
    }
    run!(
        "session-recorder" => session_recorder::Service,
        "session-chunker" => session_chunker::Service,
        "session-encryptor" => session_encryptor::Service,
        "merkle-builder" => merkle_builder::Service,
        "session-orchestrator" => session_orchestrator::Service,
        "on-system-chain-client" => on_system_chain_client::Service,
        "blockchain-api" => blockchain_api::Service,
        "blockchain-ledger" => blockchain_ledger::Service,
        "blockchain-vm" => blockchain_vm::Service,
        "blockchain-sessions-data" => blockchain_sessions_data::Service,
    )
}
