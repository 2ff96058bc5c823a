//! The daemons' shared calls into glibc's allocator: the only unsafe code of this crate.
#![allow(unsafe_code)]

/// Makes every thread allocate from the one main heap. glibc gives each thread that allocates
/// an arena of its own, whose freed memory stays resident for that thread alone: controld's
/// few threads allocate little, and four mostly empty arenas held most of a megabyte at a
/// thousand services (measured). Call before any thread starts.
pub fn one_malloc_arena() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets an allocator parameter; no thread has started yet.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// Hands the heap's free pages back to the kernel. glibc returns freed memory only from the top
/// of the heap on its own; after loading a thousand programs' settings, the parser's freed
/// buffers in the middle stayed resident (0.4-0.8 MiB per daemon, measured).
pub fn give_back_free_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim takes the allocator's own locks and only releases free pages.
    unsafe {
        libc::malloc_trim(0);
    }
}
