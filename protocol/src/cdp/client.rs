//! The device side of CDP/1.

use std::sync::Arc;

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRngCore, SeedableRng};
use sha2::{Digest, Sha256};
use x25519_dalek::EphemeralSecret;
use zeroize::Zeroizing;

use super::frame::{encode_frame, Frame, FrameType};
use super::messages::{
    AlertCode, ClientAuth, ClientHello, ResumeAccept, ResumeHello, ServerHello, TICKET_ID_LEN,
};
use super::record::{expand, ContentType, SessionSecrets};
use super::{
    agree, check_skew, fresh_share, CdpError, ClientConfig, Core, Event, PeerMisbehaved,
    SessionTicket, PROTOCOL_VERSION,
};
use crate::pki::{DeviceCredentials, PeerIdentity, PublicKey};
use crate::sig::sign_pss;
use crate::wire::Reader;
use crate::Timestamp;

/// Context string of the platform's transcript signature.
pub(crate) const SERVER_SIGNATURE_CONTEXT: &[u8] = b"CDP/1 server signature\0";
/// Context string of the device's transcript signature.
pub(crate) const CLIENT_SIGNATURE_CONTEXT: &[u8] = b"CDP/1 client signature\0";

/// Where the device is in the handshake.
enum State {
    AwaitServerHello(AwaitServerHello),
    AwaitResumeAccept(AwaitResumeAccept),
    AwaitTicket(AwaitTicket),
    Established { peer: PeerIdentity },
    Failed,
}

struct AwaitServerHello {
    secret: EphemeralSecret,
    client_hello: Vec<u8>,
}

struct AwaitResumeAccept {
    secret: EphemeralSecret,
    resume_hello: Vec<u8>,
    ticket: SessionTicket,
}

struct AwaitTicket {
    peer: PeerIdentity,
    resumption: Zeroizing<[u8; 32]>,
    resumed: bool,
}

/// The device side of one CDP/1 connection.
///
/// Created by [`ClientConnection::connect`] (full handshake) or
/// [`ClientConnection::resume`] (with a ticket from an earlier session); either queues
/// the first handshake message at once. See the [module docs](super) for the driving
/// loop.
pub struct ClientConnection {
    config: Arc<ClientConfig>,
    /// `None` for an app: the platform is authenticated, the client is not.
    credentials: Option<Arc<DeviceCredentials>>,
    rng: ChaCha20Rng,
    core: Core,
    state: State,
    ticket: Option<SessionTicket>,
}

impl std::fmt::Debug for ClientConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConnection")
            .field("established", &self.is_established())
            .finish_non_exhaustive()
    }
}

impl ClientConnection {
    /// Starts a full handshake at time `now`; randomness is drawn from `rng`.
    pub fn connect(
        config: Arc<ClientConfig>,
        credentials: Arc<DeviceCredentials>,
        now: Timestamp,
        rng: &mut impl CryptoRngCore,
    ) -> Self {
        Self::open(config, Some(credentials), FrameType::ClientHello, now, rng)
    }

    /// Starts an app's server-authenticated handshake (`AppHello`) at time `now`.
    ///
    /// The platform proves its identity exactly as to a device; the app presents no
    /// certificate and no ticket is issued. The user signs in inside the session.
    pub fn connect_app(
        config: Arc<ClientConfig>,
        now: Timestamp,
        rng: &mut impl CryptoRngCore,
    ) -> Self {
        Self::open(config, None, FrameType::AppHello, now, rng)
    }

    fn open(
        config: Arc<ClientConfig>,
        credentials: Option<Arc<DeviceCredentials>>,
        kind: FrameType,
        now: Timestamp,
        rng: &mut impl CryptoRngCore,
    ) -> Self {
        let mut conn = Self::blank(config, credentials, rng);
        let (secret, key_share, random) = fresh_share(&mut conn.rng);
        let hello = ClientHello {
            version: PROTOCOL_VERSION,
            random,
            timestamp: now,
            key_share,
        };
        let frame = Frame {
            kind,
            body: hello.encode(),
        };
        encode_frame(frame.kind, &frame.body, &mut conn.core.out);
        conn.state = State::AwaitServerHello(AwaitServerHello {
            secret,
            client_hello: frame.content(),
        });
        conn
    }

    /// Starts a resumed handshake with `ticket` at time `now`.
    ///
    /// The ticket is spent whatever happens next; a refused resumption is a reason to
    /// fall back to [`ClientConnection::connect`].
    pub fn resume(
        config: Arc<ClientConfig>,
        credentials: Arc<DeviceCredentials>,
        ticket: SessionTicket,
        now: Timestamp,
        rng: &mut impl CryptoRngCore,
    ) -> Self {
        let mut conn = Self::blank(config, Some(credentials), rng);
        let (secret, key_share, random) = fresh_share(&mut conn.rng);
        let mut hello = ResumeHello {
            version: PROTOCOL_VERSION,
            ticket_id: ticket.id,
            random,
            timestamp: now,
            key_share,
            binder: [0; 32],
        };
        let core = hello.encode_core();
        hello.binder = resumption_mac(
            &ticket.secret,
            &[&[FrameType::ResumeHello.to_byte()], &core],
        );
        let body = hello.encode();
        encode_frame(FrameType::ResumeHello, &body, &mut conn.core.out);
        let mut content = vec![FrameType::ResumeHello.to_byte()];
        content.extend_from_slice(&body);
        conn.state = State::AwaitResumeAccept(AwaitResumeAccept {
            secret,
            resume_hello: content,
            ticket,
        });
        conn
    }

    fn blank(
        config: Arc<ClientConfig>,
        credentials: Option<Arc<DeviceCredentials>>,
        rng: &mut impl CryptoRngCore,
    ) -> Self {
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        let max = config.max_frame_len;
        ClientConnection {
            config,
            credentials,
            rng: ChaCha20Rng::from_seed(seed),
            core: Core::new(max),
            state: State::Failed,
            ticket: None,
        }
    }

    /// Feeds bytes received from the platform at time `now`.
    pub fn handle_bytes(&mut self, now: Timestamp, data: &[u8]) -> Result<(), CdpError> {
        self.core.receive(data)?;
        while let Some(frame) = self.core.next_frame().map_err(|e| self.fail(e))? {
            // Flawed firmware only: remember the session so a bad record can be dropped.
            let lenient = match &self.state {
                State::Established { peer } if self.config.flaws.ignore_bad_records => {
                    Some(peer.clone())
                }
                _ => None,
            };
            match (self.handle_frame(now, frame), lenient) {
                (Ok(()), _) => {}
                (Err(e), Some(peer)) if is_bad_record(&e) => {
                    self.state = State::Established { peer };
                }
                (Err(e), _) => return Err(self.fail(e)),
            }
        }
        Ok(())
    }

    /// Tells the connection that the platform closed the stream.
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

    /// Queues a close record; nothing can be sent afterwards.
    pub fn close(&mut self) {
        self.core.close();
    }

    /// Whether the handshake finished and the connection has not failed.
    pub fn is_established(&self) -> bool {
        matches!(self.state, State::Established { .. }) && !self.core.done
    }

    /// The platform endpoint, once authenticated.
    pub fn peer(&self) -> Option<&PeerIdentity> {
        match &self.state {
            State::Established { peer } => Some(peer),
            _ => None,
        }
    }

    /// Takes the latest resumption ticket the platform issued, if any.
    pub fn take_ticket(&mut self) -> Option<SessionTicket> {
        self.ticket.take()
    }

    fn fail(&mut self, err: CdpError) -> CdpError {
        self.state = State::Failed;
        self.core.fail(err)
    }

    fn handle_frame(&mut self, now: Timestamp, frame: Frame) -> Result<(), CdpError> {
        if frame.kind == FrameType::Alert {
            return Err(CdpError::PeerAlert(AlertCode::decode(&frame.body)?));
        }
        let state = std::mem::replace(&mut self.state, State::Failed);
        self.state = match (state, frame.kind) {
            (State::AwaitServerHello(st), FrameType::ServerHello) => {
                self.on_server_hello(now, st, &frame)?
            }
            (State::AwaitResumeAccept(st), FrameType::ResumeAccept) => {
                self.on_resume_accept(now, st, &frame)?
            }
            (State::AwaitTicket(st), FrameType::Record) => self.on_first_record(now, st, frame)?,
            (State::Established { peer }, FrameType::Record) => {
                if let Some((content, data)) = self.core.open(frame.body)? {
                    // A session carries one ticket, in the first record (CDP-RES-05): a
                    // later one is refused rather than kept without its secret, which
                    // is the session's and is only known to this connection until then.
                    match content {
                        ContentType::Application => self.core.events.push_back(Event::Data(data)),
                        _ => {
                            return Err(PeerMisbehaved::UnexpectedContent {
                                state: "established",
                                got: "a second ticket",
                            }
                            .into())
                        }
                    }
                }
                State::Established { peer }
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

    fn on_server_hello(
        &mut self,
        now: Timestamp,
        st: AwaitServerHello,
        frame: &Frame,
    ) -> Result<State, CdpError> {
        let (hello, core_len) = ServerHello::decode(&frame.body)?;
        check_skew(hello.timestamp, now, self.config.skew_window)?;
        let peer = if self.config.flaws.accept_any_server_certificate {
            PeerIdentity {
                subject: hello.certificate.subject.clone(),
                serial: hello.certificate.serial,
                issuer: hello.certificate.issuer.clone(),
            }
        } else {
            self.config.trust.verify_server(&hello.certificate, now)?
        };
        if let Some(expected) = &self.config.expected_server {
            if *expected != peer.subject {
                return Err(PeerMisbehaved::WrongServer {
                    expected: expected.clone(),
                    got: peer.subject,
                }
                .into());
            }
        }
        let PublicKey::Ed25519(server_key) = &hello.certificate.key else {
            return Err(PeerMisbehaved::BadServerSignature.into());
        };
        let signed = Sha256::new()
            .chain_update(&st.client_hello)
            .chain_update([FrameType::ServerHello.to_byte()])
            .chain_update(&frame.body[..core_len])
            .finalize();
        let mut msg = SERVER_SIGNATURE_CONTEXT.to_vec();
        msg.extend_from_slice(&signed);
        let signature = ed25519_dalek::Signature::from_bytes(&hello.signature);
        server_key
            .verify_strict(&msg, &signature)
            .map_err(|_| PeerMisbehaved::BadServerSignature)?;
        let shared = agree(st.secret, hello.key_share)?;

        let server_hello = frame.content();
        let Some(credentials) = self.credentials.clone() else {
            // An app: the session starts now, keyed by the two hellos alone.
            let transcript: [u8; 32] = Sha256::new()
                .chain_update(&st.client_hello)
                .chain_update(&server_hello)
                .finalize()
                .into();
            let secrets = SessionSecrets::derive(shared.as_bytes(), &transcript);
            self.core.install_keys(
                secrets.client_to_server,
                secrets.server_to_client,
                self.config.rekey_after,
                self.config.flaws,
            );
            self.core.events.push_back(Event::Connected {
                peer: peer.clone(),
                resumed: false,
            });
            return Ok(State::Established { peer });
        };
        let auth_core = ClientAuth::encode_core(credentials.chain());
        let to_sign = Sha256::new()
            .chain_update(&st.client_hello)
            .chain_update(&server_hello)
            .chain_update([FrameType::ClientAuth.to_byte()])
            .chain_update(&auth_core)
            .finalize();
        let mut msg = CLIENT_SIGNATURE_CONTEXT.to_vec();
        msg.extend_from_slice(&to_sign);
        let auth = ClientAuth {
            chain: credentials.chain().to_vec(),
            signature: sign_pss(credentials.key(), &mut self.rng, &msg),
        };
        let auth_body = auth.encode();
        encode_frame(FrameType::ClientAuth, &auth_body, &mut self.core.out);
        let transcript: [u8; 32] = Sha256::new()
            .chain_update(&st.client_hello)
            .chain_update(&server_hello)
            .chain_update([FrameType::ClientAuth.to_byte()])
            .chain_update(&auth_body)
            .finalize()
            .into();
        let secrets = SessionSecrets::derive(shared.as_bytes(), &transcript);
        self.core.install_keys(
            secrets.client_to_server,
            secrets.server_to_client,
            self.config.rekey_after,
            self.config.flaws,
        );
        Ok(State::AwaitTicket(AwaitTicket {
            peer,
            resumption: secrets.resumption,
            resumed: false,
        }))
    }

    fn on_resume_accept(
        &mut self,
        now: Timestamp,
        st: AwaitResumeAccept,
        frame: &Frame,
    ) -> Result<State, CdpError> {
        let accept = ResumeAccept::decode(&frame.body)?;
        check_skew(accept.timestamp, now, self.config.skew_window)?;
        let core = accept.encode_core();
        if !self.config.flaws.skip_resumption_proof_check {
            verify_resumption_mac(
                &st.ticket.secret,
                &[
                    &st.resume_hello,
                    &[FrameType::ResumeAccept.to_byte()],
                    &core,
                ],
                &accept.verify,
            )?;
        }
        let shared = agree(st.secret, accept.key_share)?;
        let transcript: [u8; 32] = Sha256::new()
            .chain_update(&st.resume_hello)
            .chain_update(frame.content())
            .finalize()
            .into();
        let mut ikm = Zeroizing::new(shared.as_bytes().to_vec());
        ikm.extend_from_slice(st.ticket.secret.as_ref());
        let secrets = SessionSecrets::derive(&ikm, &transcript);
        self.core.install_keys(
            secrets.client_to_server,
            secrets.server_to_client,
            self.config.rekey_after,
            self.config.flaws,
        );
        Ok(State::AwaitTicket(AwaitTicket {
            peer: st.ticket.server,
            resumption: secrets.resumption,
            resumed: true,
        }))
    }

    fn on_first_record(
        &mut self,
        now: Timestamp,
        st: AwaitTicket,
        frame: Frame,
    ) -> Result<State, CdpError> {
        match self.core.open(frame.body)? {
            Some((ContentType::Ticket, data)) => {
                let mut ticket = decode_ticket(&data, &st.peer, now)?;
                // The ticket's secret is this session's resumption secret, never sent.
                ticket.secret = st.resumption;
                self.ticket = Some(ticket);
                self.core.events.push_back(Event::Connected {
                    peer: st.peer.clone(),
                    resumed: st.resumed,
                });
                Ok(State::Established { peer: st.peer })
            }
            Some(_) => Err(PeerMisbehaved::UnexpectedContent {
                state: "awaiting the ticket",
                got: "application data",
            }
            .into()),
            // A key update or a close before the ticket: keep waiting (after a close,
            // nothing more is accepted and the connection is not established).
            None => Ok(State::AwaitTicket(st)),
        }
    }
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            State::AwaitServerHello(_) => "awaiting ServerHello",
            State::AwaitResumeAccept(_) => "awaiting ResumeAccept",
            State::AwaitTicket(_) => "awaiting the ticket",
            State::Established { .. } => "established",
            State::Failed => "failed",
        }
    }
}

/// Whether `e` is a record that failed to open (what the `ignore_bad_records` flaw drops).
fn is_bad_record(e: &CdpError) -> bool {
    matches!(
        e,
        CdpError::PeerMisbehaved(
            PeerMisbehaved::ReplayedRecord { .. }
                | PeerMisbehaved::ReorderedRecord { .. }
                | PeerMisbehaved::TruncatedRecord { .. }
                | PeerMisbehaved::TamperedRecord { .. }
        )
    )
}

/// Decodes a ticket record: `ticket id (16) | lifetime in seconds (u32)`.
fn decode_ticket(
    data: &[u8],
    server: &PeerIdentity,
    now: Timestamp,
) -> Result<SessionTicket, CdpError> {
    let mut r = Reader::new(data);
    let id: [u8; TICKET_ID_LEN] = r.array("Ticket.id")?;
    let lifetime = r.u32("Ticket.lifetime")?;
    r.finish("Ticket")?;
    Ok(SessionTicket {
        id,
        // Filled in by the caller from the session's resumption secret.
        secret: Zeroizing::new([0; 32]),
        server: server.clone(),
        expires: now.saturating_add(std::time::Duration::from_secs(u64::from(lifetime))),
    })
}

/// The MAC key for resumption messages, derived from a ticket's secret.
fn binder_key(secret: &[u8; 32]) -> Zeroizing<[u8; 32]> {
    let prk =
        Hkdf::<Sha256>::from_prk(secret).unwrap_or_else(|_| Hkdf::<Sha256>::new(None, secret));
    expand(&prk, "binder")
}

/// HMAC-SHA256 under the binder key derived from `secret` over SHA-256 of the
/// concatenated `parts`: a ResumeHello's binder or a ResumeAccept's `verify` (CDP-RES-03).
///
/// Public so a certification harness can build the proof a cloud impersonator would,
/// under a secret other than the ticket's.
pub fn resumption_mac(secret: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    let digest = parts
        .iter()
        .fold(Sha256::new(), |h, p| h.chain_update(p))
        .finalize();
    let key = binder_key(secret);
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.as_ref()).unwrap_or_else(|_| {
        // HMAC accepts keys of any length.
        unreachable!()
    });
    mac.update(&digest);
    mac.finalize().into_bytes().into()
}

/// Checks a resumption MAC in constant time.
pub(crate) fn verify_resumption_mac(
    secret: &[u8; 32],
    parts: &[&[u8]],
    got: &[u8; 32],
) -> Result<(), CdpError> {
    let expected = resumption_mac(secret, parts);
    if subtle::ConstantTimeEq::ct_eq(&expected[..], &got[..]).into() {
        Ok(())
    } else {
        Err(PeerMisbehaved::BadResumptionMac.into())
    }
}
