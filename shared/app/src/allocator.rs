//! The process's allocator, for every binary that links this crate (each function, the
//! local server, the admin command): mimalloc instead of the C library's.
//!
//! Why: a request allocates and frees thousands of small buffers (the SDK's attribute
//! maps, headers and JSON values), and the profiles of #15 showed glibc's `malloc`, `free`
//! and their consolidation taking about a fifth of a list request's CPU; on Lambda CPU per
//! request is latency and money. The figures before and after are in docs/benchmark.md.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
