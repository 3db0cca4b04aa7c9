//! What the benchmark and the tests share: a minimal AWS Lambda Runtime API on
//! loopback, under which a function's binary runs exactly as on Lambda.

pub mod load;
pub mod runtime_api;
