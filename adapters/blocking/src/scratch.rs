//! The read buffer: one per thread, not one per connection.

use std::cell::RefCell;

/// Bytes one read takes at most.
pub(crate) const READ_CHUNK: usize = 64 * 1024;

std::thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Run `f` with this thread's read buffer ([`READ_CHUNK`] bytes, allocated on first use). A
/// read's bytes go to the core before the call returns, so connections hold no read buffer of
/// their own: an idle printer costs none (a 64 KiB buffer per connection, and another per
/// HTTP request, made memory per printer worse than the Python client's).
pub(crate) fn with<T>(f: impl FnOnce(&mut [u8]) -> T) -> T {
    SCRATCH.with(|s| match s.try_borrow_mut() {
        Ok(mut b) => {
            if b.is_empty() {
                b.resize(READ_CHUNK, 0);
            }
            f(&mut b)
        }
        // Only if a read were ever nested in another: a buffer of its own.
        Err(_) => f(&mut vec![0; READ_CHUNK]),
    })
}
