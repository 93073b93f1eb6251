//! Helpers shared by the root-only lab tests: the root check and the veth lab of
//! scripts/lab.sh, torn down on drop (also while unwinding from a panic).
//!
//! Each test file is its own crate and uses only some of these.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// Whether the test may run: root. Without root it prints "skipped: needs root" and returns
/// false, except under CI, where a skipped lab test would hide a failure: then it panics.
pub fn has_root(what: &str) -> bool {
    let uid = Command::new("id").arg("-u").output().map(|o| o.stdout).unwrap_or_default();
    if String::from_utf8_lossy(&uid).trim() == "0" {
        return true;
    }
    assert!(std::env::var_os("CI").is_none(), "{what} needs root, and CI is set");
    eprintln!("skipped: needs root");
    false
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A lab made by scripts/lab.sh: the stack namespace (our stack on AF_XDP) and the kernel
/// namespace (Linux peers), with the names and addresses the script printed.
pub struct Lab {
    pub name: String,
    pub stack_ns: String,
    pub stack_if: String,
    pub stack_ip: String,
    pub kernel_ns: String,
    pub kernel_if: String,
    pub kernel_ip: String,
}

impl Lab {
    /// `scripts/lab.sh up NAME EXTRA...`; panics with the script's output if it fails.
    pub fn up(name: String, extra: &[&str]) -> Lab {
        let out = Command::new(repo().join("scripts/lab.sh"))
            .args(["up", &name])
            .args(extra)
            .output()
            .expect("lab.sh runs");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(out.status.success(), "lab up: {text}{}", String::from_utf8_lossy(&out.stderr));
        let mut lab = Lab {
            name,
            stack_ns: String::new(),
            stack_if: String::new(),
            stack_ip: String::new(),
            kernel_ns: String::new(),
            kernel_if: String::new(),
            kernel_ip: String::new(),
        };
        let vars = text.lines().last().expect("lab.sh prints its variables last");
        for (k, v) in vars.split_whitespace().filter_map(|kv| kv.split_once('=')) {
            match k {
                "STACK_NS" => lab.stack_ns = v.into(),
                "STACK_IF" => lab.stack_if = v.into(),
                "STACK_IP" => lab.stack_ip = v.into(),
                "KERNEL_NS" => lab.kernel_ns = v.into(),
                "KERNEL_IF" => lab.kernel_if = v.into(),
                "KERNEL_IP" => lab.kernel_ip = v.into(),
                _ => {}
            }
        }
        assert!(!lab.stack_if.is_empty() && !lab.kernel_ip.is_empty(), "{text}");
        lab
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("scripts/lab.sh")).args(["down", &self.name]).output();
    }
}
