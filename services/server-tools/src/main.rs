lucid_runtime::main!(server_tools::Service);
