lucid_runtime::main!(contract_deployment::Service);
