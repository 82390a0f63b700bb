lucid_runtime::main!(merkle_builder::Service);
