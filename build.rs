//! Link settings for the `snapkeep` binary.
//!
//! On glibc Linux the binary is linked with packed relative relocations
//! (`-z pack-relative-relocs`, DT_RELR; glibc 2.36+, binutils 2.38+, as in
//! Debian 12 and the image's bookworm). A position-independent Rust
//! binary carries one relocation per pointer in its constant data — panic
//! locations, vtables, string tables: ~40,000 of them, 0.95 MB of
//! `.rela.dyn` that the loader reads at every start and that then stays
//! resident. Packed, they take 18 KB: the binary is 1 MB smaller and every
//! process about 0.6 MiB smaller (BENCHMARKS.md, "Memory: the arenas and
//! the thresholds"). `tests/build_profiles.rs` checks the binary has them.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
