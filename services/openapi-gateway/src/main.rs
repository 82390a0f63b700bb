lucid_runtime::main!(openapi_gateway::Service);
