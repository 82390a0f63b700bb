lucid_runtime::main!(session_chunker::Service);
