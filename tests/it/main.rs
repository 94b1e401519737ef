//! Integration tests through the public API, in one binary to save link time.

mod util;

mod engine;
mod faults;
mod fixtures;
mod recovery;
