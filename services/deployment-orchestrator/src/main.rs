lucid_runtime::main!(deployment_orchestrator::Service);
