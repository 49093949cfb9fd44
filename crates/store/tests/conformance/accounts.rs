//! What every adapter must do for the identity port: sessions, codes, linked and phone
//! accounts, frequent visitors, staff credentials and the audit trail.

use super::{at, visitor, Stores};
use gatehouse_domain::access::{Role, Roles};
use gatehouse_domain::account::{
    AuditEvent, FrequentVisitor, NewSession, OtpAttempt, OtpChallenge, SignInMethod,
    StaffCredential,
};
use gatehouse_domain::identity::IdKind;
use gatehouse_domain::order::AccountId;
use gatehouse_domain::personal::{BlindIndex, Sealed};
use gatehouse_domain::store::StoreError;

fn session(account: AccountId, n: u8, family: u8, expires: i64) -> NewSession {
    NewSession {
        account,
        token_hash: [n; 32],
        refresh_hash: Some([n.wrapping_add(100); 32]),
        family: [family; 16],
        method: SignInMethod::PhoneCode,
        created_at: at(0),
        expires_at: at(expires),
        refresh_expires_at: Some(at(expires * 10)),
    }
}

pub async fn sessions_rotate_and_revoke(stores: Stores) {
    let s = stores.accounts;
    let a = s.create_account("a", visitor(), at(0)).await.unwrap();
    let b = s.create_account("b", visitor(), at(0)).await.unwrap();
    let one = s.insert_session(&session(a.id, 1, 1, 100)).await.unwrap();
    s.insert_session(&session(a.id, 2, 2, 100)).await.unwrap();
    s.insert_session(&session(b.id, 3, 3, 100)).await.unwrap();
    s.insert_session(&session(b.id, 4, 3, 10)).await.unwrap();
    let mut live = s
        .sessions_by_tokens(&[[1; 32], [3; 32], [4; 32], [9; 32]], at(50))
        .await
        .unwrap();
    live.sort_by_key(|(h, _)| *h);
    let hashes: Vec<[u8; 32]> = live.iter().map(|(h, _)| *h).collect();
    assert_eq!(
        hashes,
        vec![[1; 32], [3; 32]],
        "unknown and expired tokens are left out"
    );
    assert_eq!(live[0].1.account, a);
    assert_eq!(
        (live[0].1.id, live[0].1.method, live[0].1.expires_at),
        (one, SignInMethod::PhoneCode, at(100))
    );
    assert!(s.sessions_by_tokens(&[], at(0)).await.unwrap().is_empty());
    // Token hashes are unique.
    assert!(s.insert_session(&session(b.id, 1, 9, 100)).await.is_err());
    // Refresh lookup sees revoked sessions too (reuse detection needs them).
    assert!(s.revoke_session(one, at(60)).await.unwrap());
    assert!(
        !s.revoke_session(one, at(61)).await.unwrap(),
        "revoked once"
    );
    let found = s.session_by_refresh(&[101; 32]).await.unwrap().unwrap();
    assert_eq!(
        (found.id, found.revoked_at, found.family),
        (one, Some(at(60)), [1; 16])
    );
    assert!(s.session_by_refresh(&[7; 32]).await.unwrap().is_none());
    assert!(s
        .sessions_by_tokens(&[[1; 32]], at(61))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(s.revoke_family(&[3; 16], at(62)).await.unwrap(), 2);
    assert_eq!(s.revoke_account_sessions(a.id, at(63)).await.unwrap(), 1);
    assert!(s
        .sessions_by_tokens(&[[2; 32], [3; 32]], at(64))
        .await
        .unwrap()
        .is_empty());
}

pub async fn phone_and_linked_accounts_are_found_again(stores: Stores) {
    let s = stores.accounts;
    let phone = BlindIndex([5; 32]);
    let (first, sealed) = s.phone_account(phone, "138****0000", at(0)).await.unwrap();
    assert!(!sealed, "a new account's phone is sealed once it exists");
    assert_eq!(s.phone_of(first.id).await.unwrap(), None);
    s.seal_account_phone(first.id, &Sealed(vec![1, 2]))
        .await
        .unwrap();
    s.seal_account_phone(first.id, &Sealed(vec![3]))
        .await
        .unwrap();
    let (again, sealed) = s.phone_account(phone, "other", at(9)).await.unwrap();
    assert!(sealed);
    assert_eq!(first, again, "a phone has one account");
    assert_eq!(first.roles, visitor());
    assert_eq!(
        s.phone_of(first.id).await.unwrap(),
        Some((phone, Sealed(vec![1, 2])))
    );
    let staff = Roles::of(&[Role::CustomerSupport]);
    let linked = s
        .linked_account("oidc", "sub-1", "Ann", staff, at(0))
        .await
        .unwrap();
    assert_eq!(linked.roles, staff);
    assert_eq!(
        s.linked_account("oidc", "sub-1", "Ann again", visitor(), at(1))
            .await
            .unwrap(),
        linked
    );
    assert_ne!(
        s.linked_account("alipay", "sub-1", "x", visitor(), at(1))
            .await
            .unwrap()
            .id,
        linked.id,
        "subjects are per provider"
    );
    assert_eq!(s.phone_of(linked.id).await.unwrap(), None);
    s.rename_account(linked.id, "Ann B").await.unwrap();
    assert_eq!(
        s.account(linked.id).await.unwrap().unwrap().display_name,
        "Ann B"
    );
    assert_eq!(
        s.rename_account(AccountId(999_999), "x").await,
        Err(StoreError::NotFound("account"))
    );
}

pub async fn one_time_codes_count_attempts_and_work_once(stores: Stores) {
    let s = stores.accounts;
    let phone = BlindIndex([6; 32]);
    assert_eq!(
        s.attempt_otp(phone, &[1; 32], at(0)).await.unwrap(),
        OtpAttempt::NoChallenge
    );
    let challenge = OtpChallenge {
        phone,
        code_mac: [1; 32],
        expires_at: at(300),
        attempts_left: 3,
    };
    s.put_otp(&challenge).await.unwrap();
    assert_eq!(
        s.attempt_otp(phone, &[2; 32], at(1)).await.unwrap(),
        OtpAttempt::Wrong { attempts_left: 2 }
    );
    assert_eq!(
        s.attempt_otp(phone, &[1; 32], at(2)).await.unwrap(),
        OtpAttempt::Accepted
    );
    assert_eq!(
        s.attempt_otp(phone, &[1; 32], at(3)).await.unwrap(),
        OtpAttempt::NoChallenge,
        "a code works once"
    );
    // Spent attempts and expiry.
    s.put_otp(&challenge).await.unwrap();
    for left in [2, 1, 0] {
        assert_eq!(
            s.attempt_otp(phone, &[2; 32], at(1)).await.unwrap(),
            OtpAttempt::Wrong {
                attempts_left: left
            }
        );
    }
    assert_eq!(
        s.attempt_otp(phone, &[1; 32], at(2)).await.unwrap(),
        OtpAttempt::NoChallenge
    );
    s.put_otp(&challenge).await.unwrap();
    assert_eq!(
        s.attempt_otp(phone, &[1; 32], at(300)).await.unwrap(),
        OtpAttempt::NoChallenge,
        "expired"
    );
    // A new code replaces the old one.
    s.put_otp(&challenge).await.unwrap();
    s.put_otp(&OtpChallenge {
        code_mac: [7; 32],
        ..challenge
    })
    .await
    .unwrap();
    assert!(matches!(
        s.attempt_otp(phone, &[1; 32], at(1)).await.unwrap(),
        OtpAttempt::Wrong { .. }
    ));
    assert_eq!(
        s.attempt_otp(phone, &[7; 32], at(1)).await.unwrap(),
        OtpAttempt::Accepted
    );
}

fn person(account: AccountId, id: &str, blind: u8) -> FrequentVisitor {
    FrequentVisitor {
        id: id.into(),
        account,
        name: Sealed(vec![1]),
        id_kind: IdKind::ResidentId,
        id_number: Sealed(vec![2]),
        id_blind: BlindIndex([blind; 32]),
        phone: None,
        created_at: at(0),
        updated_at: at(0),
    }
}

pub async fn frequent_visitors_are_scoped_and_limited(stores: Stores) {
    let s = stores.accounts;
    let a = s.create_account("a", visitor(), at(0)).await.unwrap().id;
    let b = s.create_account("b", visitor(), at(0)).await.unwrap().id;
    s.insert_visitor(&person(a, "v1", 1), 2).await.unwrap();
    assert_eq!(
        s.insert_visitor(&person(a, "v2", 1), 2).await,
        Err(StoreError::Conflict("duplicate_visitor".into()))
    );
    s.insert_visitor(&person(a, "v2", 2), 2).await.unwrap();
    assert_eq!(
        s.insert_visitor(&person(a, "v3", 3), 2).await,
        Err(StoreError::Conflict("visitor_limit".into()))
    );
    s.insert_visitor(&person(b, "v4", 1), 2).await.unwrap();
    let list = s.list_visitors(a).await.unwrap();
    assert_eq!(
        list.iter().map(|v| v.id.as_str()).collect::<Vec<_>>(),
        vec!["v1", "v2"]
    );
    assert_eq!(list[0], person(a, "v1", 1));
    let mut edited = person(a, "v1", 9);
    edited.phone = Some(Sealed(vec![3]));
    s.update_visitor(&edited).await.unwrap();
    assert_eq!(s.list_visitors(a).await.unwrap()[0], edited);
    assert_eq!(
        s.update_visitor(&person(b, "v1", 9)).await,
        Err(StoreError::NotFound("visitor")),
        "another account's id"
    );
    assert_eq!(
        s.update_visitor(&person(a, "v2", 9)).await,
        Err(StoreError::Conflict("duplicate_visitor".into()))
    );
    assert_eq!(
        s.delete_visitor(b, "v1").await,
        Err(StoreError::NotFound("visitor"))
    );
    s.delete_visitor(a, "v1").await.unwrap();
    assert_eq!(s.list_visitors(a).await.unwrap().len(), 1);

    // What makes each account one person in a waiting room's line, many accounts at once: the
    // sign-in phone's index and the ID numbers it books for.
    let (c, _) = s
        .phone_account(BlindIndex([6; 32]), "139****1111", at(0))
        .await
        .unwrap();
    s.insert_visitor(&person(c.id, "v5", 7), 2).await.unwrap();
    let mut keys = s
        .person_keys(&[a, b, c.id, AccountId(999_999)])
        .await
        .unwrap();
    keys.sort_by_key(|(account, k)| (account.0, k.0));
    let mut expected = vec![
        (a, BlindIndex([2; 32])),
        (b, BlindIndex([1; 32])),
        (c.id, BlindIndex([6; 32])),
        (c.id, BlindIndex([7; 32])),
    ];
    expected.sort_by_key(|(account, k)| (account.0, k.0));
    assert_eq!(keys, expected);
    assert!(s.person_keys(&[]).await.unwrap().is_empty());
}

pub async fn staff_credentials_refuse_a_totp_step_twice(stores: Stores) {
    let s = stores.accounts;
    let a = s
        .create_account("root", Roles::of(&[Role::Administrator]), at(0))
        .await
        .unwrap()
        .id;
    let c = StaffCredential {
        account: a,
        username: "root".into(),
        password_hash: "$argon2id$x".into(),
        totp_secret: Sealed(vec![4]),
        last_totp_step: 0,
    };
    s.put_staff_credential(&c).await.unwrap();
    assert_eq!(s.staff_credential("root").await.unwrap(), Some(c.clone()));
    assert_eq!(s.staff_credential("nobody").await.unwrap(), None);
    assert!(s.advance_totp_step(a, 10).await.unwrap());
    assert!(
        !s.advance_totp_step(a, 10).await.unwrap(),
        "the same step twice"
    );
    assert!(!s.advance_totp_step(a, 9).await.unwrap(), "an older step");
    assert!(s.advance_totp_step(a, 11).await.unwrap());
    // Resetting replaces the credential.
    s.put_staff_credential(&StaffCredential {
        password_hash: "$argon2id$y".into(),
        ..c
    })
    .await
    .unwrap();
    assert_eq!(
        s.staff_credential("root")
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        "$argon2id$y"
    );
}

pub async fn the_old_audit_trail_is_read_oldest_first_and_forgotten_through_an_id(stores: Stores) {
    let s = stores.accounts;
    for n in 0..5 {
        s.record_audit(&AuditEvent {
            at: at(n),
            actor: (n % 2 == 0).then_some(AccountId(n)),
            action: format!("a{n}"),
            detail: "d".into(),
        })
        .await
        .unwrap();
    }
    let trail = s.legacy_audit(3).await.unwrap();
    assert_eq!(
        trail
            .iter()
            .map(|(_, e)| e.action.as_str())
            .collect::<Vec<_>>(),
        vec!["a0", "a1", "a2"]
    );
    assert_eq!(
        (trail[0].1.actor, trail[1].1.actor, trail[0].1.at),
        (Some(AccountId(0)), None, at(0))
    );
    assert_eq!(s.forget_legacy_audit(trail[2].0).await.unwrap(), 3);
    let rest = s.legacy_audit(10).await.unwrap();
    assert_eq!(
        rest.iter()
            .map(|(_, e)| e.action.as_str())
            .collect::<Vec<_>>(),
        vec!["a3", "a4"]
    );
}

pub async fn consents_and_face_verifications(stores: Stores) {
    use gatehouse_domain::face::{Consent, FaceState, FaceVerification, FACE_PURPOSE};
    let s = stores.accounts;
    let a = s.create_account("a", visitor(), at(0)).await.unwrap().id;
    assert_eq!(s.current_consent(a, FACE_PURPOSE).await.unwrap(), None);
    let consent = |id: &str, n: i64| Consent {
        id: id.into(),
        account: a,
        purpose: FACE_PURPOSE.into(),
        text_version: format!("v{n}"),
        collected: "c".into(),
        reason: "r".into(),
        session_id: 1,
        given_at: at(n),
        withdrawn_at: None,
    };
    s.insert_consent(&consent("c1", 1)).await.unwrap();
    s.insert_consent(&consent("c2", 2)).await.unwrap();
    assert_eq!(
        s.current_consent(a, FACE_PURPOSE).await.unwrap(),
        Some(consent("c2", 2))
    );
    assert_eq!(s.current_consent(a, "other").await.unwrap(), None);
    let face = |id: &str, certify: &str, blind: u8| FaceVerification {
        id: id.into(),
        account: a,
        consent_id: "c2".into(),
        id_blind: BlindIndex([blind; 32]),
        provider: "aliyun_cloudauth".into(),
        certify_id: certify.into(),
        callback_token_hash: [9; 32],
        state: FaceState::Pending,
        detail: String::new(),
        started_at: at(3),
        completed_at: None,
        valid_until: None,
    };
    s.insert_face(&face("f1", "cert-1", 1)).await.unwrap();
    s.insert_face(&face("f2", "cert-2", 2)).await.unwrap();
    assert!(
        s.insert_face(&face("f3", "cert-1", 3)).await.is_err(),
        "certify ids are unique"
    );
    assert_eq!(
        s.face_by_certify_id("cert-1").await.unwrap(),
        Some(face("f1", "cert-1", 1))
    );
    assert_eq!(
        s.face(AccountId(999), "f1").await.unwrap(),
        None,
        "scoped to the account"
    );
    assert!(s
        .complete_face("f1", FaceState::Passed, "200", at(10), Some(at(100)))
        .await
        .unwrap());
    assert!(
        !s.complete_face("f1", FaceState::Failed, "205", at(11), None)
            .await
            .unwrap(),
        "settled once"
    );
    assert!(s
        .complete_face("f2", FaceState::Failed, "205", at(12), None)
        .await
        .unwrap());
    let f1 = s.face(a, "f1").await.unwrap().unwrap();
    assert_eq!(
        (f1.state, f1.completed_at, f1.valid_until),
        (FaceState::Passed, Some(at(10)), Some(at(100)))
    );
    assert_eq!(
        s.face_passes(a, at(50)).await.unwrap(),
        vec![BlindIndex([1; 32])]
    );
    assert!(
        s.face_passes(a, at(100)).await.unwrap().is_empty(),
        "expired"
    );
    assert_eq!(
        s.withdraw_consent(a, FACE_PURPOSE, at(20)).await.unwrap(),
        2
    );
    assert_eq!(s.current_consent(a, FACE_PURPOSE).await.unwrap(), None);
}
