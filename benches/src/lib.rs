//! Shared fixtures for the benchmarks (request bytes, configs).
