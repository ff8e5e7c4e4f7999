//! The five measurements of issue 5, one module each.

pub mod economy;
pub mod footprint;
pub mod idle;
pub mod latency;
pub mod throughput;
