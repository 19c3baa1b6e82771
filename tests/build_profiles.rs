//! The release profiles in `Cargo.toml`: `cargo bench` measures the build
//! `dist` ships; and what `build.rs` asks of the linker.

#[test]
fn the_bench_profile_measures_what_dist_ships() {
    let manifest: toml::Table =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
            .unwrap()
            .parse()
            .unwrap();
    let profile = |name: &str| manifest["profile"][name].as_table().unwrap().clone();
    let mut dist = profile("dist");
    assert_eq!(
        dist.remove("inherits")
            .and_then(|v| v.as_str().map(str::to_owned)),
        Some("release".to_owned())
    );
    // bench inherits release too (built-in), so equal overrides mean equal builds.
    assert_eq!(
        profile("bench"),
        dist,
        "[profile.bench] must repeat [profile.dist]"
    );
    assert_eq!(dist["lto"].as_str(), Some("fat"));
}

/// `build.rs` links the binary with packed relative relocations on glibc
/// Linux: its dynamic section has DT_RELR (and the loader then needs no
/// `.rela.dyn` of 40,000 entries). Read from the ELF file itself.
#[cfg(all(target_os = "linux", target_env = "gnu", target_pointer_width = "64"))]
#[test]
fn the_binary_has_packed_relative_relocations() {
    let elf = std::fs::read(env!("CARGO_BIN_EXE_snapkeep")).unwrap();
    let tags = dynamic_tags(&elf);
    const DT_RELR: u64 = 36;
    const DT_RELA: u64 = 7;
    const DT_RELASZ: u64 = 8;
    assert!(
        tags.iter().any(|(t, _)| *t == DT_RELR),
        "no DT_RELR: {tags:?}"
    );
    // Whatever is left in .rela.dyn is what RELR cannot pack (a few KB).
    let rela = tags
        .iter()
        .find(|(t, _)| *t == DT_RELASZ)
        .map_or(0, |(_, v)| *v);
    assert!(
        rela < 64 * 1024,
        "DT_RELA {:?} still holds {rela} bytes",
        tags.iter().find(|(t, _)| *t == DT_RELA)
    );
}

/// The (tag, value) pairs of a little-endian ELF64 file's PT_DYNAMIC segment.
#[cfg(all(target_os = "linux", target_env = "gnu", target_pointer_width = "64"))]
fn dynamic_tags(elf: &[u8]) -> Vec<(u64, u64)> {
    let u16_at = |o: usize| u16::from_le_bytes(elf[o..o + 2].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(elf[o..o + 8].try_into().unwrap());
    assert_eq!(&elf[..5], b"\x7fELF\x02", "an ELF64 file");
    let (phoff, phentsize, phnum) = (u64_at(0x20) as usize, u16_at(0x36) as usize, u16_at(0x38));
    const PT_DYNAMIC: u32 = 2;
    let dynamic = (0..usize::from(phnum))
        .map(|i| phoff + i * phentsize)
        .find(|&ph| u32::from_le_bytes(elf[ph..ph + 4].try_into().unwrap()) == PT_DYNAMIC)
        .expect("a dynamic segment");
    let (offset, size) = (u64_at(dynamic + 8) as usize, u64_at(dynamic + 32) as usize);
    (offset..offset + size)
        .step_by(16)
        .map(|e| (u64_at(e), u64_at(e + 8)))
        .take_while(|(tag, _)| *tag != 0)
        .collect()
}
