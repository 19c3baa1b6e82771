//! How snapkeep uses glibc's allocator, and handing freed memory back.
//!
//! glibc's allocator keeps freed heap pages resident until something asks
//! for them back. A daemon that parsed a large config (the TOML parser's
//! working memory is many times the file: 3–4 MB for 1000 policies) or ran
//! a pass over thousands of servers would otherwise stay that big for as
//! long as it runs. The daemon calls [`release_free_memory`] after those.
//!
//! That alone was not enough ([`tune_allocator`]): each runtime thread got
//! an arena of its own, and `malloc_trim` never shrinks a thread arena's
//! top; glibc only does that on a `free` that leaves the top above the
//! trim threshold, and that threshold rises by itself (to twice the
//! largest block it ever handed out through `mmap`, a multi-megabyte
//! listing body). An idle daemon kept 2–3 MiB of free pages per runtime
//! thread that way (BENCHMARKS.md, "Memory: the arenas and the
//! thresholds").

/// Sets glibc's allocator for a process that mostly waits: one arena for
/// every thread (snapkeep's threads wait on the network, not on malloc's
/// lock), and fixed thresholds instead of ones that grow by themselves —
/// blocks from 128 KiB up get their own mapping, returned when freed, and
/// free memory above 128 KiB at the top of the heap goes back at once.
/// Call it first, while the process has one thread. A no-op where the C
/// library is not glibc.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub(crate) fn tune_allocator() {
    const THRESHOLD: std::ffi::c_int = 128 * 1024;
    // SAFETY: mallopt takes two plain integers and only changes glibc's
    // own parameters under its own lock; a refused setting returns 0 and
    // leaves the default, which is still correct, only larger.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_MMAP_THRESHOLD, THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, THRESHOLD);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn tune_allocator() {}

/// Returns free heap pages of every allocator arena to the system
/// (`malloc_trim(0)`); a no-op where the C library is not glibc.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub(crate) fn release_free_memory() {
    // SAFETY: malloc_trim takes a plain size, has no preconditions and only
    // works on glibc's own free lists, under glibc's own locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn release_free_memory() {}
