lucid_runtime::main!(blockchain_ledger::Service);
