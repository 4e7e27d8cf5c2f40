//! The process's allocator settings. glibc gives each thread that allocates under contention an
//! arena of its own and keeps what is freed in the arena it came from, so an async program whose
//! tasks move between worker threads holds several arenas' worth of freed memory. Two arenas
//! keep the resident size near what is in use (measured on a backup of 80,000 objects: peak RSS
//! 81 MiB with the default arenas, 68 MiB with two).

/// Limit the allocator to two arenas. Call first in `main`, before any thread starts.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; no other thread exists yet to allocate
    // concurrently, and an unsupported parameter is reported by its return value, not by UB.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}
