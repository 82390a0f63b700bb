lucid_runtime::main!(rdp_server_manager::Service);
