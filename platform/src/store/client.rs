//! The client services use: finds the leader by trying replicas and following redirect
//! hints, and retries across failover within a bounded number of attempts.

use std::collections::BTreeMap;
use std::time::Duration;

use super::types::{check_key, Command, Keyspace, OpId, Residency, StoreError, WriteAck};
use super::wire::{read_frame, write_frame, ClientReply, ClientRequest, Request, Response};
use crate::accounts::Region;
use camproof_net::Net;

/// How hard a client tries before giving up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientPolicy {
    /// Attempts per operation (each attempt is one request to one replica).
    pub attempts: u32,
    /// Bound on one attempt (connect, request, answer). Must exceed the replicas'
    /// `write_timeout` so that an `Indeterminate` answer arrives rather than a timeout.
    pub attempt_timeout: Duration,
    /// Pause after a full round of replicas without a leader (an election is running).
    pub round_pause: Duration,
    /// Give up on an operation after this long (simulated or real time), whatever the
    /// attempts left.
    pub deadline: Duration,
}

impl Default for ClientPolicy {
    fn default() -> Self {
        ClientPolicy {
            attempts: 20,
            attempt_timeout: Duration::from_millis(2500),
            round_pause: Duration::from_millis(100),
            deadline: Duration::from_secs(10),
        }
    }
}

/// A client of one region's store.
///
/// Writes return once a majority of replicas (at least two zones) hold the entry.
/// Reads are linearizable: served by the leader after it confirms its leadership with a
/// quorum (read-index). Safe to retry: puts and deletes are idempotent; an
/// `Indeterminate` write may or may not have been applied.
pub struct StoreClient<N: Net> {
    net: N,
    region: Region,
    replicas: Vec<String>,
    client_id: u64,
    seq: u64,
    leader: Option<String>,
    /// Next replica to try when no leader is known (rotates across operations).
    next: usize,
    conns: BTreeMap<String, N::Stream>,
    policy: ClientPolicy,
}

impl<N: Net> StoreClient<N> {
    /// A client of `region`'s store, with its replicas' `"host:port"` addresses.
    /// `client_id` must be unique among the store's clients in a run (it names the
    /// operations in the history).
    pub fn new(net: N, region: Region, replicas: Vec<String>, client_id: u64) -> Self {
        StoreClient {
            net,
            region,
            replicas,
            client_id,
            seq: 0,
            leader: None,
            next: 0,
            conns: BTreeMap::new(),
            policy: ClientPolicy::default(),
        }
    }

    /// Replaces the retry policy.
    pub fn with_policy(mut self, policy: ClientPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The store's region.
    pub fn region(&self) -> Region {
        self.region
    }

    /// The replica believed to lead, if any.
    pub fn leader(&self) -> Option<&str> {
        self.leader.as_deref()
    }

    /// Sets `key` to `value`. `residency` says whose data it is.
    pub async fn put(
        &mut self,
        key: &str,
        value: Vec<u8>,
        residency: Residency,
    ) -> Result<WriteAck, StoreError> {
        let cmd = Command::Put {
            key: key.into(),
            value,
        };
        self.write(cmd, residency).await
    }

    /// Sets every `(key, value)` of `records` in one log entry: acknowledged together,
    /// applied in order, all or none.
    pub async fn put_many(
        &mut self,
        records: Vec<(String, Vec<u8>)>,
        residency: Residency,
    ) -> Result<WriteAck, StoreError> {
        let cmds = records
            .into_iter()
            .map(|(key, value)| Command::Put { key, value })
            .collect();
        self.write(Command::Batch { cmds }, residency).await
    }

    /// Removes `key`.
    pub async fn delete(
        &mut self,
        key: &str,
        residency: Residency,
    ) -> Result<WriteAck, StoreError> {
        self.write(Command::Delete { key: key.into() }, residency)
            .await
    }

    /// Removes every key under `prefix` on every replica (account erasure); the replicas
    /// then compact their logs. `keys_changed` in the ack counts the keys removed.
    pub async fn delete_prefix(
        &mut self,
        prefix: &str,
        residency: Residency,
    ) -> Result<WriteAck, StoreError> {
        self.write(
            Command::DeletePrefix {
                prefix: prefix.into(),
            },
            residency,
        )
        .await
    }

    /// Reads `key` (linearizable).
    pub async fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        check_key(key)?;
        match self.request(ClientRequest::Get { key: key.into() }).await? {
            ClientReply::Value(v) => Ok(v),
            other => Err(StoreError::Protocol(format!("unexpected reply {other:?}"))),
        }
    }

    /// Every key under `prefix` with its value (linearizable; data export).
    pub async fn scan_prefix(&mut self, prefix: &str) -> Result<Keyspace, StoreError> {
        match self
            .request(ClientRequest::Scan {
                prefix: prefix.into(),
            })
            .await?
        {
            ClientReply::Scan(v) => Ok(v),
            other => Err(StoreError::Protocol(format!("unexpected reply {other:?}"))),
        }
    }

    /// Applies any command (a [`Command::Batch`] as one log entry). `residency` says
    /// whose data every key of it is.
    pub async fn write(
        &mut self,
        cmd: Command,
        residency: Residency,
    ) -> Result<WriteAck, StoreError> {
        cmd.check()?;
        // Refuse early what every replica would refuse; the replica checks again.
        if let Residency::Home(home) = residency {
            if home != self.region {
                return Err(StoreError::Residency {
                    key: cmd.targets().first().copied().unwrap_or_default().into(),
                    home,
                    store: self.region,
                });
            }
        }
        self.seq += 1;
        let op = OpId {
            client: self.client_id,
            seq: self.seq,
        };
        match self
            .request(ClientRequest::Write { op, cmd, residency })
            .await?
        {
            ClientReply::Written(ack) => Ok(ack),
            other => Err(StoreError::Protocol(format!("unexpected reply {other:?}"))),
        }
    }

    /// Sends `req` to the leader, following redirects, until an answer that is not a
    /// redirect, or the attempts or the deadline run out.
    ///
    /// A write that comes back `Indeterminate` (its leader lost its quorum) is retried on
    /// the next replica: every write is idempotent, and a leader cut off from its peers
    /// would otherwise keep the client waiting until the partition heals.
    async fn request(&mut self, req: ClientRequest) -> Result<ClientReply, StoreError> {
        if self.replicas.is_empty() {
            return Err(StoreError::Config("no replica addresses".into()));
        }
        let started = tokio::time::Instant::now();
        let mut last = String::from("no attempt made");
        let mut indeterminate: Option<StoreError> = None;
        let mut since_pause = 0usize;
        for _ in 0..self.policy.attempts {
            if started.elapsed() >= self.policy.deadline {
                break;
            }
            let target = match self.leader.take() {
                Some(l) => l,
                None => {
                    let t = self.replicas[self.next % self.replicas.len()].clone();
                    self.next = self.next.wrapping_add(1);
                    t
                }
            };
            if since_pause >= self.replicas.len() {
                tokio::time::sleep(self.policy.round_pause).await;
                since_pause = 0;
            }
            since_pause += 1;
            match self.send(&target, &req).await {
                Ok(ClientReply::NotLeader { leader }) => {
                    last = format!("{target} is not the leader");
                    self.leader = leader;
                }
                Ok(ClientReply::Refused(e @ StoreError::Indeterminate(_))) => {
                    last = format!("{target}: {e}");
                    indeterminate = Some(e);
                }
                Ok(ClientReply::Refused(e @ StoreError::Storage(_))) => {
                    // That replica's disk failed; another can lead.
                    last = format!("{target}: {e}");
                }
                Ok(ClientReply::Refused(e)) => {
                    self.leader = Some(target);
                    return Err(e);
                }
                Ok(reply) => {
                    self.leader = Some(target);
                    return Ok(reply);
                }
                Err(e) => {
                    last = format!("{target}: {e}");
                }
            }
        }
        Err(indeterminate.unwrap_or(StoreError::Unavailable {
            region: self.region,
            attempts: self.policy.attempts,
            last,
        }))
    }

    async fn send(&mut self, target: &str, req: &ClientRequest) -> std::io::Result<ClientReply> {
        let net = self.net.clone();
        let mut stream = match self.conns.remove(target) {
            Some(s) => s,
            None => {
                match tokio::time::timeout(self.policy.attempt_timeout, net.connect(target)).await {
                    Ok(r) => r?,
                    Err(_) => {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "connect timed out",
                        ))
                    }
                }
            }
        };
        let exchange = async {
            write_frame(&mut stream, &Request::Client(req.clone())).await?;
            read_frame::<_, Response>(&mut stream).await
        };
        let resp = match tokio::time::timeout(self.policy.attempt_timeout, exchange).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "no answer in time",
                ))
            }
        };
        match resp {
            Response::Client(reply) => {
                self.conns.insert(target.to_string(), stream);
                Ok(reply)
            }
            _ => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "not a client reply",
            )),
        }
    }
}
