//! Compiles `proto/` with a pure-Rust protobuf compiler (protox), so a fresh machine builds
//! with `cargo` alone: no system `protoc` is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = ["proto/actionlog/v1/user_action.proto"];
    for f in files {
        println!("cargo:rerun-if-changed={f}");
    }
    println!("cargo:rerun-if-changed=proto/common/long_string.proto");
    let descriptors = protox::compile(files, ["proto"])?;
    prost_build::Config::new()
        // Keep the generated file free of the wrapper types' Rust mapping surprises: prost maps
        // StringValue to Option<String> and Int64Value to Option<i64>, which is what we want.
        .compile_fds(descriptors)?;
    Ok(())
}
