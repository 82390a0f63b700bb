lucid_runtime::main!(tunnel_tools::Service);
