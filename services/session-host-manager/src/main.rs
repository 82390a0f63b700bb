lucid_runtime::main!(session_host_manager::Service);
