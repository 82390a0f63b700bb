lucid_runtime::main!(tron_node_client::Service);
