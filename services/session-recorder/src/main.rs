lucid_runtime::main!(session_recorder::Service);
