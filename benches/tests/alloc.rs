//! Parsing `~M105`, `~M27` and `~M114` allocates nothing (counted by a wrapping allocator).

#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use flashforge_benches::{M105, M114, M27};
use flashforge_proto::gcode::{Position, PrintStatus, Temperatures};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged and only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    f();
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

#[test]
fn m105_m27_m114_parse_without_allocating() {
    // Warm up anything lazily initialised by the test harness.
    let _ = Temperatures::parse(M105);
    let n = allocations(|| {
        let t = Temperatures::parse(M105).unwrap();
        assert_eq!(t.tools()[0].current, 210.0);
        let p = PrintStatus::parse(M27).unwrap();
        assert_eq!(p.percent(), Some(25));
        let pos = Position::parse(M114).unwrap();
        assert_eq!(pos.x, 100.5);
    });
    assert_eq!(n, 0, "parsing allocated {n} times");
}
