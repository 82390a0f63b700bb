lucid_runtime::main!(api_gateway::Service);
