//! Service-level tests: each behaviour working, and the attack it stops being stopped.

use super::*;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

const PW: &str = "marble-otter-quantum-lantern";
const T0: u64 = 1_700_000_000;

fn at(secs: u64) -> Timestamp {
    Timestamp::from_secs(T0 + secs)
}

const PARIS: GeoPoint = GeoPoint::new(48.8566, 2.3522);
const LYON: GeoPoint = GeoPoint::new(45.764, 4.8357);
const NEW_YORK: GeoPoint = GeoPoint::new(40.7128, -74.006);
const TOKYO: GeoPoint = GeoPoint::new(35.6762, 139.6503);

fn src(addr: &str, region: Region, location: GeoPoint) -> LoginSource {
    LoginSource {
        address: addr.parse().unwrap(),
        region,
        location,
    }
}

fn home() -> LoginSource {
    src("192.0.2.10", Region::EuAfrica, PARIS)
}

fn eu() -> Accounts {
    Accounts::new(Region::EuAfrica, AccountsConfig::for_tests()).unwrap()
}

fn rng() -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(42)
}

fn login(
    a: &mut Accounts,
    user: &str,
    pw: &str,
    code: Option<&str>,
    s: LoginSource,
    now: Timestamp,
    rng: &mut ChaCha8Rng,
) -> Result<Session, LoginError> {
    a.login(&LoginAttempt::new(user, pw, code, s), now, rng)
}

/// Registers `alice` and logs her in once from home (her baseline).
fn with_alice() -> (Accounts, UserId, ChaCha8Rng) {
    let mut a = eu();
    let mut r = rng();
    let reg = a
        .register("alice@example.com", PW, Region::EuAfrica, at(0), &mut r)
        .unwrap();
    login(&mut a, "alice@example.com", PW, None, home(), at(1), &mut r).unwrap();
    (a, reg.user_id, r)
}

fn enrol_totp(a: &mut Accounts, user: &UserId, r: &mut ChaCha8Rng, now: Timestamp) -> Totp {
    let e = a.begin_totp_enrolment(user, r).unwrap();
    let phone = Totp::from_base32(e.secret_base32(), 6).unwrap();
    a.confirm_totp(user, &phone.code_at(now), now).unwrap();
    phone
}

// ---------------------------------------------------------------- registration

#[test]
fn registration_refuses_weak_and_common_passwords_with_a_reason() {
    let mut a = eu();
    let mut r = rng();
    for pw in ["password1", "qwerty123", "iloveyou", "123456789a"] {
        let err = a
            .register("bob@example.com", pw, Region::EuAfrica, at(0), &mut r)
            .unwrap_err();
        assert!(
            matches!(
                err,
                RegistrationError::WeakPassword(WeakPassword::Common { .. })
            ),
            "{pw}: {err:?}"
        );
        assert!(err.to_string().contains("common leaked passwords"), "{err}");
    }
    let err = a
        .register("bob@example.com", "Zq4!mw", Region::EuAfrica, at(0), &mut r)
        .unwrap_err();
    assert!(err.to_string().contains("at least 10"), "{err}");
    let err = a
        .register(
            "bob@example.com",
            "example2024",
            Region::EuAfrica,
            at(0),
            &mut r,
        )
        .unwrap_err();
    assert!(err.to_string().contains("too easy to guess"), "{err}");
    assert!(a.is_empty(), "no account was created");
    a.register("bob@example.com", PW, Region::EuAfrica, at(0), &mut r)
        .unwrap();
    assert_eq!(a.len(), 1);
}

#[test]
fn duplicate_and_invalid_usernames_are_refused() {
    let (mut a, _, mut r) = with_alice();
    for name in ["alice@example.com", "  ALICE@example.com "] {
        assert_eq!(
            a.register(name, PW, Region::EuAfrica, at(5), &mut r),
            Err(RegistrationError::Duplicate)
        );
    }
    assert!(matches!(
        a.register("", PW, Region::EuAfrica, at(5), &mut r),
        Err(RegistrationError::InvalidUsername(_))
    ));
    assert!(matches!(
        a.register("al ice", PW, Region::EuAfrica, at(5), &mut r),
        Err(RegistrationError::InvalidUsername(_))
    ));
}

// ---------------------------------------------------------------- residency

#[test]
fn data_is_created_only_in_the_home_region_and_logins_elsewhere_are_sent_home() {
    let mut r = rng();
    let mut regions: Vec<Accounts> = Region::ALL
        .iter()
        .map(|&g| Accounts::new(g, AccountsConfig::for_tests()).unwrap())
        .collect();
    let [cn, americas, eu, apac] = &mut regions[..] else {
        unreachable!()
    };
    // Created elsewhere than home: refused, and nothing is stored.
    let err = americas
        .register("alice@example.com", PW, Region::EuAfrica, at(0), &mut r)
        .unwrap_err();
    assert_eq!(
        err,
        RegistrationError::WrongRegion {
            home: Region::EuAfrica,
            here: Region::Americas
        }
    );
    assert!(err
        .to_string()
        .contains("send the registration to eu-africa"));
    assert!(americas.records().is_empty());

    let reg = eu
        .register("alice@example.com", PW, Region::EuAfrica, at(0), &mut r)
        .unwrap();
    for other in [&mut *cn, &mut *americas, &mut *apac] {
        other.learn_directory(&reg.directory);
    }
    // A login arriving in another region is refused with where to send it.
    let err = login(
        apac,
        "alice@example.com",
        PW,
        None,
        src("203.0.113.5", Region::Apac, TOKYO),
        at(10),
        &mut r,
    )
    .unwrap_err();
    assert_eq!(
        err,
        LoginError::WrongRegion {
            home: Region::EuAfrica,
            here: Region::Apac
        }
    );
    assert!(
        err.to_string().contains("must be sent to eu-africa"),
        "{err}"
    );
    // The username is unique across regions.
    assert_eq!(
        americas.register("alice@example.com", PW, Region::Americas, at(11), &mut r),
        Err(RegistrationError::Duplicate)
    );
    // Other regions hold only the routing entry: no key under the user's prefix.
    let prefix = user_key_prefix(&reg.user_id);
    for other in [&*cn, &*americas, &*apac] {
        let keys = other.records();
        assert_eq!(keys.len(), 1, "{keys:?}");
        assert!(keys.keys().all(|k| k.starts_with("accounts/directory/")));
        assert!(keys.keys().all(|k| !k.starts_with(&prefix)));
    }
    assert!(eu.records().keys().any(|k| k.starts_with(&prefix)));
    // Home logs in normally.
    login(eu, "alice@example.com", PW, None, home(), at(12), &mut r).unwrap();
}

// ---------------------------------------------------------------- login, errors

#[test]
fn login_issues_a_session_and_secrets_stay_out_of_debug() {
    let (mut a, alice, mut r) = with_alice();
    let s = login(
        &mut a,
        "Alice@Example.com",
        PW,
        None,
        home(),
        at(60),
        &mut r,
    )
    .unwrap();
    assert_eq!(s.user_id, alice);
    assert_eq!(s.token.expose().len(), 64);
    assert_eq!(a.authenticate(s.token.expose(), at(61)), Ok(alice.clone()));
    let shown = format!(
        "{s:?} {:?}",
        LoginAttempt::new("alice", PW, Some("123456"), home())
    );
    assert!(!shown.contains(s.token.expose()), "{shown}");
    assert!(!shown.contains(PW) && !shown.contains("123456"), "{shown}");
    // Expiry and logout.
    let ttl = a.config().session_ttl;
    assert_eq!(
        a.authenticate(s.token.expose(), at(60).saturating_add(ttl)),
        Err(SessionError::Expired)
    );
    let s2 = login(
        &mut a,
        "alice@example.com",
        PW,
        None,
        home(),
        at(70),
        &mut r,
    )
    .unwrap();
    assert_ne!(s2.token, s.token, "fresh random token per session");
    assert!(a.logout(s2.token.expose()));
    assert_eq!(
        a.authenticate(s2.token.expose(), at(71)),
        Err(SessionError::Unknown)
    );
    assert_eq!(a.authenticate("forged", at(71)), Err(SessionError::Unknown));
}

#[test]
fn unknown_user_and_wrong_password_are_indistinguishable() {
    let (mut a, _, mut r) = with_alice();
    let sequence = |user: &str, a: &mut Accounts, r: &mut ChaCha8Rng| -> Vec<String> {
        (0..8)
            .map(|i| {
                let e =
                    login(a, user, "wrong-password-xyz", None, home(), at(100 + i), r).unwrap_err();
                format!("{e:?} / {e}")
            })
            .collect()
    };
    let known = sequence("alice@example.com", &mut a, &mut r);
    let unknown = sequence("mallory@example.com", &mut a, &mut r);
    assert_eq!(known, unknown);
    assert_eq!(known[0], "InvalidCredentials / wrong username or password");
    // Both get locked at the same point, and the lock says until when.
    assert!(known[5].starts_with("Locked"), "{known:?}");
    assert!(known[7].contains("locked until"), "{known:?}");
    // Both did the same hashing work (one Argon2 verification per unlocked attempt).
    assert_eq!(a.stats().password_checks, 1 + 5 + 5);
}

// ---------------------------------------------------------------- lockout

#[test]
fn account_locks_after_five_failures_and_unlocks_after_fifteen_minutes() {
    let (mut a, alice, mut r) = with_alice();
    for i in 0..5 {
        assert_eq!(
            login(
                &mut a,
                "alice@example.com",
                "guess-guess-guess",
                None,
                home(),
                at(100 + i),
                &mut r
            ),
            Err(LoginError::InvalidCredentials)
        );
    }
    let until = at(104).saturating_add(Duration::from_secs(15 * 60));
    // Even the right password is refused while locked, and no hash is computed.
    let checks = a.stats().password_checks;
    assert_eq!(
        login(
            &mut a,
            "alice@example.com",
            PW,
            None,
            home(),
            at(200),
            &mut r
        ),
        Err(LoginError::Locked { until })
    );
    assert_eq!(a.stats().password_checks, checks);
    let locked: Vec<_> = a
        .notifications(&alice)
        .unwrap()
        .into_iter()
        .filter(|n| matches!(n.kind, NotificationKind::AccountLocked { .. }))
        .collect();
    assert_eq!(locked.len(), 1, "the owner is told once");
    // After the lockout, the user logs in.
    assert!(login(&mut a, "alice@example.com", PW, None, home(), until, &mut r).is_ok());
}

#[test]
fn a_blocked_address_does_not_stop_legitimate_users_elsewhere() {
    let mut a = eu();
    let mut r = rng();
    let users: Vec<String> = (0..6).map(|i| format!("user{i}@example.com")).collect();
    for u in &users {
        a.register(u, PW, Region::EuAfrica, at(0), &mut r).unwrap();
        let own = src("198.51.100.1", Region::EuAfrica, PARIS);
        login(&mut a, u, PW, None, own, at(1), &mut r).unwrap();
    }
    let attacker = src("203.0.113.66", Region::EuAfrica, LYON);
    // 4 failures on each of 5 accounts: under the account limit, at the address limit.
    let mut n = 0;
    for u in &users[..5] {
        for _ in 0..4 {
            n += 1;
            assert_eq!(
                login(
                    &mut a,
                    u,
                    "not-the-password",
                    None,
                    attacker,
                    at(10 + n),
                    &mut r
                ),
                Err(LoginError::InvalidCredentials)
            );
        }
    }
    // The address is now blocked, for any account, without any hashing.
    let checks = a.stats().password_checks;
    let err = login(&mut a, &users[5], "x", None, attacker, at(40), &mut r).unwrap_err();
    assert!(matches!(err, LoginError::AddressBlocked { .. }), "{err:?}");
    assert!(err.to_string().contains("from your address"));
    assert_eq!(a.stats().password_checks, checks);
    // Every targeted user still logs in from their own address.
    for u in &users {
        let own = src("198.51.100.1", Region::EuAfrica, PARIS);
        assert!(
            login(&mut a, u, PW, None, own, at(50), &mut r).is_ok(),
            "{u}"
        );
    }
}

#[test]
fn credential_stuffing_is_throttled_while_a_legitimate_user_logs_in() {
    let mut a = eu();
    let mut r = rng();
    let victims: Vec<String> = (0..40).map(|i| format!("victim{i}@example.com")).collect();
    for v in &victims {
        a.register(v, PW, Region::EuAfrica, at(0), &mut r).unwrap();
        login(&mut a, v, PW, None, home(), at(1), &mut r).unwrap();
    }
    a.register("carol@example.com", PW, Region::EuAfrica, at(0), &mut r)
        .unwrap();
    let carol_home = src("198.51.100.77", Region::EuAfrica, LYON);
    login(
        &mut a,
        "carol@example.com",
        PW,
        None,
        carol_home,
        at(2),
        &mut r,
    )
    .unwrap();

    // 5,000 attempts from 500 addresses over about 8 minutes, rotating over the victims;
    // every 50th uses the victim's real (reused, leaked) password.
    let mut accepted_failures: BTreeMap<&str, Vec<Timestamp>> = BTreeMap::new();
    let mut takeovers = 0;
    for i in 0..5_000u64 {
        let victim = &victims[(i % 40) as usize];
        let addr = format!("2001:db8::{:x}", i % 500);
        let s = src(&addr, Region::Apac, TOKYO);
        let pw = if i % 50 == 0 { PW } else { "Summer2024!" };
        let now = Timestamp::from_micros(at(100).as_micros() + i * 100_000);
        match login(&mut a, victim, pw, None, s, now, &mut r) {
            Ok(_) => takeovers += 1,
            Err(LoginError::InvalidCredentials) | Err(LoginError::InvalidSecondFactor) => {
                accepted_failures.entry(victim).or_default().push(now)
            }
            Err(_) => {}
        }
        // The legitimate user, from her usual address, is never in the way.
        if i % 1000 == 999 {
            assert!(
                login(
                    &mut a,
                    "carol@example.com",
                    PW,
                    None,
                    carol_home,
                    now,
                    &mut r
                )
                .is_ok(),
                "carol refused at attempt {i}"
            );
        }
    }
    assert_eq!(
        takeovers, 0,
        "the leaked password from a new place needs a second factor"
    );
    // No account had more than 5 password guesses in any 15-minute window.
    for (victim, times) in &accepted_failures {
        assert!(times.len() <= 5, "{victim}: {} guesses", times.len());
    }
    let stats = a.stats();
    assert!(stats.password_checks < 400, "{stats:?}");
    assert!(stats.refused_locked > 4_000, "{stats:?}");
    // Victims whose password was used from the attacker's place were told.
    let told = victims
        .iter()
        .filter(|v| {
            let id = a.find(v).unwrap().clone();
            a.notifications(&id).unwrap().iter().any(|n| {
                matches!(
                    n.kind,
                    NotificationKind::AbnormalLogin {
                        outcome: LoginOutcome::RefusedNoSecondFactor,
                        ..
                    }
                )
            })
        })
        .count();
    assert!(told >= 1, "reused-password victims are notified");
}

// ---------------------------------------------------------------- abnormal logins

#[test]
fn a_normal_repeat_login_needs_no_code_and_notifies_nobody() {
    let (mut a, alice, mut r) = with_alice();
    for i in 0..5 {
        login(
            &mut a,
            "alice@example.com",
            PW,
            None,
            home(),
            at(3600 * i + 10),
            &mut r,
        )
        .unwrap();
    }
    assert!(a.notifications(&alice).unwrap().is_empty());
    assert_eq!(a.poll_notification(), None);
}

#[test]
fn a_new_region_requires_the_code_and_notifies_the_user() {
    let (mut a, alice, mut r) = with_alice();
    let phone = enrol_totp(&mut a, &alice, &mut r, at(5));
    let (_, enrolled) = a.poll_notification().unwrap();
    assert_eq!(enrolled.kind, NotificationKind::SecondFactorEnrolled);
    // Two days later from New York.
    let ny = src("198.51.100.200", Region::Americas, NEW_YORK);
    let now = at(2 * 86_400);
    let err = login(&mut a, "alice@example.com", PW, None, ny, now, &mut r).unwrap_err();
    let LoginError::SecondFactorRequired { reasons } = &err else {
        panic!("{err:?}")
    };
    assert!(reasons.contains(&AbnormalReason::NewRegion {
        region: Region::Americas
    }));
    assert!(
        err.to_string().contains("first login from region americas"),
        "{err}"
    );
    let (to, n) = a.poll_notification().expect("the user is told");
    assert_eq!(to, alice);
    assert!(n.to_string().contains("198.51.100.200"), "{n}");
    // With the code it works (and the user is told it happened).
    let code = phone.code_at(now);
    login(
        &mut a,
        "alice@example.com",
        PW,
        Some(&code),
        ny,
        now,
        &mut r,
    )
    .unwrap();
    assert_eq!(a.notifications(&alice).unwrap().len(), 3);
}

#[test]
fn impossible_travel_requires_the_code_even_from_known_places() {
    let (mut a, alice, mut r) = with_alice();
    let phone = enrol_totp(&mut a, &alice, &mut r, at(5));
    let ny = src("198.51.100.200", Region::Americas, NEW_YORK);
    // Make New York known: a login there days later, with the code.
    let d2 = at(2 * 86_400);
    login(
        &mut a,
        "alice@example.com",
        PW,
        Some(&phone.code_at(d2)),
        ny,
        d2,
        &mut r,
    )
    .unwrap();
    let d4 = at(4 * 86_400);
    login(
        &mut a,
        "alice@example.com",
        PW,
        Some(&phone.code_at(d4)),
        home(),
        d4,
        &mut r,
    )
    .unwrap();
    a.poll_notification();
    let before = a.notifications(&alice).unwrap().len();
    // Paris, then New York 30 minutes later: 5,800 km in half an hour.
    let soon = at(4 * 86_400 + 1800);
    let err = login(&mut a, "alice@example.com", PW, None, ny, soon, &mut r).unwrap_err();
    let LoginError::SecondFactorRequired { reasons } = err else {
        panic!("{err:?}")
    };
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    let AbnormalReason::ImpossibleTravel { speed_kmh, .. } = reasons[0] else {
        panic!("{reasons:?}")
    };
    assert!(speed_kmh > 10_000.0, "{speed_kmh}");
    assert_eq!(a.notifications(&alice).unwrap().len(), before + 1);
    // Paris to Lyon (390 km) in a day is fine: plausible travel, no extra reason.
    let mut b = with_alice();
    let lyon = src("192.0.2.10", Region::EuAfrica, LYON);
    login(
        &mut b.0,
        "alice@example.com",
        PW,
        None,
        lyon,
        at(86_400),
        &mut b.2,
    )
    .unwrap();
}

#[test]
fn an_unusual_login_without_second_factor_is_refused_notified_and_approvable() {
    let (mut a, alice, mut r) = with_alice();
    let cafe = src("192.0.2.99", Region::EuAfrica, PARIS);
    let err = login(
        &mut a,
        "alice@example.com",
        PW,
        None,
        cafe,
        at(3600),
        &mut r,
    )
    .unwrap_err();
    assert_eq!(
        err,
        LoginError::UnusualLoginRefused {
            reasons: vec![AbnormalReason::NewAddress {
                address: cafe.address
            }]
        }
    );
    let notes = a.notifications(&alice).unwrap();
    let n = notes.last().unwrap();
    assert!(n.to_string().contains("approve it"), "{n}");
    // A code does not help without an enrolled app.
    assert!(login(
        &mut a,
        "alice@example.com",
        PW,
        Some("123456"),
        cafe,
        at(3601),
        &mut r
    )
    .is_err());
    // "This was me": the next attempt from there passes.
    a.approve_login(&alice, n.id).unwrap();
    login(
        &mut a,
        "alice@example.com",
        PW,
        None,
        cafe,
        at(3700),
        &mut r,
    )
    .unwrap();
    assert_eq!(
        a.approve_login(&alice, 999),
        Err(AccountError::NotApprovable(999))
    );
}

// ---------------------------------------------------------------- TOTP in the service

#[test]
fn totp_enrolment_requires_a_valid_code_and_then_every_login_needs_one() {
    let (mut a, alice, mut r) = with_alice();
    let e = a.begin_totp_enrolment(&alice, &mut r).unwrap();
    assert!(e
        .uri()
        .starts_with("otpauth://totp/camproof:alice%40example.com?secret="));
    assert_eq!(
        a.confirm_totp(&alice, "000000", at(5)),
        Err(TotpError::InvalidCode)
    );
    assert!(!a.totp_enrolled(&alice));
    let phone = Totp::from_base32(e.secret_base32(), 6).unwrap();
    a.confirm_totp(&alice, &phone.code_at(at(6)), at(6))
        .unwrap();
    assert!(a.totp_enrolled(&alice));
    assert!(matches!(
        a.begin_totp_enrolment(&alice, &mut r),
        Err(TotpError::AlreadyEnrolled)
    ));

    let now = at(120);
    assert_eq!(
        login(&mut a, "alice@example.com", PW, None, home(), now, &mut r).unwrap_err(),
        LoginError::SecondFactorRequired { reasons: vec![] }
    );
    let code = phone.code_at(now);
    login(
        &mut a,
        "alice@example.com",
        PW,
        Some(&code),
        home(),
        now,
        &mut r,
    )
    .unwrap();
    // The same code replayed (say, by someone watching) is refused.
    assert_eq!(
        login(
            &mut a,
            "alice@example.com",
            PW,
            Some(&code),
            home(),
            at(125),
            &mut r
        ),
        Err(LoginError::InvalidSecondFactor)
    );
    // Guessing codes counts towards the lockout.
    for i in 0..4 {
        let _ = login(
            &mut a,
            "alice@example.com",
            PW,
            Some("000000"),
            home(),
            at(130 + i),
            &mut r,
        );
    }
    assert!(matches!(
        login(
            &mut a,
            "alice@example.com",
            PW,
            Some(&phone.code_at(at(200))),
            home(),
            at(200),
            &mut r
        ),
        Err(LoginError::Locked { .. })
    ));
}

// ---------------------------------------------------------------- export

#[test]
fn export_contains_the_login_history_and_no_authenticators() {
    let (mut a, alice, mut r) = with_alice();
    let phone = enrol_totp(&mut a, &alice, &mut r, at(5));
    let _ = login(
        &mut a,
        "alice@example.com",
        "wrong-password-1",
        None,
        home(),
        at(50),
        &mut r,
    );
    let ny = src("198.51.100.200", Region::Americas, NEW_YORK);
    let _ = login(
        &mut a,
        "alice@example.com",
        PW,
        None,
        ny,
        at(90_000),
        &mut r,
    );
    let code = phone.code_at(at(90_010));
    login(
        &mut a,
        "alice@example.com",
        PW,
        Some(&code),
        ny,
        at(90_010),
        &mut r,
    )
    .unwrap();

    let export = a.export_account(&alice, at(100_000)).unwrap();
    assert_eq!(export.username, "alice@example.com");
    assert_eq!(export.home_region, Region::EuAfrica);
    assert!(export.totp_enrolled);
    assert_eq!(export.totp_enrolled_at, Some(at(5)));
    let outcomes: Vec<_> = export
        .login_history
        .iter()
        .map(|l| (l.at, l.address.to_string(), l.outcome))
        .collect();
    assert_eq!(
        outcomes,
        vec![
            (at(1), "192.0.2.10".into(), LoginOutcome::Success),
            (at(50), "192.0.2.10".into(), LoginOutcome::WrongPassword),
            (
                at(90_000),
                "198.51.100.200".into(),
                LoginOutcome::SecondFactorRequired
            ),
            (at(90_010), "198.51.100.200".into(), LoginOutcome::Success),
        ]
    );
    // The first session (12 hours) has expired by export time.
    assert_eq!(export.active_sessions.len(), 1);
    assert!(export.notifications.len() >= 3);
    let json = export.to_json();
    assert!(json.contains("\"login_history\"") && json.contains("198.51.100.200"));
    // Authenticators are not in the export.
    let records = a.user_records(&alice).unwrap();
    let phc = String::from_utf8(records[&format!("{}password", user_key_prefix(&alice))].clone())
        .unwrap();
    assert!(!json.contains(&phc) && !json.contains("argon2"));
    assert!(!json.contains(phone.secret_base32().as_str()));
    let back: AccountExport = serde_json::from_str(&json).unwrap();
    assert_eq!(back, export);
}

// ---------------------------------------------------------------- erasure

#[test]
fn erasure_leaves_no_key_on_any_replica_and_the_checker_catches_leftovers() {
    let mut r = rng();
    let mut a = eu();
    let mut apac = Accounts::new(Region::Apac, AccountsConfig::for_tests()).unwrap();
    let mut ids = Vec::new();
    for u in ["alice@example.com", "bob@example.com", "carol@example.com"] {
        let reg = a.register(u, PW, Region::EuAfrica, at(0), &mut r).unwrap();
        apac.learn_directory(&reg.directory);
        login(&mut a, u, PW, None, home(), at(1), &mut r).unwrap();
        let _ = login(&mut a, u, "wrong-wrong-wrong", None, home(), at(2), &mut r);
        ids.push(reg.user_id);
    }
    let alice = ids[0].clone();
    enrol_totp(&mut a, &alice, &mut r, at(3));
    let session = login(&mut a, "alice@example.com", PW, None, home(), at(4), &mut r);
    assert!(session.is_err(), "TOTP now required");
    let s = {
        let e = a.export_account(&alice, at(4)).unwrap();
        assert!(e.totp_enrolled);
        login(&mut a, "bob@example.com", PW, None, home(), at(4), &mut r).unwrap()
    };

    // Three replicas of the region's store, plus a global keyspace holding the directory.
    let snapshot = a.records();
    let prefix = user_key_prefix(&alice);
    let alice_keys = snapshot.keys().filter(|k| k.starts_with(&prefix)).count();
    assert!(
        alice_keys >= 6,
        "profile, password, totp, known, logins, notifications"
    );
    let mut replicas = vec![snapshot.clone(), snapshot.clone(), snapshot.clone()];

    let erasure = a.delete_account(&alice, at(10)).unwrap();
    assert_eq!(erasure.keys_erased, alice_keys + 1);
    for replica in &mut replicas {
        assert!(erasure.apply(replica) > alice_keys);
        assert_eq!(erasure.verify(replica), Ok(()));
    }
    // The service's own state: nothing left, others untouched.
    assert_eq!(erasure.verify(&a.records()), Ok(()));
    assert_eq!(a.records().len(), replicas[0].len());
    assert!(a.export_account(&ids[1], at(11)).is_ok());
    assert_eq!(a.authenticate(s.token.expose(), at(11)), Ok(ids[1].clone()));
    assert_eq!(
        a.export_account(&alice, at(11)),
        Err(AccountError::UnknownUser(alice.clone()))
    );
    assert_eq!(
        login(
            &mut a,
            "alice@example.com",
            PW,
            None,
            home(),
            at(12),
            &mut r
        ),
        Err(LoginError::InvalidCredentials)
    );
    while let Some((to, _)) = a.poll_notification() {
        assert_ne!(to, alice, "queued notifications are erased too");
    }
    // Other regions drop the routing entry; the username is free again.
    apac.apply_erasure(&erasure);
    assert_eq!(erasure.verify(&apac.records()), Ok(()));
    a.register("alice@example.com", PW, Region::EuAfrica, at(20), &mut r)
        .unwrap();

    // Negative: a replica that missed the erasure fails the check, naming the keys.
    let err = erasure.verify(&snapshot).unwrap_err();
    assert_eq!(err.keys.len(), alice_keys + 1);
    assert!(err.to_string().contains("incomplete"), "{err}");
    // Negative: one stray key, or a copy of her data under another key, fails too.
    let mut stray = replicas[0].clone();
    stray.insert(format!("{prefix}login/00000000000000ff"), b"{}".to_vec());
    assert!(erasure.verify(&stray).is_err());
    let mut copied = replicas[1].clone();
    copied.insert(
        "cache/last-login".into(),
        format!("{{\"user\":\"{alice}\"}}").into_bytes(),
    );
    assert_eq!(
        erasure.verify(&copied).unwrap_err().keys,
        vec!["cache/last-login".to_owned()]
    );
    let mut dir = replicas[2].clone();
    dir.insert(erasure.directory_key.clone(), b"\"eu-africa\"".to_vec());
    assert!(erasure.verify(&dir).is_err());
}

// ---------------------------------------------------------------- determinism

#[test]
fn same_seed_same_state() {
    let run = || {
        let (mut a, alice, mut r) = with_alice();
        enrol_totp(&mut a, &alice, &mut r, at(5));
        let _ = login(
            &mut a,
            "alice@example.com",
            "nope-nope-nope",
            None,
            home(),
            at(9),
            &mut r,
        );
        a.records()
    };
    assert_eq!(run(), run());
}

#[test]
fn invalid_config_is_refused() {
    let mut c = AccountsConfig::for_tests();
    c.argon2.memory_kib = 1;
    assert!(matches!(
        Accounts::new(Region::Cn, c),
        Err(ConfigError::Argon2(_))
    ));
    let mut c = AccountsConfig::for_tests();
    c.account_lockout.max_failures = 0;
    assert_eq!(
        Accounts::new(Region::Cn, c).unwrap_err(),
        ConfigError::Zero("account_lockout.max_failures")
    );
}

// ---------------------------------------------------------------- lockout vs usual places

#[test]
fn an_attacker_locking_an_account_does_not_lock_its_owner_out_at_home() {
    let (mut a, _alice, mut r) = with_alice();
    let attacker = src("203.0.113.66", Region::EuAfrica, LYON);
    for i in 0..6 {
        let _ = login(
            &mut a,
            "alice@example.com",
            "guess",
            None,
            attacker,
            at(100 + i),
            &mut r,
        );
    }
    // Locked for the attacker, even with the right password.
    assert!(matches!(
        login(
            &mut a,
            "alice@example.com",
            PW,
            None,
            attacker,
            at(200),
            &mut r
        ),
        Err(LoginError::Locked { .. })
    ));
    // Alice, at home, signs in; and that does not unlock the account for the attacker.
    assert!(login(
        &mut a,
        "alice@example.com",
        PW,
        None,
        home(),
        at(201),
        &mut r
    )
    .is_ok());
    assert!(matches!(
        login(
            &mut a,
            "alice@example.com",
            PW,
            None,
            attacker,
            at(202),
            &mut r
        ),
        Err(LoginError::Locked { .. })
    ));
}

#[test]
fn planted_lockout_everywhere_locks_the_owner_out() {
    let (mut a, _alice, mut r) = with_alice();
    a.plant_bugs(AccountsBugs {
        lockout_everywhere: true,
        ..AccountsBugs::default()
    });
    let attacker = src("203.0.113.66", Region::EuAfrica, LYON);
    for i in 0..6 {
        let _ = login(
            &mut a,
            "alice@example.com",
            "guess",
            None,
            attacker,
            at(100 + i),
            &mut r,
        );
    }
    assert!(matches!(
        login(
            &mut a,
            "alice@example.com",
            PW,
            None,
            home(),
            at(201),
            &mut r
        ),
        Err(LoginError::Locked { .. })
    ));
}
