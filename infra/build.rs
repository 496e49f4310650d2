//! `cfg(kurrentdb)` when `KURRENTDB_URL` is set: the KurrentDB conformance
//! suite (`tests/conformance_kurrentdb.rs`) runs then, and reports itself
//! ignored (not run) otherwise.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(kurrentdb)");
    println!("cargo::rerun-if-env-changed=KURRENTDB_URL");
    if std::env::var("KURRENTDB_URL").is_ok_and(|u| !u.trim().is_empty()) {
        println!("cargo::rustc-cfg=kurrentdb");
    }
}
