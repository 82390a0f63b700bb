lucid_runtime::main!(session_encryptor::Service);
