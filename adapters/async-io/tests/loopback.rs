//! The smoke set on the async-io driver: its sockets, timer, file reads and UDP socket. The
//! client above them is `flashforge-async`, which the full suite covers through
//! `flashforge-tokio` (issue 13, point 5).

flashforge_conformance::smoke!(flashforge_async_io, async_io::block_on);
