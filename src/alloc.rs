//! The allocator settings of the `ragops` process (a binary's choice, not a library's).

/// Tunes glibc's allocator for the encoder's allocation pattern: large tensors of the same sizes
/// are freed and allocated again for every layer. By default glibc serves blocks over its mmap
/// threshold with fresh `mmap`s and trims the heap top eagerly, so every batch pays page faults
/// again (a third of the CPU time on 256-token chunks). Raising the mmap threshold to its maximum
/// (32 MiB), never trimming and padding heap growth keeps those pages mapped; peak memory is
/// unchanged (it is bounded by the batch size).
///
/// One arena for all threads: with glibc's default of one arena per thread (up to 8 per core),
/// memory a loader thread frees (the DOM of a large HTML page) stays in that thread's arena and
/// the embedding thread grows its own, so the peaks add up. Sharing one arena lets the encoder
/// reuse what loading freed: on the two largest python3.11-doc pages peak RSS drops from 272 to
/// 211 MiB at the same speed (the threads allocate rarely; the hot loops work in place).
/// Called in `main` before any thread starts, for every command but `search` (one query: the
/// defaults return the model's memory before the snapshot is opened); no-op elsewhere than
/// glibc.
pub(crate) fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it runs before other threads start.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        libc::mallopt(libc::M_TOP_PAD, 64 << 20);
    }
}
