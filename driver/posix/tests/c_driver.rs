//! Builds `tests/c/driver.c` with the system C compiler and runs it against the cdylib:
//! the driver `dlopen`s `libxdptcp_posix.so`, calls `packetdrill_interface_init` and drives
//! a passive open, an active open and a refused connect through packetdrill's function
//! table with hand-built packets. Needs `cc` on the PATH (skipped with a message if absent).
//!
//! The cdylib is produced by the same `cargo test -p xdptcp-posix` run (the library target
//! is built with all its crate types), in `target/<profile>/` and `target/<profile>/deps/`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn find_cdylib() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let deps = exe.parent()?;
    [deps.join("libxdptcp_posix.so"), deps.parent()?.join("libxdptcp_posix.so")]
        .into_iter()
        .find(|p| p.exists())
}

#[test]
fn c_driver_through_packetdrill_table() {
    let Some(so) = find_cdylib() else {
        panic!("libxdptcp_posix.so not found next to the test binary; run `cargo build -p xdptcp-posix`");
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("xdptcp_c_driver");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&cc)
        .args(["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-O1", "-o"])
        .arg(&out)
        .arg(root.join("tests/c/driver.c"))
        .arg("-I")
        .arg(root.join("include"))
        .arg("-ldl")
        .arg("-lpthread")
        .status();
    let status = match status {
        Ok(s) => s,
        Err(e) => {
            eprintln!("skipping: cannot run {cc}: {e}");
            return;
        }
    };
    assert!(status.success(), "compiling driver.c failed");
    let run = Command::new(&out).arg(&so).output().expect("run the C driver");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "C driver failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("all checks passed"), "{stdout}");
}
