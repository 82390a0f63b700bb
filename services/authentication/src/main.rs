lucid_runtime::main!(authentication::Service);
