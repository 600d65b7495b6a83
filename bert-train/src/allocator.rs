//! How the process allocates memory: the CPU backends allocate and free a new buffer for
//! almost every tensor operation, and glibc's defaults then cost time.
//!
//! glibc maps each large block (above a threshold that starts at 128 KiB) straight from the
//! kernel and unmaps it when freed, and gives freed memory at the top of the heap back to the
//! kernel. A BERT step frees and reallocates the same few-MiB activations hundreds of times,
//! and every fresh mapping is zeroed page by page on first touch: in the profile
//! (`experiments/profile/`) a tenth of a training step went to page faults and zeroing.

/// Keeps freed memory in the process for reuse: blocks up to 32 MiB (glibc's largest mapping
/// threshold) come from the heap, and the heap is not trimmed. Peak memory (RSS) stays what it
/// was; memory freed after the peak is not returned to the system until the process ends.
///
/// Larger blocks are still mapped on their own. Taking them from the heap too (`M_MMAP_MAX`
/// = 0) halved the page-fault and zeroing share of a question-answering fine-tune, whose
/// attention probabilities reach 113 MB a layer, but did not shorten its wall time, and it
/// made the MiniLM 32 x 64 inference forward about 5% slower in alternated runs
/// (`experiments/profile/RESULTS.md`), so it is not done.
///
/// Process-wide (glibc's `mallopt`); the `bert-train` binary calls it first thing. Nothing
/// happens off Linux/glibc, or when `GLIBC_TUNABLES` is set (the user's own malloc tuning
/// wins). Returns whether the settings were applied.
pub fn keep_freed_memory() -> bool {
    if std::env::var_os("GLIBC_TUNABLES").is_some() {
        return false;
    }
    apply()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn apply() -> bool {
    const MMAP_THRESHOLD: libc::c_int = 32 << 20;
    // SAFETY: mallopt only changes malloc's parameters; it is thread-safe and takes no
    // pointers.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
            && libc::mallopt(libc::M_TRIM_THRESHOLD, libc::c_int::MAX) == 1
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn apply() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glibc_accepts_the_settings() {
        let applied = keep_freed_memory();
        let glibc = cfg!(all(target_os = "linux", target_env = "gnu"));
        assert_eq!(
            applied,
            glibc && std::env::var_os("GLIBC_TUNABLES").is_none()
        );
        // Allocation still works on both sides of the threshold.
        let big = vec![1u8; 40 << 20];
        let small = vec![2u8; 1 << 20];
        assert_eq!(big[big.len() - 1] + small[0], 3);
    }
}
