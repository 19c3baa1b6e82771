//! Handing freed memory back to the system.
//!
//! glibc's allocator keeps freed heap pages resident until something asks
//! for them back. A daemon that parsed a large config (the TOML parser's
//! working memory is many times the file: 3–4 MB for 1000 policies) or ran
//! a pass over thousands of servers would otherwise stay that big for as
//! long as it runs. The daemon calls [`release_free_memory`] after those.

/// Returns free heap pages of every allocator arena to the system
/// (`malloc_trim(0)`); a no-op where the C library is not glibc.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub(crate) fn release_free_memory() {
    unsafe extern "C" {
        fn malloc_trim(pad: usize) -> std::ffi::c_int;
    }
    // SAFETY: malloc_trim takes a plain size, has no preconditions and only
    // works on glibc's own free lists, under glibc's own locks.
    unsafe {
        malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn release_free_memory() {}
