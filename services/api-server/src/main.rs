lucid_runtime::main!(api_server::Service);
