lucid_runtime::main!(blockchain_api::Service);
