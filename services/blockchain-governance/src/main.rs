lucid_runtime::main!(blockchain_governance::Service);
