//! Known-answer traces of CDP/1 and OTA manifests: the generator of Annex A of
//! `docs/protocol.md`, and the test that keeps the document equal to what the code does.
//!
//! The traces come from the real [`ClientConnection`] and [`ServerConnection`] driven with
//! seeded RNGs, a seeded [`TestPki`] and fixed clocks, and from the real
//! [`SignedManifest::sign`]. Values the connections keep to themselves (ephemeral keys,
//! PRK, traffic secrets, record keys) are recomputed here from public building blocks
//! (`x25519-dalek`, `hkdf`, `hmac`, `aes-gcm`, `ed25519-dalek`, `rsa`), and every one of
//! them is tied to bytes the connections actually sent: a recomputed key share must equal
//! the one in the hello, a recomputed signature or MAC the one on the wire, a record
//! sealed here with recomputed keys the record the connection sealed. So the annex states
//! what the implementation does, and a change to either fails here.
//!
//! Refresh the annex after a deliberate change with
//! `CAMPROOF_UPDATE_KAT=1 cargo test --release -p camproof-protocol --test kat`.
//! `tests/interop/kat.sh` recomputes the annex independently (Python `cryptography`).

use std::fmt::Write as _;
use std::sync::Arc;

use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use camproof_protocol::cdp::messages::{
    ClientAuth, ClientHello, ResumeAccept, ResumeHello, ServerHello,
};
use camproof_protocol::cdp::{
    AppMessage, ClientConfig, ClientConnection, Event, ServerConfig, ServerConnection,
    ServerContext,
};
use camproof_protocol::ota::{DeviceFirmware, FirmwareVersion, Manifest, SignedManifest};
use camproof_protocol::pki::{PkiOptions, PublicKey, TestPki};
use camproof_protocol::sig::{sign_pss, verify_pss};
use camproof_protocol::Timestamp;
use ed25519_dalek::Signer;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use rsa::pkcs8::EncodePrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPublicKey};
use sha2::{Digest, Sha256};

/// Why a replayed random value can differ from the one sent.
const REPLAY_HINT: &str =
    "REPLAY: the connection no longer draws its randomness as connection_rng's doc says";

const START: &str = "<!-- kat:start -->";
const END: &str = "<!-- kat:end -->";
const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/protocol.md");

/// Seed of the PKI whose keys and certificates the traces use.
const PKI_SEED: u64 = 8448;
/// Context strings of the two transcript signatures (docs/protocol.md, Full handshake).
const SERVER_CONTEXT: &[u8] = b"CDP/1 server signature\0";
const CLIENT_CONTEXT: &[u8] = b"CDP/1 client signature\0";

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    parts
        .iter()
        .fold(Sha256::new(), |h, p| h.chain_update(p))
        .finalize()
        .into()
}

/// `Expand(k, label, n)` of docs/protocol.md: HKDF-Expand with info `"cdp1 " || label`.
fn expand<const N: usize>(prk: &[u8; 32], label: &str) -> [u8; N] {
    let mut out = [0u8; N];
    Hkdf::<Sha256>::from_prk(prk)
        .expect("a 32-byte PRK")
        .expand(format!("cdp1 {label}").as_bytes(), &mut out)
        .expect("N is within HKDF's limit");
    out
}

fn extract(salt: &[u8; 32], ikm: &[u8]) -> [u8; 32] {
    let (prk, _) = Hkdf::<Sha256>::extract(Some(salt), ikm);
    prk.into()
}

fn hmac(key: &[u8; 32], data: &[u8]) -> [u8; 32] {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("any key length");
    m.update(data);
    m.finalize().into_bytes().into()
}

fn x25519_public(private: &[u8; 32]) -> [u8; 32] {
    x25519_dalek::x25519(*private, x25519_dalek::X25519_BASEPOINT_BYTES)
}

fn frame(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = ((1 + body.len()) as u32).to_be_bytes().to_vec();
    out.push(kind);
    out.extend_from_slice(body);
    out
}

/// Splits a byte stream into whole frames (length, type, body).
fn frames(mut bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let len = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
        out.push(bytes[..4 + len].to_vec());
        bytes = &bytes[4 + len..];
    }
    out
}

/// Draws `N` bytes from `rng`.
fn draw<const N: usize>(rng: &mut ChaCha20Rng) -> [u8; N] {
    let mut b = [0u8; N];
    rng.fill_bytes(&mut b);
    b
}

/// The RNG a connection makes for itself: ChaCha20 seeded with 32 bytes of the caller's.
///
/// The connections do not expose their ephemeral secrets, so the generator replays their
/// draws in order (X25519 secret, hello random, then the device's PSS salt or the
/// platform's ticket id) and checks each replayed value against the bytes the connection
/// sent. If a change to how connections draw randomness breaks the replay, the
/// `REPLAY` assertions below say so; change the replay with it.
fn connection_rng(caller: &ChaCha20Rng) -> ChaCha20Rng {
    let mut probe = caller.clone();
    ChaCha20Rng::from_seed(draw(&mut probe))
}

/// The salt of an RSA-PSS/SHA-256 signature (salt length 32), recovered with the public
/// key (RFC 8017, EMSA-PSS-VERIFY steps 1-10); asserts the encoding is well formed.
fn pss_salt(key: &RsaPublicKey, sig: &[u8]) -> [u8; 32] {
    let em_bits = key.n().bits() - 1;
    let em_len = em_bits.div_ceil(8);
    let m = BigUint::from_bytes_be(sig).modpow(key.e(), key.n());
    let raw = m.to_bytes_be();
    let mut em = vec![0u8; em_len - raw.len()];
    em.extend_from_slice(&raw);
    assert_eq!(em[em_len - 1], 0xbc, "PSS trailer");
    let (masked, h) = em[..em_len - 1].split_at(em_len - 33);
    let mut db = masked.to_vec();
    let mut counter = 0u32;
    let mut at = 0;
    while at < db.len() {
        let block = sha256(&[h, counter.to_be_bytes().as_slice()]);
        for b in block {
            if at < db.len() {
                db[at] ^= b;
                at += 1;
            }
        }
        counter += 1;
    }
    db[0] &= 0xff >> (8 * em_len - em_bits);
    let ps = db.len() - 32 - 1;
    assert!(db[..ps].iter().all(|&b| b == 0), "PSS padding");
    assert_eq!(db[ps], 1, "PSS separator");
    db[ps + 1..].try_into().unwrap()
}

/// AES-256-GCM as the record layer uses it: returns ciphertext and tag.
fn seal(key: &[u8; 32], nonce: &[u8; 12], aad: &[u8], plain: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut buf = plain.to_vec();
    let tag = Aes256Gcm::new(key.into())
        .encrypt_in_place_detached(Nonce::from_slice(nonce), aad, &mut buf)
        .expect("short payload");
    (buf, tag.to_vec())
}

fn record_nonce(iv: &[u8; 12], seq: u64) -> [u8; 12] {
    let mut n = *iv;
    for (a, b) in n[4..].iter_mut().zip(seq.to_be_bytes()) {
        *a ^= b;
    }
    n
}

fn record_aad(epoch: u32, seq: u64) -> Vec<u8> {
    let mut a = vec![0x17];
    a.extend_from_slice(&epoch.to_be_bytes());
    a.extend_from_slice(&seq.to_be_bytes());
    a
}

/// Writes the annex: headings, prose and `name: value` blocks that kat_check.py parses.
struct Annex {
    text: String,
    in_block: bool,
}

impl Annex {
    /// A paragraph, wrapped at 88 columns like the rest of the document.
    fn para(&mut self, p: &str) {
        self.close();
        // Words, with a code span kept whole so that it can be copied from one line.
        let mut words: Vec<String> = Vec::new();
        for w in p.split_whitespace() {
            match words.last_mut() {
                Some(last) if last.matches('`').count() % 2 == 1 => {
                    last.push(' ');
                    last.push_str(w);
                }
                _ => words.push(w.to_string()),
            }
        }
        let mut line = String::new();
        for word in &words {
            if !line.is_empty() && line.len() + 1 + word.len() > 88 {
                self.text.push_str(&line);
                self.text.push('\n');
                line.clear();
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        self.text.push_str(&line);
        self.text.push_str("\n\n");
    }

    fn open(&mut self) {
        if !self.in_block {
            self.text.push_str("```text\n");
            self.in_block = true;
        }
    }

    fn close(&mut self) {
        if self.in_block {
            self.text.push_str("```\n\n");
            self.in_block = false;
        }
    }

    /// Bytes in hex, 32 bytes a line; short values on the name's line.
    fn hex(&mut self, name: &str, bytes: &[u8]) {
        self.open();
        let h = hex::encode(bytes);
        if h.len() <= 64 {
            let _ = writeln!(self.text, "{name}: {h}");
        } else {
            let _ = writeln!(self.text, "{name}:");
            for chunk in h.as_bytes().chunks(64) {
                let _ = writeln!(self.text, "    {}", std::str::from_utf8(chunk).unwrap());
            }
        }
    }

    fn string(&mut self, name: &str, s: &str) {
        self.open();
        let _ = writeln!(self.text, "{name}: \"{}\"", s.replace('\0', "\\0"));
    }

    fn int(&mut self, name: &str, n: u64, unit: &str) {
        self.open();
        let _ = writeln!(self.text, "{name}: {n} {unit}");
    }
}

/// One record sealed by a real connection, recomputed here and written to the annex.
#[allow(clippy::too_many_arguments)]
fn record(
    a: &mut Annex,
    prefix: &str,
    key: &[u8; 32],
    iv: &[u8; 12],
    epoch: u32,
    seq: u64,
    payload: &[u8],
    content: u8,
    sent: &[u8],
) {
    let mut plain = payload.to_vec();
    plain.push(content);
    let nonce = record_nonce(iv, seq);
    let aad = record_aad(epoch, seq);
    let (ct, tag) = seal(key, &nonce, &aad, &plain);
    let mut body = aad[1..].to_vec();
    body.extend_from_slice(&ct);
    body.extend_from_slice(&tag);
    let f = frame(0x17, &body);
    assert_eq!(
        hex::encode(&f),
        hex::encode(sent),
        "{prefix}: the record recomputed from the derived keys differs from the one sent"
    );
    a.int(&format!("{prefix}.epoch"), u64::from(epoch), "(u32)");
    a.int(&format!("{prefix}.seq"), seq, "(u64)");
    a.hex(&format!("{prefix}.plaintext"), &plain);
    a.hex(&format!("{prefix}.nonce"), &nonce);
    a.hex(&format!("{prefix}.aad"), &aad);
    a.hex(&format!("{prefix}.ciphertext"), &ct);
    a.hex(&format!("{prefix}.tag"), &tag);
    a.hex(&format!("{prefix}.frame"), &f);
}

/// Secrets of one direction and epoch: `key_n`, `iv_n`.
fn epoch_keys(secret: &[u8; 32]) -> ([u8; 32], [u8; 12]) {
    (expand(secret, "key"), expand(secret, "iv"))
}

/// Generates the annex text (between the markers) from the implementation.
fn generate() -> String {
    let mut a = Annex {
        text: String::new(),
        in_block: false,
    };
    let options = PkiOptions {
        vendors: 1,
        device_key_pool: 1,
        ..PkiOptions::fast_for_tests()
    };
    let pki = TestPki::generate(PKI_SEED, &options);
    let device = Arc::new(pki.device(1));
    let server = pki.server("gw-kat-1", 0);
    let vendor_key = pki.vendor_key(0).expect("one vendor").clone();
    let PublicKey::Rsa(device_pub) = &device.chain()[0].key else {
        panic!("device key is RSA")
    };
    let device_pub = device_pub.clone();

    a.para(
        "This annex is generated by `protocol/tests/kat.rs` from the implementation: the \
         real `ClientConnection` and `ServerConnection` driven with seeded RNGs and fixed \
         clocks, and the real `SignedManifest::sign`. Values the connections keep to \
         themselves are recomputed from public building blocks and asserted equal to what \
         the connections sent (a key share, a signature, a MAC, a sealed record). \
         `cargo test --release -p camproof-protocol --test kat` fails if this text and the \
         code differ (`CAMPROOF_UPDATE_KAT=1` rewrites it), and `tests/interop/kat.sh` \
         recomputes every derived value below from its stated inputs with Python's \
         `cryptography`, a second implementation.",
    );
    a.para(
        "Format: `name: value`, where a value is hex (continued on indented lines), a \
         quoted string (`\\0` is a zero byte) or a decimal integer with its unit. Names \
         ending in `.frame` are whole frames as sent on the wire (length, type, body). \
         `Expand(k, label, n)` is as in the notation above: HKDF-Expand(PRK = k, info = \
         \"cdp1 \" || label, L = n). Every value not marked as an input is derived from \
         the inputs above it.",
    );

    // A.1 keys
    a.para("### A.1 Keys and certificates");
    a.para(
        "Inputs. The PKI is `TestPki::generate(8448)` with one vendor CA and 2048-bit RSA \
         keys; certificates are in their full encoding (CDP-CERT-01). The root certificate \
         is self-signed; the vendor CA and the platform server certificate are signed by \
         the root, the device certificate by the vendor CA (RSA-PSS/SHA-256, salt 32, over \
         `\"camproof certificate v1\\0\" || to-be-signed bytes`). Private keys are PKCS#8 \
         DER; the platform's Ed25519 private key is its 32-byte seed.",
    );
    a.hex("keys.root_certificate", &pki.root_certificate().to_bytes());
    a.hex(
        "keys.vendor_certificate",
        &pki.vendor_certificate(0).expect("one vendor").to_bytes(),
    );
    a.hex(
        "keys.vendor_private_key",
        vendor_key.to_pkcs8_der().expect("pkcs8").as_bytes(),
    );
    a.hex("keys.device_certificate", &device.chain()[0].to_bytes());
    a.hex(
        "keys.device_private_key",
        device.key().to_pkcs8_der().expect("pkcs8").as_bytes(),
    );
    a.hex("keys.server_certificate", &server.certificate().to_bytes());
    a.hex("keys.server_private_key", &server.key().to_bytes());
    a.para("Derived:");
    a.hex(
        "keys.server_public_key",
        server.key().verifying_key().as_bytes(),
    );

    // A.2 full handshake
    let t_device = Timestamp::from_secs(1_800_000_000);
    let t_platform = Timestamp::from_micros(t_device.as_micros() + 250_000);
    let mut client_cfg = ClientConfig::new(pki.trust_store());
    // One record per epoch on the device side, so the trace shows a key update (A.4).
    client_cfg.rekey_after = 1;
    let client_cfg = Arc::new(client_cfg);
    let server_cfg = Arc::new(ServerConfig::new(server.clone()));
    let mut ctx = ServerContext::new(pki.trust_store());

    let mut device_rng = ChaCha20Rng::seed_from_u64(1);
    let mut platform_rng = ChaCha20Rng::seed_from_u64(2);
    let mut d_rng = connection_rng(&device_rng);
    let mut p_rng = connection_rng(&platform_rng);
    let mut cam = ClientConnection::connect(
        client_cfg.clone(),
        device.clone(),
        t_device,
        &mut device_rng,
    );
    let mut gw = ServerConnection::new(server_cfg.clone(), &mut platform_rng);

    let d_x: [u8; 32] = draw(&mut d_rng);
    let d_random: [u8; 32] = draw(&mut d_rng);
    let p_x: [u8; 32] = draw(&mut p_rng);
    let p_random: [u8; 32] = draw(&mut p_rng);

    let mut ch_frame = Vec::new();
    cam.poll_transmit(&mut ch_frame);
    gw.handle_bytes(t_platform, &ch_frame, &mut ctx)
        .expect("ClientHello");
    let mut sh_frame = Vec::new();
    gw.poll_transmit(&mut sh_frame);
    cam.handle_bytes(t_device, &sh_frame).expect("ServerHello");
    let salt_rng = d_rng.clone();
    let pss_salt_drawn: [u8; 32] = draw(&mut d_rng);
    let mut ca_frame = Vec::new();
    cam.poll_transmit(&mut ca_frame);
    gw.handle_bytes(t_platform, &ca_frame, &mut ctx)
        .expect("ClientAuth");
    let ticket_id: [u8; 16] = draw(&mut p_rng);
    let mut ticket_frame = Vec::new();
    gw.poll_transmit(&mut ticket_frame);
    cam.handle_bytes(t_device, &ticket_frame).expect("ticket");
    assert!(matches!(
        cam.poll_event(),
        Some(Event::Connected { resumed: false, .. })
    ));
    assert!(matches!(
        gw.poll_event(),
        Some(Event::Connected { resumed: false, .. })
    ));

    // The hellos as sent, checked field by field against the replayed randomness.
    let ch = ClientHello::decode(&ch_frame[5..]).expect("ClientHello decodes");
    assert_eq!(
        ch.key_share,
        x25519_public(&d_x),
        "device key share: {}",
        REPLAY_HINT
    );
    assert_eq!(ch.random, d_random, "device random: {REPLAY_HINT}");
    let (sh, sh_core_len) = ServerHello::decode(&sh_frame[5..]).expect("ServerHello decodes");
    assert_eq!(
        sh.key_share,
        x25519_public(&p_x),
        "platform key share: {}",
        REPLAY_HINT
    );
    assert_eq!(sh.random, p_random, "platform random: {REPLAY_HINT}");
    let mut ch_body = 1u16.to_be_bytes().to_vec();
    ch_body.extend_from_slice(&d_random);
    ch_body.extend_from_slice(&t_device.as_micros().to_be_bytes());
    ch_body.extend_from_slice(&x25519_public(&d_x));
    assert_eq!(frame(0x01, &ch_body), ch_frame, "ClientHello layout");

    let ch_content = &ch_frame[4..];
    let sh_core = &sh_frame[4..5 + sh_core_len];
    let server_hash = sha256(&[ch_content, sh_core]);
    let server_signed = [SERVER_CONTEXT, server_hash.as_slice()].concat();
    let server_sig = server.key().sign(&server_signed).to_bytes();
    assert_eq!(server_sig, sh.signature, "platform signature");
    let shared = x25519_dalek::x25519(d_x, x25519_public(&p_x));
    assert_eq!(
        shared,
        x25519_dalek::x25519(p_x, x25519_public(&d_x)),
        "X25519 agreement"
    );

    let (auth, ca_core_len) = ClientAuth::decode(&ca_frame[5..]).expect("ClientAuth decodes");
    let sh_content = &sh_frame[4..];
    let ca_core = &ca_frame[4..5 + ca_core_len];
    let client_hash = sha256(&[ch_content, sh_content, ca_core]);
    let client_signed = [CLIENT_CONTEXT, client_hash.as_slice()].concat();
    assert!(
        verify_pss(&device_pub, &client_signed, &auth.signature),
        "device signature verifies"
    );
    assert_eq!(
        pss_salt(&device_pub, &auth.signature),
        pss_salt_drawn,
        "the PSS salt is the connection's next 32 random bytes"
    );
    assert_eq!(
        sign_pss(device.key(), &mut salt_rng.clone(), &client_signed),
        auth.signature,
        "device signature re-made with the same salt"
    );
    let transcript = sha256(&[ch_content, sh_content, &ca_frame[4..]]);
    let prk = extract(&transcript, &shared);
    let c2s_0: [u8; 32] = expand(&prk, "c2s traffic");
    let s2c_0: [u8; 32] = expand(&prk, "s2c traffic");
    let res: [u8; 32] = expand(&prk, "resumption");
    let (c2s_key, c2s_iv) = epoch_keys(&c2s_0);
    let (s2c_key, s2c_iv) = epoch_keys(&s2c_0);

    a.para("### A.2 Full handshake");
    a.para(
        "Inputs: the two clocks, and the values each side draws from its seeded RNG (device: \
         `ChaCha20Rng::seed_from_u64(1)`, platform: `seed_from_u64(2)`): X25519 private \
         keys (32 bytes, clamped by X25519), hello randoms, the PSS salt of the device \
         signature and the ticket id. The ticket lifetime is the default 24 h.",
    );
    a.int("full.device_time", t_device.as_micros(), "µs");
    a.int("full.platform_time", t_platform.as_micros(), "µs");
    a.hex("full.device_x25519_private", &d_x);
    a.hex("full.device_random", &d_random);
    a.hex("full.platform_x25519_private", &p_x);
    a.hex("full.platform_random", &p_random);
    a.hex("full.client_pss_salt", &pss_salt_drawn);
    a.hex("full.ticket_id", &ticket_id);
    a.int("full.ticket_lifetime", 86_400, "s");
    a.para("The device sends its ClientHello (`version 1 · random · timestamp · key_share`):");
    a.hex("full.device_x25519_public", &x25519_public(&d_x));
    a.hex("full.client_hello.frame", &ch_frame);
    a.para(
        "The platform answers with its ServerHello. `server_signed` is the exact message \
         signed with Ed25519: `\"CDP/1 server signature\\0\" || H(CH || SH*)`, where `CH` \
         is the ClientHello frame without its length and `SH*` the ServerHello without \
         length and signature.",
    );
    a.hex("full.platform_x25519_public", &x25519_public(&p_x));
    a.hex("full.server_transcript_hash", &server_hash);
    a.hex("full.server_signed", &server_signed);
    a.hex("full.server_signature", &server_sig);
    a.hex("full.server_hello.frame", &sh_frame);
    a.para(
        "Both sides agree the X25519 secret. The device signs `\"CDP/1 client \
         signature\\0\" || H(CH || SH || CA*)` with RSA-PSS/SHA-256 (MGF1-SHA-256, salt \
         length 32, the salt above) and sends its chain `[device, vendor CA]`:",
    );
    a.hex("full.shared_secret", &shared);
    a.hex("full.client_transcript_hash", &client_hash);
    a.hex("full.client_signed", &client_signed);
    a.hex("full.client_signature", &auth.signature);
    a.hex("full.client_auth.frame", &ca_frame);
    a.para(
        "Key schedule: `transcript = H(CH || SH || CA)`, `PRK = HKDF-Extract(salt = \
         transcript, IKM = shared_secret)`, then `c2s_0 = Expand(PRK, \"c2s traffic\", \
         32)`, `s2c_0 = Expand(PRK, \"s2c traffic\", 32)`, `res = Expand(PRK, \
         \"resumption\", 32)`, and per direction `key_0 = Expand(secret_0, \"key\", 32)`, \
         `iv_0 = Expand(secret_0, \"iv\", 12)`:",
    );
    a.hex("full.transcript", &transcript);
    a.hex("full.prk", &prk);
    a.hex("full.c2s_0", &c2s_0);
    a.hex("full.s2c_0", &s2c_0);
    a.hex("full.res", &res);
    a.hex("full.c2s_0_key", &c2s_key);
    a.hex("full.c2s_0_iv", &c2s_iv);
    a.hex("full.s2c_0_key", &s2c_key);
    a.hex("full.s2c_0_iv", &s2c_iv);
    a.para(
        "The platform's first record carries the ticket (`ticket_id || lifetime u32`, \
         content type 2), sealed with `s2c_0` at epoch 0, seq 0: `nonce = iv XOR (0^4 || \
         seq)`, `aad = 0x17 || epoch || seq`, plaintext `payload || content_type`:",
    );
    let mut ticket_payload = ticket_id.to_vec();
    ticket_payload.extend_from_slice(&86_400u32.to_be_bytes());
    record(
        &mut a,
        "full.ticket_record",
        &s2c_key,
        &s2c_iv,
        0,
        0,
        &ticket_payload,
        2,
        &ticket_frame,
    );

    // A.3 a sealed record, A.4 key update
    let hb1 = AppMessage::Heartbeat {
        seq: 1,
        uptime_secs: 60,
    }
    .encode();
    let hb2 = AppMessage::Heartbeat {
        seq: 2,
        uptime_secs: 75,
    }
    .encode();
    cam.send(&hb1).expect("send");
    let mut rec1 = Vec::new();
    cam.poll_transmit(&mut rec1);
    cam.send(&hb2).expect("send");
    let mut rec2 = Vec::new();
    cam.poll_transmit(&mut rec2);
    let mut wire = rec1.clone();
    wire.extend_from_slice(&rec2);
    gw.handle_bytes(t_platform, &wire, &mut ctx)
        .expect("records open");
    assert_eq!(gw.poll_event(), Some(Event::Data(hb1.clone())));
    assert_eq!(
        gw.poll_event(),
        Some(Event::KeyUpdated {
            outgoing: false,
            epoch: 1
        })
    );
    assert_eq!(gw.poll_event(), Some(Event::Data(hb2.clone())));
    let rec2 = frames(&rec2);
    assert_eq!(rec2.len(), 2, "a key update record, then the data record");

    a.para("### A.3 A sealed record");
    a.para(
        "The device sends an application record: a Heartbeat message (`type 1 · seq u32 \
         · uptime_secs u32`, seq 1, uptime 60 s) sealed with `c2s_0` at epoch 0, seq 0 \
         (content type 0). Input: the payload.",
    );
    a.hex("record.payload", &hb1);
    record(&mut a, "record", &c2s_key, &c2s_iv, 0, 0, &hb1, 0, &rec1);

    let c2s_1: [u8; 32] = expand(&c2s_0, "update");
    let (c2s_1_key, c2s_1_iv) = epoch_keys(&c2s_1);
    a.para("### A.4 Key update");
    a.para(
        "The device is configured with `rekey_after = 1`, so before its next record it \
         sends a KeyUpdate record (content type 1, empty payload) at epoch 0, seq 1, and \
         moves to `c2s_1 = Expand(c2s_0, \"update\", 32)`; the next Heartbeat (seq 2, \
         uptime 75 s) is sealed at epoch 1, seq 0. Input: that payload.",
    );
    a.hex("update.payload", &hb2);
    record(
        &mut a,
        "update.key_update_record",
        &c2s_key,
        &c2s_iv,
        0,
        1,
        &[],
        1,
        &rec2[0],
    );
    a.hex("update.c2s_1", &c2s_1);
    a.hex("update.c2s_1_key", &c2s_1_key);
    a.hex("update.c2s_1_iv", &c2s_1_iv);
    record(
        &mut a,
        "update.record",
        &c2s_1_key,
        &c2s_1_iv,
        1,
        0,
        &hb2,
        0,
        &rec2[1],
    );

    // A.5 resumption
    let ticket = cam.take_ticket().expect("a ticket");
    let r_device = t_device.saturating_add(std::time::Duration::from_secs(3600));
    let r_platform = Timestamp::from_micros(r_device.as_micros() + 250_000);
    let mut device_rng = ChaCha20Rng::seed_from_u64(3);
    let mut platform_rng = ChaCha20Rng::seed_from_u64(4);
    let mut d_rng = connection_rng(&device_rng);
    let mut p_rng = connection_rng(&platform_rng);
    let mut cam = ClientConnection::resume(
        client_cfg,
        device.clone(),
        ticket,
        r_device,
        &mut device_rng,
    );
    let mut gw = ServerConnection::new(server_cfg, &mut platform_rng);
    let rd_x: [u8; 32] = draw(&mut d_rng);
    let rd_random: [u8; 32] = draw(&mut d_rng);
    let rp_x: [u8; 32] = draw(&mut p_rng);
    let rp_random: [u8; 32] = draw(&mut p_rng);
    let mut rh_frame = Vec::new();
    cam.poll_transmit(&mut rh_frame);
    gw.handle_bytes(r_platform, &rh_frame, &mut ctx)
        .expect("ResumeHello");
    let r_ticket_id: [u8; 16] = draw(&mut p_rng);
    let mut out = Vec::new();
    gw.poll_transmit(&mut out);
    let out = frames(&out);
    assert_eq!(out.len(), 2, "ResumeAccept, then the ticket record");
    let (ra_frame, r_ticket_frame) = (&out[0], &out[1]);
    let mut both = ra_frame.clone();
    both.extend_from_slice(r_ticket_frame);
    cam.handle_bytes(r_device, &both).expect("ResumeAccept");
    assert!(matches!(
        cam.poll_event(),
        Some(Event::Connected { resumed: true, .. })
    ));
    assert!(matches!(
        gw.poll_event(),
        Some(Event::Connected { resumed: true, .. })
    ));

    let rh = ResumeHello::decode(&rh_frame[5..]).expect("ResumeHello decodes");
    assert_eq!(rh.ticket_id, ticket_id, "the ticket of A.2 is presented");
    assert_eq!(
        rh.key_share,
        x25519_public(&rd_x),
        "device key share: {}",
        REPLAY_HINT
    );
    assert_eq!(rh.random, rd_random, "device random: {REPLAY_HINT}");
    let ra = ResumeAccept::decode(&ra_frame[5..]).expect("ResumeAccept decodes");
    assert_eq!(
        ra.key_share,
        x25519_public(&rp_x),
        "platform key share: {}",
        REPLAY_HINT
    );
    assert_eq!(ra.random, rp_random, "platform random: {REPLAY_HINT}");
    let binder_key: [u8; 32] = expand(&res, "binder");
    let rh_core = &rh_frame[4..rh_frame.len() - 32];
    let binder_hash = sha256(&[rh_core]);
    let binder = hmac(&binder_key, &binder_hash);
    assert_eq!(binder, rh.binder, "binder made with res of A.2");
    let rh_content = &rh_frame[4..];
    let ra_core = &ra_frame[4..ra_frame.len() - 32];
    let verify_hash = sha256(&[rh_content, ra_core]);
    let verify = hmac(&binder_key, &verify_hash);
    assert_eq!(verify, ra.verify, "platform's verify made with res of A.2");
    let r_shared = x25519_dalek::x25519(rd_x, x25519_public(&rp_x));
    let r_transcript = sha256(&[rh_content, &ra_frame[4..]]);
    let r_ikm = [r_shared.as_slice(), &res].concat();
    let r_prk = extract(&r_transcript, &r_ikm);
    let r_c2s: [u8; 32] = expand(&r_prk, "c2s traffic");
    let r_s2c: [u8; 32] = expand(&r_prk, "s2c traffic");
    let r_res: [u8; 32] = expand(&r_prk, "resumption");
    let (r_s2c_key, r_s2c_iv) = epoch_keys(&r_s2c);
    let (r_c2s_key, r_c2s_iv) = epoch_keys(&r_c2s);

    a.para("### A.5 Resumption");
    a.para(
        "An hour later the device resumes with the ticket of A.2, whose secret is \
         `full.res`. Inputs: clocks and the values drawn from the RNGs (device: \
         `seed_from_u64(3)`, platform: `seed_from_u64(4)`). `bk = Expand(res, \"binder\", \
         32)`; `binder = HMAC-SHA256(bk, H(RH*))` with `RH*` the ResumeHello frame \
         without length and binder; `verify = HMAC-SHA256(bk, H(RH || RA*))` with `RA*` \
         the ResumeAccept frame without length and verify.",
    );
    a.int("resume.device_time", r_device.as_micros(), "µs");
    a.int("resume.platform_time", r_platform.as_micros(), "µs");
    a.hex("resume.device_x25519_private", &rd_x);
    a.hex("resume.device_random", &rd_random);
    a.hex("resume.platform_x25519_private", &rp_x);
    a.hex("resume.platform_random", &rp_random);
    a.hex("resume.ticket_id", &r_ticket_id);
    a.int("resume.ticket_lifetime", 86_400, "s");
    a.para("Derived:");
    a.hex("resume.binder_key", &binder_key);
    a.hex("resume.device_x25519_public", &x25519_public(&rd_x));
    a.hex("resume.binder_hash", &binder_hash);
    a.hex("resume.binder", &binder);
    a.hex("resume.resume_hello.frame", &rh_frame);
    a.hex("resume.platform_x25519_public", &x25519_public(&rp_x));
    a.hex("resume.verify_hash", &verify_hash);
    a.hex("resume.verify", &verify);
    a.hex("resume.resume_accept.frame", ra_frame);
    a.para(
        "Key schedule: `transcript = H(RH || RA)`, `PRK = HKDF-Extract(salt = transcript, \
         IKM = shared_secret || res)`, then the labels of A.2; the new ticket record \
         carries `resume.ticket_id` sealed with the new `s2c_0`.",
    );
    a.hex("resume.shared_secret", &r_shared);
    a.hex("resume.transcript", &r_transcript);
    a.hex("resume.ikm", &r_ikm);
    a.hex("resume.prk", &r_prk);
    a.hex("resume.c2s_0", &r_c2s);
    a.hex("resume.s2c_0", &r_s2c);
    a.hex("resume.res", &r_res);
    a.hex("resume.c2s_0_key", &r_c2s_key);
    a.hex("resume.c2s_0_iv", &r_c2s_iv);
    a.hex("resume.s2c_0_key", &r_s2c_key);
    a.hex("resume.s2c_0_iv", &r_s2c_iv);
    let mut r_ticket_payload = r_ticket_id.to_vec();
    r_ticket_payload.extend_from_slice(&86_400u32.to_be_bytes());
    record(
        &mut a,
        "resume.ticket_record",
        &r_s2c_key,
        &r_s2c_iv,
        0,
        0,
        &r_ticket_payload,
        2,
        r_ticket_frame,
    );

    // A.6 OTA manifest
    let image = b"camproof firmware image";
    let manifest = Manifest::for_image(
        "IPC-HFW2431S",
        FirmwareVersion::new(5, 5, 3),
        FirmwareVersion::new(5, 0, 0),
        image,
    )
    .expect("valid manifest");
    let mut ota_rng = ChaCha20Rng::seed_from_u64(5);
    let ota_salt: [u8; 32] = draw(&mut ota_rng.clone());
    let signed = SignedManifest::sign(manifest.clone(), &vendor_key, &mut ota_rng).expect("signs");
    let device_fw = DeviceFirmware::new(
        "IPC-HFW2431S",
        FirmwareVersion::new(5, 4, 0),
        FirmwareVersion::new(5, 0, 0),
    );
    signed
        .verify(image, &device_fw, &vendor_key.to_public_key())
        .expect("the device accepts the signed manifest");
    let ota_signed_msg = manifest.signing_input().expect("valid");
    assert_eq!(
        pss_salt(&vendor_key.to_public_key(), signed.signature()),
        ota_salt,
        "the OTA PSS salt is the RNG's first 32 bytes"
    );
    a.para("### A.6 Signed firmware manifest");
    a.para(
        "The vendor CA key of A.1 signs a manifest for a 23-byte image. Inputs: model, \
         versions, image, and the PSS salt (the first 32 bytes of \
         `ChaCha20Rng::seed_from_u64(5)`). The signed message is `\"camproof OTA manifest \
         v1\\0\" || manifest encoding`; a device of that model at 5.4.0 with floor 5.0.0 \
         accepts it.",
    );
    a.string("ota.model", &manifest.model);
    a.string("ota.version", "5.5.3");
    a.string("ota.min_version", "5.0.0");
    a.string("ota.image", std::str::from_utf8(image).unwrap());
    a.hex("ota.pss_salt", &ota_salt);
    a.para("Derived:");
    a.hex("ota.image_sha256", &manifest.image_sha256);
    a.hex("ota.manifest", &manifest.encode().expect("valid"));
    a.hex("ota.signed_message", &ota_signed_msg);
    a.hex("ota.signature", signed.signature());
    a.hex("ota.signed_manifest", &signed.encode());
    a.close();
    a.text
}

/// The annex as the document has it, between the markers.
fn documented(doc: &str) -> Option<(usize, usize)> {
    let start = doc.find(START)? + START.len();
    let end = doc[start..].find(END)? + start;
    Some((start, end))
}

#[test]
fn annex_a_matches_the_implementation() {
    let generated = format!("\n{}", generate());
    let doc = std::fs::read_to_string(DOC).expect("docs/protocol.md");
    let (start, end) = documented(&doc)
        .unwrap_or_else(|| panic!("docs/protocol.md has no `{START}` … `{END}` section (Annex A)"));
    if doc[start..end] == generated {
        return;
    }
    if std::env::var_os("CAMPROOF_UPDATE_KAT").is_some() {
        let updated = format!("{}{generated}{}", &doc[..start], &doc[end..]);
        std::fs::write(DOC, updated).expect("write docs/protocol.md");
        eprintln!("rewrote Annex A of docs/protocol.md");
        return;
    }
    let (old, new): (Vec<&str>, Vec<&str>) = (
        doc[start..end].lines().collect(),
        generated.lines().collect(),
    );
    let at = (0..old.len().max(new.len()))
        .find(|&i| old.get(i) != new.get(i))
        .unwrap_or(0);
    let line = doc[..start].lines().count() + at;
    panic!(
        "Annex A of docs/protocol.md differs from what the code computes, first at line \
         {line} of the file:\n  document: {:?}\n  code:     {:?}\nIf the change is \
         intended, refresh it with \
         `CAMPROOF_UPDATE_KAT=1 cargo test --release -p camproof-protocol --test kat`, then \
         run tests/interop/kat.sh to have it recomputed independently.",
        old.get(at).unwrap_or(&"(end)"),
        new.get(at).unwrap_or(&"(end)"),
    );
}
