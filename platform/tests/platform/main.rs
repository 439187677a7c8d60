//! The platform's integration tests, one binary: the region component on both networks,
//! the relay service, and the replicated store (under turmoil, on disk, its checkers and
//! its figures). One binary links the platform once instead of once per file.

mod region;
mod relay_service;
mod store_checkers;
mod store_disk;
mod store_figures;
mod store_sim;
mod store_support;
