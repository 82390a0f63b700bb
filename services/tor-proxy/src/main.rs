lucid_runtime::main!(tor_proxy::Service);
