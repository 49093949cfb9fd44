//! Data keys and erasure: a person has one key (the first stored wins), re-wrapping moves a key
//! only from the version it was read at, and erasing an account shreds its key and leaves its
//! orders' facts with nothing that leads back to the person — no sealed value, no blind index
//! that matches, no sign-in phone, no frequent visitors — and can run again.

use gatehouse_domain::account::FrequentVisitor;
use gatehouse_domain::data_key::{DataSubject, Erasure, WrappedDataKey, ERASED_NAME};
use gatehouse_domain::identity::IdKind;
use gatehouse_domain::personal::{BlindIndex, Sealed};

use super::{at, fixture, order, place, Stores};

fn key(subject: &str, version: u32, byte: u8) -> WrappedDataKey {
    WrappedDataKey {
        subject: subject.into(),
        master_version: version,
        wrapped: vec![byte; 60],
    }
}

pub async fn a_person_has_one_data_key_and_rewrapping_is_conditional(s: Stores) {
    let keys = s.data_keys;
    assert_eq!(keys.data_key("account/1").await.unwrap(), None);
    let first = keys
        .create_data_key(&key("account/1", 1, 1), at(0))
        .await
        .unwrap();
    let second = keys
        .create_data_key(&key("account/1", 1, 2), at(1))
        .await
        .unwrap();
    assert_eq!(first, key("account/1", 1, 1));
    assert_eq!(second, first, "the first stored key wins");
    keys.create_data_key(&key("staff/ann", 1, 3), at(0))
        .await
        .unwrap();
    assert_eq!(keys.data_key_versions().await.unwrap(), vec![(1, 2)]);
    assert_eq!(keys.data_keys_not_at(2, 10).await.unwrap().len(), 2);
    assert!(keys
        .rewrap_data_key(&key("account/1", 2, 9), 1)
        .await
        .unwrap());
    assert!(
        !keys
            .rewrap_data_key(&key("account/1", 3, 8), 1)
            .await
            .unwrap(),
        "it is no longer at version 1"
    );
    assert_eq!(
        keys.data_key_versions().await.unwrap(),
        vec![(1, 1), (2, 1)]
    );
    assert_eq!(
        keys.data_keys_not_at(2, 10).await.unwrap(),
        vec![key("staff/ann", 1, 3)]
    );
    assert!(keys.shred_data_key("staff/ann").await.unwrap());
    assert!(!keys.shred_data_key("staff/ann").await.unwrap());
    assert_eq!(keys.data_key("staff/ann").await.unwrap(), None);
}

pub async fn erasing_an_account_shreds_its_key_and_leaves_no_way_back(s: Stores) {
    let f = fixture(&s, 5).await;
    let phone = BlindIndex([9; 32]);
    let (person, _) = s
        .accounts
        .phone_account(phone, "138****0000", at(0))
        .await
        .unwrap();
    s.accounts
        .seal_account_phone(person.id, &Sealed(vec![4; 40]))
        .await
        .unwrap();
    let mut o = order(&f, 1, &[(1, 0), (2, 0)], 0, None);
    o.account_id = person.id;
    s.store.apply(&[place(o.clone())]).await.unwrap();
    s.accounts
        .insert_visitor(
            &FrequentVisitor {
                id: "v1".into(),
                account: person.id,
                name: Sealed(vec![5; 40]),
                id_kind: IdKind::ResidentId,
                id_number: Sealed(vec![6; 40]),
                id_blind: BlindIndex([1; 32]),
                phone: None,
                created_at: at(0),
                updated_at: at(0),
            },
            10,
        )
        .await
        .unwrap();
    let mine = DataSubject::Account(person.id).to_string();
    s.data_keys
        .create_data_key(&key(&mine, 1, 1), at(0))
        .await
        .unwrap();
    s.data_keys
        .create_data_key(&key("account/999", 1, 2), at(0))
        .await
        .unwrap();

    let erased = s.data_keys.erase_account(person.id, at(50)).await.unwrap();
    assert_eq!(
        erased,
        Erasure {
            orders: 1,
            tickets: 2,
            visitors: 1,
            already: false
        }
    );
    assert_eq!(s.data_keys.data_key(&mine).await.unwrap(), None, "shredded");
    assert!(
        s.data_keys.data_key("account/999").await.unwrap().is_some(),
        "only theirs"
    );
    let after = s.store.get_order(&o.id).await.unwrap().unwrap();
    assert!(after.contact_phone.is_erased());
    for (t, before) in after.tickets.iter().zip(&o.tickets) {
        assert!(t.visitor_name.is_erased() && t.id_number.is_erased());
        assert_ne!(
            t.id_blind, before.id_blind,
            "the ID number's index leads nowhere"
        );
    }
    assert_eq!(
        (after.state, after.total_fen, after.tickets.len()),
        (o.state, o.total_fen, 2),
        "the order's facts stay"
    );
    assert!(s
        .accounts
        .list_visitors(person.id)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(s.accounts.phone_of(person.id).await.unwrap(), None);
    let account = s.accounts.account(person.id).await.unwrap().unwrap();
    assert_eq!(account.display_name, ERASED_NAME);
    let (newcomer, sealed) = s
        .accounts
        .phone_account(phone, "138****0000", at(60))
        .await
        .unwrap();
    assert_ne!(
        newcomer.id, person.id,
        "the phone signs in to a new, empty account"
    );
    assert!(!sealed);
    assert_eq!(
        s.data_keys.erased_accounts().await.unwrap(),
        vec![person.id]
    );
    let again = s.data_keys.erase_account(person.id, at(70)).await.unwrap();
    assert!(again.already);
    assert!(matches!(
        s.data_keys
            .erase_account(gatehouse_domain::order::AccountId(424_242), at(70))
            .await,
        Err(gatehouse_domain::store::StoreError::NotFound(_))
    ));
}

pub async fn data_requests_keep_deadlines_and_move_forward_once(s: Stores) {
    use gatehouse_domain::data_request::{
        DataRequest, RequestFilter, RequestKind, RequestStatus, RequestUpdate,
    };
    use gatehouse_domain::store::StoreError;
    let f = fixture(&s, 5).await;
    let staff = s
        .accounts
        .create_account("support", super::visitor(), at(0))
        .await
        .unwrap()
        .id;
    let request = |id: &str, received: i64, kind| DataRequest {
        id: id.into(),
        account: f.account,
        kind,
        status: RequestStatus::Open,
        detail: Sealed(vec![7; 30]),
        channel: "phone".into(),
        received_at: at(received),
        due_at: DataRequest::due(at(received)),
        handled_by: None,
        outcome: None,
        closed_at: None,
    };
    let store = &s.data_requests;
    store
        .insert_data_request(&request("b", 100, RequestKind::Erasure))
        .await
        .unwrap();
    store
        .insert_data_request(&request("a", 0, RequestKind::Correction))
        .await
        .unwrap();
    assert!(store
        .insert_data_request(&request("a", 0, RequestKind::Export))
        .await
        .is_err());
    let all = store
        .list_data_requests(&RequestFilter::default(), 10)
        .await
        .unwrap();
    assert_eq!(
        all.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["a", "b"],
        "oldest deadline first"
    );
    assert_eq!(
        all[0],
        request("a", 0, RequestKind::Correction),
        "round-trips"
    );
    let overdue = RequestFilter {
        due_before: Some(DataRequest::due(at(50))),
        ..RequestFilter::default()
    };
    assert_eq!(
        store.list_data_requests(&overdue, 10).await.unwrap().len(),
        1
    );
    let update = |from, to| RequestUpdate {
        from,
        to,
        handled_by: staff,
        outcome: Some("corrected the name on ticket t1".into()),
        at: at(200),
    };
    let done = store
        .update_data_request("a", &update(RequestStatus::Open, RequestStatus::Done))
        .await
        .unwrap();
    assert_eq!(
        (done.status, done.handled_by, done.closed_at),
        (RequestStatus::Done, Some(staff), Some(at(200)))
    );
    assert!(matches!(
        store
            .update_data_request("a", &update(RequestStatus::Open, RequestStatus::Refused))
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store
            .update_data_request("zz", &update(RequestStatus::Open, RequestStatus::Done))
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert!(
        store
            .list_data_requests(&overdue, 10)
            .await
            .unwrap()
            .is_empty(),
        "answered"
    );
    s.data_keys.erase_account(f.account, at(300)).await.unwrap();
    let after = store.data_request("b").await.unwrap().unwrap();
    assert!(
        after.detail.is_erased(),
        "an erasure takes the person's words too"
    );
}

pub async fn breaches_find_holders_and_track_each_notice(s: Stores) {
    use gatehouse_domain::breach::{Breach, BreachReport, Escalation, NoticeChannel};
    use gatehouse_domain::personal_data::PersonalField;
    let f = fixture(&s, 5).await;
    let o = order(&f, 1, &[(1, 0)], 0, None);
    s.store.apply(&[place(o.clone())]).await.unwrap();
    let (phone_account, _) = s
        .accounts
        .phone_account(BlindIndex([3; 32]), "x", at(0))
        .await
        .unwrap();
    let (holders, unattributable) = s
        .breaches
        .accounts_holding(
            &[PersonalField::IdNumber, PersonalField::IpAddress],
            at(10_000),
        )
        .await
        .unwrap();
    assert_eq!(holders, vec![f.account], "the account with an order");
    assert_eq!(unattributable, vec![PersonalField::IpAddress]);
    let (before, _) = s
        .breaches
        .accounts_holding(&[PersonalField::IdNumber], at(-10_000))
        .await
        .unwrap();
    assert!(before.is_empty(), "nothing was stored yet when it happened");
    let (phones, _) = s
        .breaches
        .accounts_holding(
            &[PersonalField::AccountPhone, PersonalField::ContactPhone],
            at(10_000),
        )
        .await
        .unwrap();
    assert_eq!(phones.len(), 2, "{phones:?}");
    assert!(phones.contains(&phone_account.id));

    let breach = Breach {
        id: "b1".into(),
        report: BreachReport {
            title: "t".into(),
            what_happened: "w".into(),
            occurred_at: at(100),
            discovered_at: at(200),
            fields: vec![PersonalField::IdNumber, PersonalField::ContactPhone],
            systems: "s".into(),
            measures: "m".into(),
            advice: "a".into(),
            contact: "c".into(),
        },
        opened_by: f.account,
        opened_at: at(300),
        deadline_at: at(200 + 86_400),
        affected: 2,
        unattributable: vec![PersonalField::IpAddress],
        escalated_near_at: None,
        escalated_missed_at: None,
    };
    s.breaches.open_breach(&breach, &phones).await.unwrap();
    assert_eq!(
        s.breaches.breach("b1").await.unwrap().unwrap(),
        breach,
        "round-trips"
    );
    assert_eq!(s.breaches.notice_progress("b1").await.unwrap().pending, 2);
    s.breaches
        .notice_outcome("b1", phone_account.id, NoticeChannel::Sms, false, at(400))
        .await
        .unwrap();
    s.breaches
        .notice_outcome("b1", f.account, NoticeChannel::InApp, true, at(400))
        .await
        .unwrap();
    let p = s.breaches.notice_progress("b1").await.unwrap();
    assert_eq!((p.pending, p.sent, p.failed), (0, 1, 1));
    assert_eq!(
        s.breaches.unsent_notices("b1", 10).await.unwrap(),
        vec![phone_account.id],
        "a failure is retried"
    );
    assert_eq!(
        s.breaches.breaches_with_unsent_notices().await.unwrap()[0].1,
        1
    );
    assert_eq!(
        s.breaches.in_app_notices(f.account).await.unwrap()[0].1,
        at(400)
    );
    assert!(s
        .breaches
        .in_app_notices(phone_account.id)
        .await
        .unwrap()
        .is_empty());
    assert!(s
        .breaches
        .record_escalation("b1", Escalation::DeadlineNear, at(500))
        .await
        .unwrap());
    assert!(
        !s.breaches
            .record_escalation("b1", Escalation::DeadlineNear, at(600))
            .await
            .unwrap(),
        "once"
    );
    assert_eq!(
        s.breaches.list_breaches(10).await.unwrap()[0].escalated_near_at,
        Some(at(500))
    );
    s.data_keys.erase_account(f.account, at(700)).await.unwrap();
    let (after, _) = s
        .breaches
        .accounts_holding(&[PersonalField::DisplayName], at(10_000))
        .await
        .unwrap();
    assert!(
        !after.contains(&f.account),
        "an erased account is nobody to notify"
    );
}

/// A value in the legacy format: byte 1, then nonce, ciphertext and tag (here filler).
fn legacy(byte: u8) -> Sealed {
    let mut v = vec![1u8];
    v.extend([byte; 40]);
    Sealed(v)
}

fn envelope(byte: u8) -> Sealed {
    let mut v = vec![2u8];
    v.extend([byte; 40]);
    Sealed(v)
}

pub async fn legacy_sealed_values_are_found_by_format_and_replaced_only_if_unchanged(s: Stores) {
    use gatehouse_domain::account::StaffCredential;
    use gatehouse_domain::sealed_column::SealedColumn;

    let f = fixture(&s, 5).await;
    let (person, _) = s
        .accounts
        .phone_account(BlindIndex([9; 32]), "138****0000", at(0))
        .await
        .unwrap();
    s.accounts
        .seal_account_phone(person.id, &legacy(3))
        .await
        .unwrap();
    let mut o = order(&f, 1, &[(1, 0), (2, 0)], 0, None);
    o.account_id = person.id;
    o.contact_phone = legacy(4);
    o.tickets[0].id_number = legacy(5);
    o.tickets[1].id_number = envelope(5);
    s.store.apply(&[place(o.clone())]).await.unwrap();
    s.accounts
        .insert_visitor(
            &FrequentVisitor {
                id: "v1".into(),
                account: person.id,
                name: envelope(6),
                id_kind: IdKind::ResidentId,
                id_number: legacy(6),
                id_blind: BlindIndex([1; 32]),
                phone: None,
                created_at: at(0),
                updated_at: at(0),
            },
            10,
        )
        .await
        .unwrap();
    let staff = s
        .accounts
        .create_account("Alice", gatehouse_domain::access::Roles::default(), at(0))
        .await
        .unwrap();
    s.accounts
        .put_staff_credential(&StaffCredential {
            account: staff.id,
            username: "alice".into(),
            password_hash: "$argon2id$x".into(),
            totp_secret: legacy(7),
            last_totp_step: 0,
        })
        .await
        .unwrap();

    let found = |column| {
        let s = s.legacy_seals.clone();
        async move { s.sealed_with_format(column, 1, None, 100).await.unwrap() }
    };
    let phone = found(SealedColumn::AccountPhone).await;
    assert_eq!(phone.len(), 1);
    assert_eq!(phone[0].owner, DataSubject::Account(person.id));
    assert_eq!(
        phone[0].context_id,
        hex::encode([9; 32]),
        "bound to the index"
    );
    assert_eq!(phone[0].sealed, legacy(3));
    let totp = found(SealedColumn::StaffTotp).await;
    assert_eq!(
        (totp.len(), &totp[0].owner, totp[0].row.as_str()),
        (1, &DataSubject::Staff("alice".into()), "alice")
    );
    let contact = found(SealedColumn::OrderContactPhone).await;
    assert_eq!(
        (contact.len(), contact[0].row.as_str()),
        (1, o.id.0.as_str())
    );
    let numbers = found(SealedColumn::TicketIdNumber).await;
    assert_eq!(numbers.len(), 1, "only the legacy one: {numbers:?}");
    assert_eq!(numbers[0].row, o.tickets[0].id.0);
    assert_eq!(numbers[0].owner, DataSubject::Account(person.id));
    assert!(found(SealedColumn::VisitorName).await.is_empty());
    assert_eq!(found(SealedColumn::VisitorIdNumber).await.len(), 1);
    assert!(found(SealedColumn::VisitorPhone).await.is_empty());
    assert!(
        s.legacy_seals
            .sealed_with_format(SealedColumn::OrderContactPhone, 1, Some(&o.id.0), 100)
            .await
            .unwrap()
            .is_empty(),
        "paging starts after the given row"
    );

    // Replaced only while unchanged.
    assert!(!s
        .legacy_seals
        .replace_sealed(
            SealedColumn::OrderContactPhone,
            &o.id.0,
            &legacy(99),
            &envelope(4)
        )
        .await
        .unwrap());
    assert!(s
        .legacy_seals
        .replace_sealed(
            SealedColumn::OrderContactPhone,
            &o.id.0,
            &legacy(4),
            &envelope(4)
        )
        .await
        .unwrap());
    assert!(found(SealedColumn::OrderContactPhone).await.is_empty());
    let stored = s.store.get_order(&o.id).await.unwrap().unwrap();
    assert_eq!(stored.contact_phone, envelope(4));
    let row = person.id.0.to_string();
    assert!(s
        .legacy_seals
        .replace_sealed(SealedColumn::AccountPhone, &row, &legacy(3), &envelope(3))
        .await
        .unwrap());
    assert!(found(SealedColumn::AccountPhone).await.is_empty());
    assert!(s
        .legacy_seals
        .replace_sealed(SealedColumn::StaffTotp, "alice", &legacy(7), &envelope(7))
        .await
        .unwrap());
    let credential = s.accounts.staff_credential("alice").await.unwrap().unwrap();
    assert_eq!(credential.totp_secret, envelope(7));
}

pub async fn an_erased_persons_running_lock_holds_until_it_ends_then_leads_nowhere(s: Stores) {
    use gatehouse_domain::no_show::{LockSubject, NewLock};

    let (person, _) = s
        .accounts
        .phone_account(BlindIndex([9; 32]), "138****0000", at(0))
        .await
        .unwrap();
    let (other, _) = s
        .accounts
        .phone_account(BlindIndex([8; 32]), "138****0001", at(0))
        .await
        .unwrap();
    let lock = |account, index: u8, until: i64| NewLock {
        subject: LockSubject::IdNumber(BlindIndex([index; 32])),
        account,
        locked_at: at(10),
        until: at(until),
        reason: "two no-shows".into(),
    };
    let running = s
        .no_shows
        .add_no_show_lock(&lock(person.id, 3, 100))
        .await
        .unwrap();
    s.no_shows
        .add_no_show_lock(&lock(other.id, 4, 100))
        .await
        .unwrap();
    // The index each lock holds, read while all are running.
    let held = || async {
        let mut v: Vec<(i64, LockSubject)> = s
            .no_shows
            .active_no_show_locks(at(20))
            .await
            .unwrap()
            .into_iter()
            .map(|l| (l.id, l.subject))
            .collect();
        v.sort_by_key(|(id, _)| *id);
        v
    };
    let before = held().await;
    s.data_keys.erase_account(person.id, at(50)).await.unwrap();
    assert_eq!(held().await, before, "a running lock keeps holding");
    assert_eq!(
        s.data_keys
            .release_ended_locks_of_erased(at(60))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        s.data_keys
            .release_ended_locks_of_erased(at(150))
            .await
            .unwrap(),
        1,
        "only the erased person's, once it ended"
    );
    let after = held().await;
    let index_of = |v: &[(i64, LockSubject)], id: i64| v.iter().find(|(i, _)| *i == id).unwrap().1;
    assert_ne!(
        index_of(&after, running.id),
        LockSubject::IdNumber(BlindIndex([3; 32])),
        "the ended lock leads nowhere"
    );
    assert_eq!(
        after
            .iter()
            .filter(|(i, _)| *i != running.id)
            .collect::<Vec<_>>(),
        before
            .iter()
            .filter(|(i, _)| *i != running.id)
            .collect::<Vec<_>>(),
        "another person's lock is theirs to keep"
    );
    assert_eq!(
        s.data_keys
            .release_ended_locks_of_erased(at(160))
            .await
            .unwrap(),
        0,
        "once"
    );
}
