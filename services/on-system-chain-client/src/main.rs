lucid_runtime::main!(on_system_chain_client::Service);
