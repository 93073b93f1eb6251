//! Compiles the XDP program (bpf/xdptcp.bpf.c) to a BPF object in OUT_DIR, which the crate
//! embeds with `include_bytes!`.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let src = "bpf/xdptcp.bpf.c";
    println!("cargo:rerun-if-changed={src}");
    println!("cargo:rerun-if-env-changed=CLANG");
    let out =
        PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("xdptcp.bpf.o");
    let clang = env::var("CLANG").unwrap_or_else(|_| "clang".to_string());
    let status = Command::new(&clang)
        .args(["-O2", "-g", "-target", "bpf", "-Wall", "-Werror", "-c", src, "-o"])
        .arg(&out)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("{clang} failed to compile {src} ({s}); see the errors above"),
        Err(e) => panic!(
            "cannot run `{clang}` to compile the XDP program {src}: {e}. \
             Install the build dependencies with scripts/install-deps.sh (needs root), \
             or set CLANG to a clang with the BPF target"
        ),
    }
}
