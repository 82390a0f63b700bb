lucid_runtime::main!(admin_ui::Service);
