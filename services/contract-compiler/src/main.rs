lucid_runtime::main!(contract_compiler::Service);
