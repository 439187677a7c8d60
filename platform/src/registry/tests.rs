use std::time::Duration;

use proptest::prelude::*;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

use super::*;
use crate::accounts::{AccountsConfig, ErasureRecord, GeoPoint, LoginSource};

const HERE: Region = Region::EuAfrica;

fn t0() -> Timestamp {
    Timestamp::from_secs(1_700_000_000)
}

fn at(secs: u64) -> Timestamp {
    t0().saturating_add(Duration::from_secs(secs))
}

fn user(n: u8) -> Caller {
    Caller::new(UserId(format!("{n:032x}")), HERE)
}

fn camera(n: u64) -> PeerIdentity {
    PeerIdentity {
        subject: format!("CAM-{n:08}"),
        serial: 0x1000 + n,
        issuer: "Vendor CA".into(),
    }
}

struct World {
    reg: Registry,
    rng: ChaCha8Rng,
}

impl World {
    fn new() -> Self {
        World {
            reg: Registry::new(HERE, RegistryConfig::default()).unwrap(),
            rng: ChaCha8Rng::seed_from_u64(1),
        }
    }

    fn provision(&mut self, n: u64) -> DeviceId {
        self.reg
            .provision(&camera(n), "dome-2mp", t0(), &mut self.rng)
            .unwrap()
    }

    fn token(&mut self, n: u64, now: Timestamp) -> PairingToken {
        self.reg
            .begin_pairing(&camera(n), now, &mut self.rng)
            .unwrap()
    }

    /// Provisions camera `n` and binds it to `owner`.
    fn bound(&mut self, n: u64, owner: &Caller) -> DeviceId {
        let id = self.provision(n);
        let token = self.token(n, t0());
        assert_eq!(self.reg.claim(owner, token.expose(), t0()).unwrap(), id);
        id
    }

    fn code(&mut self, who: &Caller, d: &DeviceId, a: Action, now: Timestamp) -> AuthzCode {
        self.reg.issue_code(who, d, a, now, &mut self.rng).unwrap()
    }
}

// ---------- binding ----------

#[test]
fn claim_with_the_token_the_camera_shows_binds_it() {
    let mut w = World::new();
    let alice = user(1);
    let id = w.provision(42);
    assert_eq!(w.reg.device_for_peer(&camera(42)), Some(&id));
    let token = w.token(42, t0());
    assert_eq!(token.expose().len(), 32);
    assert_eq!(w.reg.claim(&alice, token.expose(), at(5)).unwrap(), id);
    let list = w.reg.list_devices(&alice).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].id, id);
    assert_eq!(list[0].role, Role::Owner);
    assert_eq!(w.reg.stats().claims, 1);
    // The token is single-use: a second claim, even by the same user, is refused.
    assert_eq!(
        w.reg.claim(&alice, token.expose(), at(6)),
        Err(RegistryError::InvalidPairingToken)
    );
}

#[test]
fn a_new_pairing_token_replaces_the_old_one() {
    let mut w = World::new();
    w.provision(1);
    let old = w.token(1, t0());
    let new = w.token(1, at(1));
    assert_eq!(
        w.reg.claim(&user(1), old.expose(), at(2)),
        Err(RegistryError::InvalidPairingToken)
    );
    assert!(w.reg.claim(&user(1), new.expose(), at(2)).is_ok());
}

#[test]
fn expired_pairing_token_refused() {
    let mut w = World::new();
    w.provision(1);
    let token = w.token(1, t0());
    assert_eq!(token.expires_at(), at(600));
    assert_eq!(
        w.reg.claim(&user(1), token.expose(), at(600)),
        Err(RegistryError::PairingTokenExpired)
    );
}

#[test]
fn wrong_tokens_refused_then_rate_limited_even_with_the_right_one() {
    let mut w = World::new();
    let mallory = user(9);
    w.provision(1);
    let token = w.token(1, t0());
    for i in 0..5 {
        assert_eq!(
            w.reg.claim(&mallory, &format!("{i:032x}"), at(i)),
            Err(RegistryError::InvalidPairingToken)
        );
    }
    let until = at(4 + 15 * 60);
    assert_eq!(
        w.reg.claim(&mallory, token.expose(), at(10)),
        Err(RegistryError::RateLimited { until })
    );
    // Another user is not affected by mallory's failures.
    let fresh = w.token(1, at(10));
    assert!(w.reg.claim(&user(2), fresh.expose(), at(11)).is_ok());
    // And mallory may claim again once the lockout passed.
    w.provision(2);
    let later = w.token(2, until);
    assert!(w.reg.claim(&mallory, later.expose(), until).is_ok());
}

#[test]
fn claim_failure_tracking_is_bounded() {
    let config = RegistryConfig {
        max_tracked_claimants: 3,
        ..RegistryConfig::default()
    };
    let mut reg = Registry::new(HERE, config).unwrap();
    for n in 0..50 {
        let _ = reg.claim(&user(n), "nope", t0());
    }
    // Memory holds at most 3 users' failures; the limiter evicts the oldest.
    assert_eq!(reg.claim_limiter.len(), 3);
}

#[test]
fn takeover_of_a_bound_device_refused() {
    let mut w = World::new();
    let alice = user(1);
    let mallory = user(9);
    let id = w.provision(7);
    let token = w.token(7, t0());
    w.reg.claim(&alice, token.expose(), at(1)).unwrap();
    // The bound camera gets no new token, so nobody can claim it...
    assert_eq!(
        w.reg.begin_pairing(&camera(7), at(2), &mut w.rng),
        Err(PairingError::AlreadyBound {
            subject: "CAM-00000007".into()
        })
    );
    // ...and alice's used token is worthless to mallory.
    assert_eq!(
        w.reg.claim(&mallory, token.expose(), at(3)),
        Err(RegistryError::InvalidPairingToken)
    );
    assert_eq!(w.reg.list_devices(&mallory).unwrap(), vec![]);
    assert_eq!(w.reg.list_devices(&alice).unwrap()[0].id, id);
}

#[test]
fn pairing_refused_for_unknown_devices_and_wrong_certificates() {
    let mut w = World::new();
    assert_eq!(
        w.reg.begin_pairing(&camera(5), t0(), &mut w.rng),
        Err(PairingError::UnknownDevice {
            subject: "CAM-00000005".into()
        })
    );
    w.provision(5);
    let mut forged = camera(5);
    forged.serial = 999;
    assert!(matches!(
        w.reg.begin_pairing(&forged, t0(), &mut w.rng),
        Err(PairingError::CertificateMismatch { presented: 999, .. })
    ));
    assert_eq!(w.reg.device_for_peer(&forged), None);
    assert_eq!(
        w.reg.claim(&user(1), "not-a-token", t0()),
        Err(RegistryError::InvalidPairingToken)
    );
}

#[test]
fn provisioning_validates_input_without_panicking() {
    let mut w = World::new();
    w.provision(1);
    assert!(matches!(
        w.reg.provision(&camera(1), "m", t0(), &mut w.rng),
        Err(ProvisionError::Duplicate { .. })
    ));
    let mut bad = camera(2);
    bad.subject = String::new();
    assert!(matches!(
        w.reg.provision(&bad, "m", t0(), &mut w.rng),
        Err(ProvisionError::InvalidSubject(_))
    ));
    bad.subject = "CAM\n1".into();
    assert!(w.reg.provision(&bad, "m", t0(), &mut w.rng).is_err());
    bad.subject = "x".repeat(MAX_SUBJECT_CHARS + 1);
    assert!(w.reg.provision(&bad, "m", t0(), &mut w.rng).is_err());
    assert!(matches!(
        w.reg.provision(&camera(3), "", t0(), &mut w.rng),
        Err(ProvisionError::InvalidModel(_))
    ));
    assert_eq!(w.reg.device_count(), 1);
}

#[test]
fn device_limit_per_user() {
    let config = RegistryConfig {
        max_devices_per_user: 1,
        ..RegistryConfig::default()
    };
    let mut w = World::new();
    w.reg = Registry::new(HERE, config).unwrap();
    w.bound(1, &user(1));
    w.provision(2);
    let token = w.token(2, t0());
    assert_eq!(
        w.reg.claim(&user(1), token.expose(), t0()),
        Err(RegistryError::TooManyDevices { limit: 1 })
    );
}

// ---------- serial numbers ----------

#[test]
fn masking() {
    assert_eq!(mask_subject("CAM-00000042"), "CAM-****0042");
    assert_eq!(mask_subject("ABCDEFGH"), "****EFGH");
    assert_eq!(mask_subject("CAM-1234"), "CAM-****");
    assert_eq!(mask_subject("CAM-"), "CAM-");
    assert_eq!(mask_subject("カメラ-éé1234567"), "カメラ-*****4567");
}

#[test]
fn serial_masked_in_listings_revealed_with_a_fresh_proof() {
    let mut w = World::new();
    let alice = user(1);
    let id = w.bound(42, &alice);
    let list = w.reg.list_devices(&alice).unwrap();
    assert_eq!(list[0].masked_serial, "CAM-****0042");
    assert!(!format!("{list:?}").contains("00000042"));
    let proof = PasswordVerified::attest(alice.user.clone(), HERE, at(100));
    let serial = w
        .reg
        .reveal_serial(&alice, &id, &proof, at(100 + 300))
        .unwrap();
    assert_eq!(serial.subject, "CAM-00000042");
    assert_eq!(serial.certificate_serial, 0x1000 + 42);
    assert_eq!(serial.to_string(), "CAM-00000042 (certificate 0x102a)");
}

#[test]
fn serial_refused_with_stale_foreign_or_future_proofs() {
    let mut w = World::new();
    let alice = user(1);
    let bob = user(2);
    let id = w.bound(42, &alice);
    let stale = PasswordVerified::attest(alice.user.clone(), HERE, at(100));
    assert_eq!(
        w.reg.reveal_serial(&alice, &id, &stale, at(401)),
        Err(RegistryError::Proof(ProofError::Stale {
            age_secs: 301,
            max_secs: 300
        }))
    );
    let bobs = PasswordVerified::attest(bob.user.clone(), HERE, at(100));
    assert_eq!(
        w.reg.reveal_serial(&alice, &id, &bobs, at(100)),
        Err(RegistryError::Proof(ProofError::AnotherUser))
    );
    let future = PasswordVerified::attest(alice.user.clone(), HERE, at(200));
    assert_eq!(
        w.reg.reveal_serial(&alice, &id, &future, at(100)),
        Err(RegistryError::Proof(ProofError::FromTheFuture))
    );
    let elsewhere = PasswordVerified::attest(alice.user.clone(), Region::Apac, at(100));
    assert!(matches!(
        w.reg.reveal_serial(&alice, &id, &elsewhere, at(100)),
        Err(RegistryError::Proof(ProofError::AnotherRegion { .. }))
    ));
    // Bob's own valid proof does not open alice's device: not found, as if unknown.
    assert_eq!(
        w.reg.reveal_serial(&bob, &id, &bobs, at(100)),
        Err(RegistryError::NotFound)
    );
}

#[test]
fn password_proof_from_a_real_login() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut accounts = Accounts::new(HERE, AccountsConfig::for_tests()).unwrap();
    let password = "marble-otter-quantum-lantern";
    let reg = accounts
        .register("alice@example.com", password, HERE, t0(), &mut rng)
        .unwrap();
    let alice = Caller::new(reg.user_id, HERE);
    let source = LoginSource {
        address: "192.0.2.10".parse().unwrap(),
        region: HERE,
        location: GeoPoint::new(48.85, 2.35),
    };
    let mut w = World::new();
    let id = w.bound(42, &alice);
    let wrong = LoginAttempt::new("alice@example.com", "wrong password!", None, source);
    assert!(matches!(
        PasswordVerified::by_login(&mut accounts, &wrong, at(10), &mut rng),
        Err(LoginError::InvalidCredentials)
    ));
    let right = LoginAttempt::new("alice@example.com", password, None, source);
    let proof = PasswordVerified::by_login(&mut accounts, &right, at(10), &mut rng).unwrap();
    assert_eq!(proof.user(), &alice.user);
    assert_eq!((proof.region(), proof.at()), (HERE, at(10)));
    assert!(w.reg.reveal_serial(&alice, &id, &proof, at(20)).is_ok());
}

// ---------- authorization codes ----------

#[test]
fn code_works_once_then_refused() {
    let mut w = World::new();
    let alice = user(1);
    let id = w.bound(1, &alice);
    let code = w.code(&alice, &id, Action::Ptz, t0());
    assert_eq!(code.expose().len(), 64);
    assert_eq!((code.device(), code.action()), (&id, Action::Ptz));
    assert_eq!(code.expires_at(), at(60));
    w.reg
        .redeem(code.expose(), &alice, &id, Action::Ptz, at(59))
        .unwrap();
    assert_eq!(
        w.reg
            .redeem(code.expose(), &alice, &id, Action::Ptz, at(59)),
        Err(RedeemError::AlreadyUsed)
    );
    assert_eq!(w.reg.stats().codes_redeemed, 1);
    assert_eq!(w.reg.stats().codes_refused, 1);
}

#[test]
fn expired_and_misbound_codes_refused_with_distinct_errors() {
    let mut w = World::new();
    let alice = user(1);
    let bob = user(2);
    let id = w.bound(1, &alice);
    let other = w.bound(2, &alice);
    let bobs_device = w.bound(3, &bob);

    let c = w.code(&alice, &id, Action::LiveView, t0());
    assert_eq!(
        w.reg
            .redeem(c.expose(), &alice, &id, Action::LiveView, at(60)),
        Err(RedeemError::Expired { at: at(60) })
    );
    let c = w.code(&alice, &id, Action::LiveView, t0());
    assert_eq!(
        w.reg.redeem(c.expose(), &bob, &id, Action::LiveView, t0()),
        Err(RedeemError::WrongUser)
    );
    // A stolen code presented by someone else is revoked for everyone.
    assert_eq!(
        w.reg
            .redeem(c.expose(), &alice, &id, Action::LiveView, t0()),
        Err(RedeemError::AlreadyUsed)
    );
    let c = w.code(&alice, &id, Action::LiveView, t0());
    assert_eq!(
        w.reg
            .redeem(c.expose(), &alice, &other, Action::LiveView, t0()),
        Err(RedeemError::WrongDevice)
    );
    let c = w.code(&alice, &id, Action::LiveView, t0());
    assert_eq!(
        w.reg.redeem(c.expose(), &alice, &id, Action::Config, t0()),
        Err(RedeemError::WrongAction {
            issued_for: Action::LiveView,
            presented: Action::Config
        })
    );
    // Bob presenting alice's code for his own device: still the wrong user.
    let c = w.code(&alice, &id, Action::LiveView, t0());
    assert_eq!(
        w.reg
            .redeem(c.expose(), &bob, &bobs_device, Action::LiveView, t0()),
        Err(RedeemError::WrongUser)
    );
    assert_eq!(
        w.reg.redeem("0123", &alice, &id, Action::LiveView, t0()),
        Err(RedeemError::Unknown)
    );
    let errors = [
        RedeemError::Unknown,
        RedeemError::Expired { at: t0() },
        RedeemError::WrongUser,
        RedeemError::WrongDevice,
        RedeemError::WrongAction {
            issued_for: Action::Ptz,
            presented: Action::Snapshot,
        },
        RedeemError::AlreadyUsed,
    ];
    let texts: BTreeSet<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(texts.len(), errors.len());
}

#[test]
fn outstanding_codes_bounded_per_user() {
    let config = RegistryConfig {
        max_codes_per_user: 3,
        ..RegistryConfig::default()
    };
    let mut w = World::new();
    w.reg = Registry::new(HERE, config).unwrap();
    let alice = user(1);
    let id = w.bound(1, &alice);
    let first = w.code(&alice, &id, Action::LiveView, t0());
    w.code(&alice, &id, Action::LiveView, t0());
    w.code(&alice, &id, Action::LiveView, t0());
    assert_eq!(
        w.reg
            .issue_code(&alice, &id, Action::LiveView, at(1), &mut w.rng)
            .unwrap_err(),
        RegistryError::TooManyCodes { limit: 3 }
    );
    // Using one frees its slot; so does expiry.
    w.reg
        .redeem(first.expose(), &alice, &id, Action::LiveView, at(1))
        .unwrap();
    w.code(&alice, &id, Action::LiveView, at(1));
    w.code(&alice, &id, Action::LiveView, at(61));
    assert_eq!(w.reg.expire(at(1000)), 1);
    assert!(w.reg.codes.is_empty() && w.reg.codes_of.is_empty());
}

#[test]
fn debug_never_shows_codes_or_tokens() {
    let mut w = World::new();
    let alice = user(1);
    w.provision(1);
    let token = w.token(1, t0());
    assert!(!format!("{token:?}").contains(token.expose()));
    let id = w.reg.claim(&alice, token.expose(), t0()).unwrap();
    let code = w.code(&alice, &id, Action::Snapshot, t0());
    let shown = format!("{code:?} {:?}", w.reg);
    assert!(!shown.contains(code.expose()));
    assert!(shown.contains("<redacted>") || !shown.is_empty());
}

// ---------- tenant isolation ----------

#[test]
fn cross_tenant_probing_is_indistinguishable_from_unknown_devices() {
    let mut w = World::new();
    let alice = user(1);
    let mallory = user(9);
    let victim = w.bound(1, &alice);
    let own = w.bound(2, &mallory);
    let ghost = DeviceId::new("ffffffffffffffffffffffffffffffff");
    let proof = PasswordVerified::attest(mallory.user.clone(), HERE, t0());
    let mut seen = Vec::new();
    for target in [&victim, &ghost] {
        let mut outcome = Vec::new();
        for a in Action::ALL {
            let e = w
                .reg
                .issue_code(&mallory, target, a, t0(), &mut w.rng)
                .unwrap_err();
            outcome.push(e.to_string());
            assert_eq!(e, RegistryError::NotFound);
        }
        let e = w
            .reg
            .reveal_serial(&mallory, target, &proof, t0())
            .unwrap_err();
        assert_eq!(e, RegistryError::NotFound);
        outcome.push(e.to_string());
        // Mallory's code for her own camera does not unbind or share another one.
        for action in [Action::Unbind, Action::Share] {
            let c = w.code(&mallory, &own, action, t0());
            let e = match action {
                Action::Unbind => w.reg.unbind(&mallory, target, c.expose(), t0()),
                _ => w.reg.share(&mallory, target, &user(8), c.expose(), t0()),
            }
            .unwrap_err();
            assert_eq!(e, RegistryError::Code(RedeemError::WrongDevice));
            outcome.push(e.to_string());
        }
        let e = w.reg.unbind(&mallory, target, "guess", t0()).unwrap_err();
        outcome.push(e.to_string());
        seen.push(outcome);
    }
    assert_eq!(seen[0], seen[1], "alice's device must look like no device");
    // Mallory's listing holds only her own device; alice's is untouched.
    let ids: Vec<DeviceId> = w
        .reg
        .list_devices(&mallory)
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(ids, vec![own]);
    assert_eq!(w.reg.list_devices(&alice).unwrap()[0].id, victim);
}

#[test]
fn owner_unbinds_with_a_code_and_the_device_can_pair_again() {
    let mut w = World::new();
    let alice = user(1);
    let bob = user(2);
    let id = w.bound(1, &alice);
    let pending = w.code(&alice, &id, Action::LiveView, t0());
    let wrong = w.code(&alice, &id, Action::LiveView, t0());
    assert_eq!(
        w.reg.unbind(&alice, &id, wrong.expose(), t0()),
        Err(RegistryError::Code(RedeemError::WrongAction {
            issued_for: Action::LiveView,
            presented: Action::Unbind
        }))
    );
    let c = w.code(&alice, &id, Action::Unbind, t0());
    w.reg.unbind(&alice, &id, c.expose(), t0()).unwrap();
    assert_eq!(w.reg.list_devices(&alice).unwrap(), vec![]);
    // Codes issued while alice owned it die with the binding.
    assert_eq!(
        w.reg
            .redeem(pending.expose(), &alice, &id, Action::LiveView, t0()),
        Err(RedeemError::Unknown)
    );
    assert_eq!(
        w.reg
            .issue_code(&alice, &id, Action::LiveView, t0(), &mut w.rng),
        Err(RegistryError::NotFound)
    );
    let token = w.token(1, at(1));
    assert_eq!(w.reg.claim(&bob, token.expose(), at(1)), Ok(id));
}

#[test]
fn sharing_grants_live_view_only_and_can_be_revoked() {
    let mut w = World::new();
    let alice = user(1);
    let bob = user(2);
    let id = w.bound(1, &alice);
    let c = w.code(&alice, &id, Action::Share, t0());
    w.reg.share(&alice, &id, &bob, c.expose(), t0()).unwrap();
    let list = w.reg.list_devices(&bob).unwrap();
    assert_eq!(
        (list[0].id.clone(), list[0].role),
        (id.clone(), Role::Shared)
    );
    let view = w.code(&bob, &id, Action::LiveView, t0());
    w.reg
        .redeem(view.expose(), &bob, &id, Action::LiveView, t0())
        .unwrap();
    for a in [Action::Ptz, Action::Config, Action::Unbind, Action::Share] {
        assert_eq!(
            w.reg.issue_code(&bob, &id, a, t0(), &mut w.rng),
            Err(RegistryError::NotPermitted { action: a })
        );
    }
    let proof = PasswordVerified::attest(bob.user.clone(), HERE, t0());
    assert_eq!(
        w.reg.reveal_serial(&bob, &id, &proof, t0()),
        Err(RegistryError::SerialOwnerOnly)
    );
    let c = w.code(&alice, &id, Action::Share, t0());
    assert_eq!(
        w.reg.share(&alice, &id, &alice, c.expose(), t0()),
        Err(RegistryError::ShareWithSelf)
    );
    let outstanding = w.code(&bob, &id, Action::LiveView, t0());
    let c = w.code(&alice, &id, Action::Share, t0());
    assert_eq!(
        w.reg.unshare(&alice, &id, &bob.user, c.expose(), t0()),
        Ok(true)
    );
    assert_eq!(
        w.reg
            .redeem(outstanding.expose(), &bob, &id, Action::LiveView, t0()),
        Err(RedeemError::Unknown)
    );
    assert_eq!(w.reg.list_devices(&bob).unwrap(), vec![]);
    assert_eq!(
        w.reg
            .issue_code(&bob, &id, Action::LiveView, t0(), &mut w.rng),
        Err(RegistryError::NotFound)
    );
}

// ---------- erasure and residency ----------

#[test]
fn erasure_unbinds_and_leaves_no_key_of_the_user() {
    let mut w = World::new();
    let alice = user(1);
    let bob = user(2);
    let a1 = w.bound(1, &alice);
    w.bound(2, &alice);
    let b1 = w.bound(3, &bob);
    let c = w.code(&bob, &b1, Action::Share, t0());
    w.reg.share(&bob, &b1, &alice, c.expose(), t0()).unwrap();
    let c = w.code(&alice, &a1, Action::Share, t0());
    w.reg.share(&alice, &a1, &bob, c.expose(), t0()).unwrap();
    let pending = w.code(&alice, &a1, Action::LiveView, t0());

    let before = w.reg.records();
    assert!(before.contains_key(&format!("registry/user/{}/device/{a1}", alice.user)));
    assert!(before.contains_key(&format!("registry/user/{}/shared/{b1}", alice.user)));
    assert!(before.contains_key(&device_key(&a1)));

    let erasure = w.reg.erase_user(&alice.user, at(10));
    assert_eq!(erasure.devices_unbound, 2);
    assert_eq!(erasure.keys_erased, 3);
    let after = w.reg.records();
    erasure.verify(&after).unwrap();
    // The accounts service's own proof agrees (it looks for the id anywhere).
    let accounts_proof = ErasureRecord {
        user_id: alice.user.clone(),
        key_prefix: crate::accounts::user_key_prefix(&alice.user),
        directory_key: "accounts/directory/none".into(),
        erased_at: at(10),
        keys_erased: 0,
        sessions_revoked: 0,
    };
    accounts_proof.verify(&after).unwrap();
    // Devices stay provisioned, unbound; bob keeps his device but not alice's share.
    assert!(after.contains_key(&device_key(&a1)));
    assert_eq!(w.reg.list_devices(&alice).unwrap(), vec![]);
    assert_eq!(w.reg.list_devices(&bob).unwrap().len(), 1);
    assert!(w.reg.begin_pairing(&camera(1), at(11), &mut w.rng).is_ok());
    assert_eq!(
        w.reg
            .redeem(pending.expose(), &alice, &a1, Action::LiveView, at(11)),
        Err(RedeemError::Unknown)
    );
    assert!(!w.reg.codes.values().any(|c| c.user == alice.user));
}

#[test]
fn erasure_checker_fails_when_a_key_remains() {
    let mut w = World::new();
    let alice = user(1);
    w.bound(1, &alice);
    let stale_replica = w.reg.records();
    let erasure = w.reg.erase_user(&alice.user, t0());
    let err = erasure.verify(&stale_replica).unwrap_err();
    assert_eq!(err.keys.len(), 1);
    assert!(err.keys[0].starts_with("registry/user/"));
    // A key outside the prefix that names the user is caught too.
    let mut sneaky = w.reg.records();
    sneaky.insert(
        "registry/audit/1".into(),
        alice.user.as_str().as_bytes().to_vec(),
    );
    assert!(erasure.verify(&sneaky).is_err());
    let mut replica = stale_replica;
    assert_eq!(erasure.apply(&mut replica), 1);
    erasure.verify(&replica).unwrap();
}

#[test]
fn requests_from_users_homed_elsewhere_are_refused() {
    let mut w = World::new();
    let alice = user(1);
    let id = w.bound(1, &alice);
    let tourist = Caller::new(UserId("a".repeat(32)), Region::Americas);
    let wrong = RegistryError::WrongRegion {
        home: Region::Americas,
        here: HERE,
    };
    w.provision(2);
    let token = w.token(2, t0());
    assert_eq!(
        w.reg.claim(&tourist, token.expose(), t0()),
        Err(wrong.clone())
    );
    assert_eq!(w.reg.list_devices(&tourist), Err(wrong.clone()));
    assert_eq!(
        w.reg
            .issue_code(&tourist, &id, Action::LiveView, t0(), &mut w.rng),
        Err(wrong.clone())
    );
    let proof = PasswordVerified::attest(tourist.user.clone(), Region::Americas, t0());
    assert_eq!(
        w.reg.reveal_serial(&tourist, &id, &proof, t0()),
        Err(wrong.clone())
    );
    assert!(matches!(
        w.reg.redeem("x", &tourist, &id, Action::LiveView, t0()),
        Err(RedeemError::WrongRegion { .. })
    ));
    assert!(wrong.to_string().contains("americas"));
    // Sharing would copy the grantee's data here: refused.
    let c = w.code(&alice, &id, Action::Share, t0());
    assert_eq!(
        w.reg.share(&alice, &id, &tourist, c.expose(), t0()),
        Err(RegistryError::GranteeInAnotherRegion {
            home: Region::Americas,
            here: HERE
        })
    );
    // The tourist's claim never created records here.
    assert!(w.reg.user_records(&tourist.user).is_empty());
    assert_eq!(w.reg.records().len(), 3);
}

#[test]
fn config_validation() {
    let bad = RegistryConfig {
        code_ttl: Duration::ZERO,
        ..RegistryConfig::default()
    };
    assert_eq!(
        Registry::new(HERE, bad).unwrap_err(),
        ConfigError::Zero("code_ttl")
    );
    let r = Registry::new(Region::Cn, RegistryConfig::default()).unwrap();
    assert_eq!(
        (r.region(), r.config().code_ttl),
        (Region::Cn, Duration::from_secs(60))
    );
}

// ---------- property: no code or serial without the right ----------

#[derive(Debug, Clone)]
enum Op {
    /// Camera `d` shows a fresh token; user `u` scans it (possession) and claims.
    PairAndClaim {
        d: usize,
        u: usize,
    },
    /// User `u` guesses a token.
    Guess {
        u: usize,
    },
    Issue {
        u: usize,
        d: usize,
        a: usize,
    },
    Reveal {
        u: usize,
        d: usize,
    },
    Redeem {
        u: usize,
        d: usize,
        a: usize,
        nth: usize,
    },
    Unbind {
        u: usize,
        d: usize,
    },
    Share {
        u: usize,
        d: usize,
        g: usize,
    },
    Erase {
        u: usize,
    },
    Wait {
        secs: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..4usize, 0..3usize).prop_map(|(d, u)| Op::PairAndClaim { d, u }),
        (0..3usize).prop_map(|u| Op::Guess { u }),
        (0..3usize, 0..5usize, 0..7usize).prop_map(|(u, d, a)| Op::Issue { u, d, a }),
        (0..3usize, 0..5usize).prop_map(|(u, d)| Op::Reveal { u, d }),
        (0..3usize, 0..5usize, 0..7usize, 0..8usize).prop_map(|(u, d, a, nth)| Op::Redeem {
            u,
            d,
            a,
            nth
        }),
        (0..3usize, 0..4usize).prop_map(|(u, d)| Op::Unbind { u, d }),
        (0..3usize, 0..4usize, 0..3usize).prop_map(|(u, d, g)| Op::Share { u, d, g }),
        (0..3usize).prop_map(|u| Op::Erase { u }),
        (0..120u64).prop_map(|secs| Op::Wait { secs }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn nobody_gets_a_code_or_serial_for_a_device_they_have_no_right_to(
        ops in proptest::collection::vec(op(), 1..60),
        seed in any::<u64>(),
    ) {
        let mut reg = Registry::new(HERE, RegistryConfig::default()).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let users: Vec<Caller> = (1..=3).map(user).collect();
        let mut ids: Vec<DeviceId> = (0..4)
            .map(|n| reg.provision(&camera(n), "m", t0(), &mut rng).unwrap())
            .collect();
        ids.push(DeviceId::new("ffffffffffffffffffffffffffffffff"));
        // The model: who owns each device, who it is shared with (independent of the
        // registry's answers except where possession decides).
        let mut owner: Vec<Option<usize>> = vec![None; 4];
        let mut shared: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); 4];
        let mut codes: Vec<(usize, AuthzCode)> = Vec::new();
        let mut now = t0();
        for op in ops {
            match op {
                Op::PairAndClaim { d, u } => {
                    let token = reg.begin_pairing(&camera(d as u64), now, &mut rng);
                    prop_assert_eq!(token.is_ok(), owner[d].is_none());
                    if let Ok(token) = token {
                        match reg.claim(&users[u], token.expose(), now) {
                            Ok(id) => {
                                prop_assert_eq!(&id, &ids[d]);
                                owner[d] = Some(u);
                            }
                            Err(e) => prop_assert!(
                                matches!(e, RegistryError::RateLimited { .. }),
                                "unexpected {e}"
                            ),
                        }
                    }
                }
                Op::Guess { u } => {
                    let guess = format!("{:032x}", seed ^ now.as_micros());
                    prop_assert!(reg.claim(&users[u], &guess, now).is_err());
                }
                Op::Issue { u, d, a } => {
                    let action = Action::ALL[a];
                    let allowed = d < 4
                        && (owner[d] == Some(u)
                            || (shared[d].contains(&u) && Action::SHARED.contains(&action)));
                    match reg.issue_code(&users[u], &ids[d], action, now, &mut rng) {
                        Ok(code) => {
                            prop_assert!(allowed, "user {u} got a code for device {d}");
                            codes.push((u, code));
                        }
                        Err(RegistryError::TooManyCodes { .. }) => prop_assert!(allowed),
                        Err(_) => prop_assert!(!allowed),
                    }
                }
                Op::Reveal { u, d } => {
                    let proof = PasswordVerified::attest(users[u].user.clone(), HERE, now);
                    let got = reg.reveal_serial(&users[u], &ids[d], &proof, now);
                    prop_assert_eq!(got.is_ok(), d < 4 && owner[d] == Some(u));
                    if d < 4 && owner[d] != Some(u) && !shared[d].contains(&u) {
                        prop_assert_eq!(got, Err(RegistryError::NotFound));
                    }
                }
                Op::Redeem { u, d, a, nth } => {
                    if let Some(i) = codes.len().checked_sub(1 + nth) {
                        let (holder, code) = codes[i].clone();
                        let action = Action::ALL[a];
                        let ok = reg
                            .redeem(code.expose(), &users[u], &ids[d], action, now)
                            .is_ok();
                        if ok {
                            prop_assert_eq!(holder, u);
                            prop_assert!(d < 4);
                            prop_assert!(
                                owner[d] == Some(u)
                                    || (shared[d].contains(&u)
                                        && Action::SHARED.contains(&action))
                            );
                        }
                    }
                }
                Op::Unbind { u, d } => {
                    match reg.issue_code(&users[u], &ids[d], Action::Unbind, now, &mut rng) {
                        Ok(c) => {
                            prop_assert_eq!(owner[d], Some(u));
                            reg.unbind(&users[u], &ids[d], c.expose(), now).unwrap();
                            owner[d] = None;
                            shared[d].clear();
                        }
                        Err(RegistryError::TooManyCodes { .. }) => {}
                        Err(_) => prop_assert_ne!(owner[d], Some(u)),
                    }
                }
                Op::Share { u, d, g } => {
                    if let Ok(c) = reg.issue_code(&users[u], &ids[d], Action::Share, now, &mut rng) {
                        prop_assert_eq!(owner[d], Some(u));
                        let r = reg.share(&users[u], &ids[d], &users[g], c.expose(), now);
                        prop_assert_eq!(r.is_ok(), g != u);
                        if g != u {
                            shared[d].insert(g);
                        }
                    }
                }
                Op::Erase { u } => {
                    let e = reg.erase_user(&users[u].user, now);
                    prop_assert!(e.verify(&reg.records()).is_ok());
                    for d in 0..4 {
                        if owner[d] == Some(u) {
                            owner[d] = None;
                            shared[d].clear();
                        }
                        shared[d].remove(&u);
                    }
                }
                Op::Wait { secs } => now = now.saturating_add(Duration::from_secs(secs)),
            }
            // The listing always matches the model exactly.
            for (u, caller) in users.iter().enumerate() {
                let listed: BTreeSet<DeviceId> =
                    reg.list_devices(caller).unwrap().into_iter().map(|s| s.id).collect();
                let expected: BTreeSet<DeviceId> = (0..4)
                    .filter(|&d| owner[d] == Some(u) || shared[d].contains(&u))
                    .map(|d| ids[d].clone())
                    .collect();
                prop_assert_eq!(listed, expected);
            }
        }
    }
}
