//! The platform side of CDP/1.

use std::sync::Arc;

use ed25519_dalek::Signer;
use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRngCore, RngCore, SeedableRng};
use sha2::{Digest, Sha256};
use x25519_dalek::SharedSecret;
use zeroize::Zeroizing;

use super::client::{
    resumption_mac, verify_resumption_mac, CLIENT_SIGNATURE_CONTEXT, SERVER_SIGNATURE_CONTEXT,
};
use super::frame::{encode_frame, Frame, FrameType};
use super::guard::{NonceClass, NonceVerdict, TicketEntry};
use super::messages::{
    AlertCode, ClientAuth, ClientHello, ResumeAccept, ResumeHello, ServerHello, TICKET_ID_LEN,
};
use super::record::{ContentType, SessionSecrets};
use super::{
    agree, check_skew, fresh_share, CdpError, Core, Event, LocalError, PeerMisbehaved,
    ServerConfig, ServerContext,
};
use crate::pki::{PeerIdentity, PublicKey};
use crate::sig::verify_pss;
use crate::wire::Writer;
use crate::Timestamp;

enum State {
    AwaitHello,
    AwaitClientAuth(AwaitClientAuth),
    Established { peer: PeerIdentity },
    Failed,
}

struct AwaitClientAuth {
    shared: SharedSecret,
    client_hello: Vec<u8>,
    server_hello: Vec<u8>,
}

/// The platform side of one CDP/1 connection.
///
/// Starts waiting for a `ClientHello` or `ResumeHello`. Shared per-endpoint state (trust
/// store, nonce cache, ticket store) is passed to [`ServerConnection::handle_bytes`] as a
/// [`ServerContext`], so one endpoint's connections can share it however the driver
/// likes. The platform signs with Ed25519 only; it performs no RSA private-key operation.
pub struct ServerConnection {
    config: Arc<ServerConfig>,
    rng: ChaCha20Rng,
    core: Core,
    state: State,
    /// The hello's random and until when to remember it, kept until the client proves
    /// possession of a key (CDP-NONCE-01); `None` once remembered or if not to be.
    unproven: Option<Unproven>,
}

/// A hello random not yet remembered: its client has proved nothing so far.
#[derive(Debug, Clone, Copy)]
struct Unproven {
    random: [u8; 32],
    expires: Timestamp,
}

impl std::fmt::Debug for ServerConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConnection")
            .field("established", &self.is_established())
            .finish_non_exhaustive()
    }
}

impl ServerConnection {
    /// A connection waiting for a hello; randomness is drawn from `rng`.
    pub fn new(config: Arc<ServerConfig>, rng: &mut impl CryptoRngCore) -> Self {
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        let max = config.max_frame_len;
        ServerConnection {
            config,
            rng: ChaCha20Rng::from_seed(seed),
            core: Core::new(max),
            state: State::AwaitHello,
            unproven: None,
        }
    }

    /// Feeds bytes received from the device at time `now`.
    pub fn handle_bytes(
        &mut self,
        now: Timestamp,
        data: &[u8],
        ctx: &mut ServerContext,
    ) -> Result<(), CdpError> {
        self.core.receive(data)?;
        while let Some(frame) = self.core.next_frame().map_err(|e| self.fail(e))? {
            self.handle_frame(now, frame, ctx)
                .map_err(|e| self.fail(e))?;
        }
        Ok(())
    }

    /// Tells the connection that the device closed the stream.
    pub fn handle_eof(&mut self) -> Result<(), CdpError> {
        let r = self.core.handle_eof();
        self.state = State::Failed;
        r
    }

    /// Appends bytes to send to `buf`; returns how many were appended.
    pub fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> usize {
        self.core.poll_transmit(buf)
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.core.events.pop_front()
    }

    /// Seals `data` as one application record.
    pub fn send(&mut self, data: &[u8]) -> Result<(), CdpError> {
        let established = matches!(self.state, State::Established { .. });
        self.core.send(established, data)
    }

    /// Seals a record of any content type: what a foreign platform could send.
    #[cfg(test)]
    pub(crate) fn seal_raw(&mut self, content: ContentType, data: &[u8]) -> Result<(), CdpError> {
        self.core.seal(content, data)
    }

    /// Moves our sending direction to the next key epoch without the KeyUpdate record
    /// that announces it, so the next record comes from an epoch the device has not
    /// reached, sealed under that epoch's correctly derived key.
    ///
    /// A conforming platform never calls this: certification does, to check that a
    /// device refuses such a record (CDP-REC-03, CDP-REC-06).
    pub fn rekey_unannounced(&mut self) -> Result<(), CdpError> {
        self.core.rekey_unannounced()
    }

    /// Queues a close record; nothing can be sent afterwards.
    pub fn close(&mut self) {
        self.core.close();
    }

    /// Whether the handshake finished and the connection has not failed.
    pub fn is_established(&self) -> bool {
        matches!(self.state, State::Established { .. }) && !self.core.done
    }

    /// The authenticated device, once the handshake finished.
    pub fn peer(&self) -> Option<&PeerIdentity> {
        match &self.state {
            State::Established { peer } => Some(peer),
            _ => None,
        }
    }

    fn fail(&mut self, err: CdpError) -> CdpError {
        self.state = State::Failed;
        self.core.fail(err)
    }

    fn handle_frame(
        &mut self,
        now: Timestamp,
        frame: Frame,
        ctx: &mut ServerContext,
    ) -> Result<(), CdpError> {
        if frame.kind == FrameType::Alert {
            return Err(CdpError::PeerAlert(AlertCode::decode(&frame.body)?));
        }
        let state = std::mem::replace(&mut self.state, State::Failed);
        self.state = match (state, frame.kind) {
            (State::AwaitHello, FrameType::ClientHello) => {
                self.on_client_hello(now, &frame, ctx)?
            }
            (State::AwaitHello, FrameType::AppHello) => self.on_app_hello(now, &frame, ctx)?,
            (State::AwaitHello, FrameType::ResumeHello) => {
                self.on_resume_hello(now, &frame, ctx)?
            }
            (State::AwaitClientAuth(st), FrameType::ClientAuth) => {
                self.on_client_auth(now, st, &frame, ctx)?
            }
            (State::Established { peer }, FrameType::Record) => {
                let opened = self.core.open(frame.body)?;
                // An app's first record that opens proves it holds the session's keys.
                self.remember_proven(now, NonceClass::App, ctx)?;
                if let Some((content, data)) = opened {
                    if content != ContentType::Application {
                        return Err(PeerMisbehaved::UnexpectedContent {
                            state: "established",
                            got: "ticket",
                        }
                        .into());
                    }
                    self.core.events.push_back(Event::Data(data));
                }
                if self.core.done {
                    State::Failed
                } else {
                    State::Established { peer }
                }
            }
            (state, got) => {
                return Err(PeerMisbehaved::UnexpectedFrame {
                    state: state.name(),
                    got,
                }
                .into())
            }
        };
        Ok(())
    }

    /// Our ephemeral key share, the agreed secret, and a fresh random.
    fn key_exchange(
        &mut self,
        peer_share: [u8; 32],
    ) -> Result<([u8; 32], SharedSecret, [u8; 32]), CdpError> {
        let (secret, key_share, random) = fresh_share(&mut self.rng);
        let shared = agree(secret, peer_share)?;
        Ok((key_share, shared, random))
    }

    /// Refuses stale or replayed hellos: skew window, then a look-up in the nonce cache.
    /// The random is only remembered once the client proves possession of a key
    /// ([`Self::remember_proven`]): a hello costs its sender nothing, so remembering it
    /// here would let anyone fill the cache for everyone (CDP-NONCE-01).
    fn check_fresh(
        &mut self,
        now: Timestamp,
        timestamp: Timestamp,
        random: &[u8; 32],
        ctx: &mut ServerContext,
    ) -> Result<(), CdpError> {
        check_skew(timestamp, now, self.config.skew_window)?;
        if ctx.flaws.skip_nonce_cache {
            return Ok(());
        }
        // A hello stays acceptable until its timestamp leaves the window; remember its
        // random at least that long.
        let expires = timestamp.max(now).saturating_add(self.config.skew_window);
        if ctx.flaws.cache_unproven_hellos {
            return verdict(
                ctx.nonces
                    .check_and_insert(NonceClass::Device, random, expires, now),
            );
        }
        if ctx.nonces.is_remembered(random, now) {
            return Err(PeerMisbehaved::ReplayedHandshake.into());
        }
        self.unproven = Some(Unproven {
            random: *random,
            expires,
        });
        Ok(())
    }

    /// Remembers the hello's random now that its client proved possession of a key:
    /// check and insert in one step, so of two copies of one hello only one completes
    /// (CDP-NONCE-02). Does nothing once remembered.
    fn remember_proven(
        &mut self,
        now: Timestamp,
        class: NonceClass,
        ctx: &mut ServerContext,
    ) -> Result<(), CdpError> {
        let Some(u) = self.unproven.take() else {
            return Ok(());
        };
        verdict(
            ctx.nonces
                .check_and_insert(class, &u.random, u.expires, now),
        )
    }

    fn on_client_hello(
        &mut self,
        now: Timestamp,
        frame: &Frame,
        ctx: &mut ServerContext,
    ) -> Result<State, CdpError> {
        let (shared, client_hello, server_hello) = self.answer_hello(now, frame, ctx)?;
        Ok(State::AwaitClientAuth(AwaitClientAuth {
            shared,
            client_hello,
            server_hello,
        }))
    }

    /// An app's hello: the platform authenticates itself as to a device, and the session
    /// starts at once, keyed by the two hellos. No ticket: apps sign in again.
    fn on_app_hello(
        &mut self,
        now: Timestamp,
        frame: &Frame,
        ctx: &mut ServerContext,
    ) -> Result<State, CdpError> {
        let (shared, app_hello, server_hello) = self.answer_hello(now, frame, ctx)?;
        let transcript: [u8; 32] = Sha256::new()
            .chain_update(&app_hello)
            .chain_update(&server_hello)
            .finalize()
            .into();
        let secrets = SessionSecrets::derive(shared.as_bytes(), &transcript);
        self.core.install_keys(
            secrets.server_to_client,
            secrets.client_to_server,
            self.config.rekey_after,
            super::DeviceFlaws::default(),
        );
        self.core.events.push_back(Event::AppConnected);
        Ok(State::Established {
            peer: PeerIdentity {
                subject: String::new(),
                serial: 0,
                issuer: String::new(),
            },
        })
    }

    /// Checks a ClientHello or AppHello and queues the signed ServerHello; returns the
    /// agreed secret and the two frame contents for the transcript.
    fn answer_hello(
        &mut self,
        now: Timestamp,
        frame: &Frame,
        ctx: &mut ServerContext,
    ) -> Result<(SharedSecret, Vec<u8>, Vec<u8>), CdpError> {
        let hello = ClientHello::decode(&frame.body)?;
        self.check_fresh(now, hello.timestamp, &hello.random, ctx)?;
        let (key_share, shared, random) = self.key_exchange(hello.key_share)?;
        let certificate = self.config.credentials.certificate();
        let mut body = ServerHello::encode_core(&random, now, &key_share, certificate);
        let client_hello = frame.content();
        let digest = Sha256::new()
            .chain_update(&client_hello)
            .chain_update([FrameType::ServerHello.to_byte()])
            .chain_update(&body)
            .finalize();
        let mut msg = SERVER_SIGNATURE_CONTEXT.to_vec();
        msg.extend_from_slice(&digest);
        let signature = self.config.credentials.key().sign(&msg);
        body.extend_from_slice(&signature.to_bytes());
        encode_frame(FrameType::ServerHello, &body, &mut self.core.out);
        let mut server_hello = vec![FrameType::ServerHello.to_byte()];
        server_hello.extend_from_slice(&body);
        Ok((shared, client_hello, server_hello))
    }

    fn on_client_auth(
        &mut self,
        now: Timestamp,
        st: AwaitClientAuth,
        frame: &Frame,
        ctx: &mut ServerContext,
    ) -> Result<State, CdpError> {
        let (auth, core_len) = ClientAuth::decode(&frame.body)?;
        let peer = ctx.trust.verify_device_chain(&auth.chain, now)?;
        let Some(PublicKey::Rsa(device_key)) = auth.chain.first().map(|c| &c.key) else {
            return Err(PeerMisbehaved::BadClientSignature.into());
        };
        let digest = Sha256::new()
            .chain_update(&st.client_hello)
            .chain_update(&st.server_hello)
            .chain_update([FrameType::ClientAuth.to_byte()])
            .chain_update(&frame.body[..core_len])
            .finalize();
        let mut msg = CLIENT_SIGNATURE_CONTEXT.to_vec();
        msg.extend_from_slice(&digest);
        if !verify_pss(device_key, &msg, &auth.signature) {
            return Err(PeerMisbehaved::BadClientSignature.into());
        }
        self.remember_proven(now, NonceClass::Device, ctx)?;
        let transcript: [u8; 32] = Sha256::new()
            .chain_update(&st.client_hello)
            .chain_update(&st.server_hello)
            .chain_update(frame.content())
            .finalize()
            .into();
        let secrets = SessionSecrets::derive(st.shared.as_bytes(), &transcript);
        self.establish(now, secrets, peer, false, ctx)
    }

    fn on_resume_hello(
        &mut self,
        now: Timestamp,
        frame: &Frame,
        ctx: &mut ServerContext,
    ) -> Result<State, CdpError> {
        let hello = ResumeHello::decode(&frame.body)?;
        self.check_fresh(now, hello.timestamp, &hello.random, ctx)?;
        // Spent on first sight: a replayed ResumeHello finds nothing.
        let ticket = if ctx.flaws.reusable_tickets {
            ctx.tickets.peek(&hello.ticket_id, now)
        } else {
            ctx.tickets.redeem(&hello.ticket_id, now)
        }
        .ok_or(PeerMisbehaved::UnknownTicket)?;
        verify_resumption_mac(
            &ticket.secret,
            &[&[FrameType::ResumeHello.to_byte()], &hello.encode_core()],
            &hello.binder,
        )?;
        self.remember_proven(now, NonceClass::Device, ctx)?;
        let (key_share, shared, random) = self.key_exchange(hello.key_share)?;
        let mut accept = ResumeAccept {
            random,
            timestamp: now,
            key_share,
            verify: [0; 32],
        };
        let resume_hello = frame.content();
        accept.verify = resumption_mac(
            &ticket.secret,
            &[
                &resume_hello,
                &[FrameType::ResumeAccept.to_byte()],
                &accept.encode_core(),
            ],
        );
        let body = accept.encode();
        encode_frame(FrameType::ResumeAccept, &body, &mut self.core.out);
        let transcript: [u8; 32] = Sha256::new()
            .chain_update(&resume_hello)
            .chain_update([FrameType::ResumeAccept.to_byte()])
            .chain_update(&body)
            .finalize()
            .into();
        let mut ikm = Zeroizing::new(shared.as_bytes().to_vec());
        ikm.extend_from_slice(ticket.secret.as_ref());
        let secrets = SessionSecrets::derive(&ikm, &transcript);
        self.establish(now, secrets, ticket.peer, true, ctx)
    }

    /// Installs the keys, issues a fresh ticket as the first record, reports the peer.
    fn establish(
        &mut self,
        now: Timestamp,
        secrets: SessionSecrets,
        peer: PeerIdentity,
        resumed: bool,
        ctx: &mut ServerContext,
    ) -> Result<State, CdpError> {
        self.core.install_keys(
            secrets.server_to_client,
            secrets.client_to_server,
            self.config.rekey_after,
            super::DeviceFlaws::default(),
        );
        let mut id = [0u8; TICKET_ID_LEN];
        self.rng.fill_bytes(&mut id);
        let lifetime = u32::try_from(self.config.ticket_lifetime.as_secs()).unwrap_or(u32::MAX);
        ctx.tickets.insert(
            id,
            TicketEntry {
                secret: secrets.resumption,
                peer: peer.clone(),
                expires: now.saturating_add(std::time::Duration::from_secs(u64::from(lifetime))),
            },
            now,
        );
        let mut ticket = id.to_vec();
        ticket.put_u32(lifetime);
        self.core.seal(ContentType::Ticket, &ticket)?;
        self.core.events.push_back(Event::Connected {
            peer: peer.clone(),
            resumed,
        });
        Ok(State::Established { peer })
    }
}

/// The nonce cache's verdict as the handshake's outcome.
fn verdict(v: NonceVerdict) -> Result<(), CdpError> {
    match v {
        NonceVerdict::Fresh => Ok(()),
        NonceVerdict::Replayed => Err(PeerMisbehaved::ReplayedHandshake.into()),
        NonceVerdict::Full => Err(LocalError::NonceCacheFull.into()),
    }
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            State::AwaitHello => "awaiting a hello",
            State::AwaitClientAuth(_) => "awaiting ClientAuth",
            State::Established { .. } => "established",
            State::Failed => "failed",
        }
    }
}
