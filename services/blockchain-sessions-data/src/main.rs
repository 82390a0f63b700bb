lucid_runtime::main!(blockchain_sessions_data::Service);
