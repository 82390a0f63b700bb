lucid_runtime::main!(session_orchestrator::Service);
