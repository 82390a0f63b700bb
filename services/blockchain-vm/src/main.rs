lucid_runtime::main!(blockchain_vm::Service);
