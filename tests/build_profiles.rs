//! The release profiles in `Cargo.toml`: `cargo bench` measures the build
//! `dist` ships.

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
