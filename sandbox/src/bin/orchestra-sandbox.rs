//! The static in-container supervisor (placeholder while the crate is split).
fn main() {}
