//! The process's allocator settings. glibc gives each thread that allocates under contention an
//! arena of its own and keeps what is freed in the arena it came from, so an async program whose
//! tasks move between worker threads holds several arenas' worth of freed memory. Two arenas
//! keep the resident size near what is in use (measured on a backup of 80,000 objects: peak RSS
//! 81 MiB with the default arenas, 68 MiB with two).

/// Limit the allocator to two arenas, unless `MALLOC_ARENA_MAX` says otherwise.
///
/// # Safety
/// Call before any other thread starts: glibc's `mallopt` is not safe to call while other
/// threads allocate.
pub unsafe fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
            // SAFETY: the caller guarantees no other thread exists yet; mallopt only sets an
            // allocator parameter and reports an unsupported one by its return value.
            unsafe {
                libc::mallopt(libc::M_ARENA_MAX, 2);
            }
        }
    }
}
