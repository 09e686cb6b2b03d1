//! The journal's benchmarks (written in the next commit).

fn main() {}
