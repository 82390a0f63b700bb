lucid_runtime::main!(openapi_server::Service);
