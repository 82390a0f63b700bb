lucid_runtime::main!(xrdp_integration::Service);
