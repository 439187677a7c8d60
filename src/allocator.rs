//! The process's allocator: the system's, except that a large block is committed (each
//! of its pages written once) when it is allocated.
//!
//! Why: a long-running `serve` should show in its RSS what it holds, so that growth in a
//! soak means growth in live data. Without this, a preallocated buffer counts only as its
//! pages are first written. openraft 0.9's engine, for one, allocates a ring of 4,096
//! commands (557,056 bytes) per replica and walks it one slot per command: an idle
//! `serve` (three replicas) then grew by 1.6 MB over its first five minutes, all of it in
//! those three rings (seen page by page in `/proc/PID/pagemap`), and a soak could not
//! tell that from a leak. Blocks this large are rare (the rings, Argon2's working
//! memory), so committing them costs a few page faults earlier, not more memory: the
//! steady state is the same.

use std::alloc::{GlobalAlloc, Layout, System};

/// Blocks of at least this many bytes are committed when allocated.
pub const COMMIT_AT: usize = 256 * 1024;

/// Smallest page size of the platforms we run on; writing one byte per this many bytes
/// touches every page (larger pages are touched more than once, which is harmless).
const PAGE: usize = 4096;

/// The system allocator, committing blocks of [`COMMIT_AT`] bytes or more.
pub struct Committing;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the
// only addition writes zeros inside a block `System` has just returned for `layout`,
// which the caller has not seen yet and whose contents are unspecified anyway.
unsafe impl GlobalAlloc for Committing {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged (the caller upholds `alloc`'s contract).
        let block = unsafe { System.alloc(layout) };
        if !block.is_null() && layout.size() >= COMMIT_AT {
            for offset in (0..layout.size()).step_by(PAGE) {
                // SAFETY: `offset < layout.size()`, inside the block just allocated.
                unsafe { block.add(offset).write_volatile(0) };
            }
        }
        block
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(block, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // Zeroed blocks are left to the system: fresh pages read as zero without being
        // written, and writing them here would only cost time.
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(block, layout, new_size) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Resident pages of the `len` bytes at `start`, read from `/proc/self/pagemap`.
    #[cfg(target_os = "linux")]
    fn resident_pages(start: *const u8, len: usize) -> std::io::Result<usize> {
        use std::io::{Read, Seek, SeekFrom};
        let first = start as usize / PAGE;
        let last = (start as usize + len - 1) / PAGE;
        let mut map = std::fs::File::open("/proc/self/pagemap")?;
        map.seek(SeekFrom::Start((first * 8) as u64))?;
        let mut entries = vec![0u8; (last - first + 1) * 8];
        map.read_exact(&mut entries)?;
        Ok(entries.chunks_exact(8).filter(|e| e[7] & 0x80 != 0).count())
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_large_block_is_resident_once_allocated_unlike_the_plain_system_allocators() {
        // 64 MiB: above glibc's largest mmap threshold, so the control below is a fresh
        // mapping whatever other tests freed before.
        let large = Layout::from_size_align(64 << 20, PAGE).unwrap();
        let plain = large;
        // SAFETY: non-zero sizes; each block is freed with its own layout below.
        let (committed, untouched) = unsafe { (Committing.alloc(large), System.alloc(plain)) };
        assert!(!committed.is_null() && !untouched.is_null());
        let pages = large.size().div_ceil(PAGE);
        let seen = resident_pages(committed, large.size()).unwrap();
        let seen_plain = resident_pages(untouched, plain.size()).unwrap();
        // SAFETY: allocated above with these layouts.
        unsafe {
            Committing.dealloc(committed, large);
            System.dealloc(untouched, plain);
        }
        assert_eq!(seen, pages, "every page of a committed block is resident");
        // The control: the same block from the plain system allocator is not, which is
        // what makes the assertion above mean something.
        assert!(
            seen_plain < pages / 2,
            "{seen_plain} of {pages} pages resident"
        );
    }
}
