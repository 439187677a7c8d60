//! The store's wire: length-prefixed JSON frames over a `Net` stream, the messages, and
//! openraft's network over them.
//!
//! One port per replica carries both Raft traffic between replicas and client requests.
//! A connection carries one request at a time and its response; connections are kept and
//! reused, and dropped on any error or timeout (turmoil's TCP has no retransmission, so a
//! partition shows up as a silent stall that only a timeout ends).

use std::time::Duration;

use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError};
use openraft::network::RPCOption;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{BasicNode, RaftNetwork, RaftNetworkFactory};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::types::{Command, Keyspace, NodeId, OpId, Residency, StoreError, StoreTypes, WriteAck};
use camproof_net::Net;

/// The largest frame accepted (bounds allocation before reading).
pub const MAX_FRAME: usize = 16 << 20;

/// Writes one frame: `len: u32 BE | JSON`.
pub(crate) async fn write_frame<S: AsyncWrite + Unpin, T: Serialize>(
    s: &mut S,
    msg: &T,
) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(msg).map_err(std::io::Error::other)?;
    if bytes.len() > MAX_FRAME {
        return Err(std::io::Error::other("frame too large"));
    }
    s.write_u32(bytes.len() as u32).await?;
    s.write_all(&bytes).await?;
    s.flush().await
}

/// Reads one frame, refusing lengths over [`MAX_FRAME`] before allocating.
pub(crate) async fn read_frame<S: AsyncRead + Unpin, T: DeserializeOwned>(
    s: &mut S,
) -> std::io::Result<T> {
    let len = s.read_u32().await? as usize;
    read_body(s, len).await
}

/// Reads one frame whose first byte may be awaited as long as the peer likes (a pooled
/// connection idles between calls) but whose rest must arrive within `within`: a peer
/// that trickles a frame in byte by byte loses its connection instead of holding it.
pub(crate) async fn read_frame_within<S: AsyncRead + Unpin, T: DeserializeOwned>(
    s: &mut S,
    within: std::time::Duration,
) -> std::io::Result<T> {
    let first = s.read_u8().await?;
    let rest = async {
        let mut more = [0u8; 3];
        s.read_exact(&mut more).await?;
        let len = u32::from_be_bytes([first, more[0], more[1], more[2]]) as usize;
        read_body(s, len).await
    };
    tokio::time::timeout(within, rest).await.map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("frame not completed within {within:?} of its first byte"),
        )
    })?
}

/// Reads a frame's body of `len` bytes, refusing lengths over [`MAX_FRAME`] before
/// allocating.
async fn read_body<S: AsyncRead + Unpin, T: DeserializeOwned>(
    s: &mut S,
    len: usize,
) -> std::io::Result<T> {
    if len > MAX_FRAME {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("frame of {len} bytes exceeds {MAX_FRAME}"),
        ));
    }
    let mut buf = vec![0; len];
    s.read_exact(&mut buf).await?;
    serde_json::from_slice(&buf)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// A request to a replica.
#[derive(Debug, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum Request {
    Append(AppendEntriesRequest<StoreTypes>),
    Vote(VoteRequest<NodeId>),
    Snapshot(InstallSnapshotRequest<StoreTypes>),
    Client(ClientRequest),
}

/// A client's request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum ClientRequest {
    Write {
        op: OpId,
        cmd: Command,
        residency: Residency,
    },
    Get {
        key: String,
    },
    Scan {
        prefix: String,
    },
}

/// A replica's answer.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Response {
    Append(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    Snapshot(Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>),
    Client(ClientReply),
}

/// A replica's answer to a client.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ClientReply {
    Written(WriteAck),
    Value(Option<Vec<u8>>),
    Scan(Keyspace),
    /// Not the leader; try this address (if known).
    NotLeader {
        leader: Option<String>,
    },
    Refused(StoreError),
}

/// openraft's network factory over a [`Net`].
pub(crate) struct PeerNet<N: Net> {
    pub(crate) net: N,
    pub(crate) rpc_timeout: Duration,
}

/// A connection to one peer, reused across RPCs.
pub(crate) struct PeerConn<N: Net> {
    net: N,
    target: NodeId,
    addr: String,
    stream: Option<N::Stream>,
    rpc_timeout: Duration,
    /// After a failure, no new attempt before this instant.
    retry_at: Option<tokio::time::Instant>,
}

impl<N: Net> RaftNetworkFactory<StoreTypes> for PeerNet<N> {
    type Network = PeerConn<N>;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> PeerConn<N> {
        PeerConn {
            net: self.net.clone(),
            target,
            addr: node.addr.clone(),
            stream: None,
            rpc_timeout: self.rpc_timeout,
            retry_at: None,
        }
    }
}

impl<N: Net> PeerConn<N> {
    async fn call(&mut self, req: &Request, ttl: Duration) -> std::io::Result<Response> {
        // openraft retries a failed RPC at once; against a peer that refuses or is cut
        // off that is a tight loop of connects (each takes an ephemeral port). Pace
        // attempts to one per `rpc_timeout / 2` after a failure.
        if let Some(at) = self.retry_at.take() {
            tokio::time::sleep_until(at).await;
        }
        let timeout = ttl.min(self.rpc_timeout);
        let attempt = async {
            if self.stream.is_none() {
                self.stream = Some(self.net.connect(&self.addr).await?);
            }
            let Some(s) = self.stream.as_mut() else {
                return Err(std::io::Error::other("no stream"));
            };
            write_frame(s, req).await?;
            read_frame::<_, Response>(s).await
        };
        let out = match tokio::time::timeout(timeout, attempt).await {
            Ok(r) => r,
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer from {} within {timeout:?}", self.addr),
            )),
        };
        if out.is_err() {
            self.stream = None;
            self.retry_at = Some(tokio::time::Instant::now() + self.rpc_timeout / 2);
        }
        out
    }

    fn remote<E: std::error::Error>(&self, e: E) -> RemoteError<NodeId, BasicNode, E> {
        RemoteError::new_with_node(
            self.target,
            BasicNode {
                addr: self.addr.clone(),
            },
            e,
        )
    }
}

// Why only `RPCError::Network` and never `Unreachable`: openraft answers `Unreachable`
// with a backoff loop whose `tokio::select!` is not `biased`, which would draw from
// tokio's unseeded per-runtime RNG and break determinism. A network error retries on the
// next heartbeat instead.
fn net_err<E: std::error::Error>(e: std::io::Error) -> RPCError<NodeId, BasicNode, E> {
    RPCError::Network(NetworkError::new(&e))
}

fn unexpected<E: std::error::Error>() -> RPCError<NodeId, BasicNode, E> {
    net_err(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        "unexpected response kind",
    ))
}

impl<N: Net> RaftNetwork<StoreTypes> for PeerConn<N> {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<StoreTypes>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        match self
            .call(&Request::Append(rpc), option.hard_ttl())
            .await
            .map_err(net_err)?
        {
            Response::Append(Ok(r)) => Ok(r),
            Response::Append(Err(e)) => Err(RPCError::RemoteError(self.remote(e))),
            _ => Err(unexpected()),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<StoreTypes>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        match self
            .call(&Request::Snapshot(rpc), option.hard_ttl())
            .await
            .map_err(net_err)?
        {
            Response::Snapshot(Ok(r)) => Ok(r),
            Response::Snapshot(Err(e)) => Err(RPCError::RemoteError(self.remote(e))),
            _ => Err(unexpected()),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        match self
            .call(&Request::Vote(rpc), option.hard_ttl())
            .await
            .map_err(net_err)?
        {
            Response::Vote(Ok(r)) => Ok(r),
            Response::Vote(Err(e)) => Err(RPCError::RemoteError(self.remote(e))),
            _ => Err(unexpected()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A frame begun must be finished within the deadline (else a peer could hold a
    /// replica's connection by trickling bytes); silence before a frame is not cut.
    #[tokio::test(flavor = "current_thread")]
    async fn a_trickled_frame_is_cut_at_its_deadline_and_an_idle_connection_is_not() {
        let within = Duration::from_millis(100);

        let (mut ours, mut theirs) = tokio::io::duplex(64);
        theirs.write_all(&[0]).await.unwrap();
        // The outer bound keeps the test finite when the deadline is missing.
        let cut = tokio::time::timeout(within * 10, read_frame_within::<_, u32>(&mut ours, within))
            .await
            .expect("the frame is cut by its own deadline");
        assert_eq!(cut.map_err(|e| e.kind()), Err(std::io::ErrorKind::TimedOut));

        let (mut ours, mut theirs) = tokio::io::duplex(64);
        let idle =
            tokio::time::timeout(within * 4, read_frame_within::<_, u32>(&mut ours, within)).await;
        assert!(
            idle.is_err(),
            "silence before a frame is waited out: {idle:?}"
        );
        let body = serde_json::to_vec(&7u32).unwrap();
        theirs.write_u32(body.len() as u32).await.unwrap();
        theirs.write_all(&body).await.unwrap();
        let got = read_frame_within::<_, u32>(&mut ours, within)
            .await
            .unwrap();
        assert_eq!(got, 7);
    }
}
