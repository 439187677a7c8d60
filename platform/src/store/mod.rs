//! The replicated per-region store: account, device, OTA and audit records held in at
//! least two of a region's three zones before a write is acknowledged.
//!
//! Engine: [openraft](https://docs.rs/openraft/0.9) 0.9 (standard one-leader-per-term
//! Raft via its `single-term-leader` feature), running on our [`runtime::LocalRuntime`]
//! so spawn, time and election randomness come from turmoil under simulation and from
//! tokio on real sockets. See `docs/store.md` for the design and its guarantees.
//!
//! Main types:
//! - [`Replica`] with a [`ReplicaConfig`]: one replica per zone, run as a host's task.
//! - [`StoreClient`]: what services use; finds the leader, follows redirects.
//! - Backends: [`MemBackend`] (simulation), [`DiskBackend`] (`serve`), both with a
//!   [`DiskFault`] switch for "disk full".
//! - [`History`] and the checkers [`check_no_acked_write_lost`] and
//!   [`check_one_leader_per_term`]; [`PlantedBugs`] make each fail.
//!
//! ```no_run
//! use std::collections::BTreeMap;
//! use camproof_platform::accounts::Region;
//! use camproof_net::{SimClock, SimNet};
//! use camproof_platform::store::*;
//!
//! # async fn example() -> Result<(), StoreError> {
//! let members: BTreeMap<NodeId, String> =
//!     (1..=3).map(|i| (i, format!("gw-eu-africa-{i}:7500"))).collect();
//! let history = History::new();
//! // On host gw-eu-africa-1 (and likewise 2 and 3):
//! let cfg = ReplicaConfig::new(Region::EuAfrica, 1, "0.0.0.0:7500", members.clone());
//! let replica = Replica::in_memory(cfg, MemBackend::new(DiskFault::new()), history.clone());
//! tokio::task::spawn_local(async move { replica.run(SimNet, SimClock).await });
//! // In any task of the region:
//! let mut client = StoreClient::new(SimNet, Region::EuAfrica, members.into_values().collect(), 1);
//! client.put("accounts/user/42/profile", b"{}".to_vec(), Residency::Home(Region::EuAfrica)).await?;
//! assert_eq!(client.get("accounts/user/42/profile").await?, Some(b"{}".to_vec()));
//! # Ok(()) }
//! ```

mod backend;
mod client;
mod data_checks;
mod history;
mod raft_store;
mod replica;
pub mod runtime;
mod types;
mod wire;

pub use backend::{
    Backend, CorruptAt, CorruptRecord, DiskBackend, DiskFault, MemBackend, Recovered,
    StoredSnapshot, MAX_RECORD,
};
pub use client::{ClientPolicy, StoreClient};
pub use data_checks::{check_erased, check_residency, DataViolation};
pub use history::{
    check_fail_stop_storage, check_no_acked_write_lost, check_one_leader_per_term, History,
    StoreEvent, StoreNames, Violation,
};
pub use replica::{PlantedBugs, Replica, ReplicaConfig, StoreTiming};
pub use types::{
    value_hash, Applied, BackendError, Command, Keyspace, NodeId, OpId, Proposal, Residency,
    StoreError, StoreTypes, WriteAck, MAX_KEY_LEN,
};
pub use wire::MAX_FRAME;
