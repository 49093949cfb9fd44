//! What every adapter must do for gates: devices and their revocation, a ticket admitted once
//! online whatever its state says, offline entries recorded as first entries or double uses,
//! the day's bundle and counts, and no refund of a ticket already used.

use super::{at, day, fixture, order, place, Stores};
use gatehouse_domain::check_in::{Entry, ScanRefused};
use gatehouse_domain::gate::{CheckInAttempt, GateDevice, GateDeviceId, OfflineEntry, Revocation};
use gatehouse_domain::order::{OrderEvent, OrderState, TicketId, TicketState};
use gatehouse_domain::store::{LedgerWrite, OrderTransition, StoreError};

fn device(id: &str, name: &str) -> GateDevice {
    GateDevice {
        id: GateDeviceId(id.into()),
        name: name.into(),
        created_at: at(1),
        revoked: None,
    }
}

/// Places `o` and confirms it, its tickets moving to `states` in order.
async fn confirm(
    stores: &Stores,
    f: &super::Fixture,
    o: &gatehouse_domain::order::Order,
    states: &[TicketState],
) {
    stores.store.apply(&[place(o.clone())]).await.unwrap();
    let confirm = OrderTransition {
        order_id: o.id.clone(),
        slot_id: f.slot.id,
        from: OrderState::PendingPayment,
        to: OrderState::Confirmed,
        tickets: o
            .tickets
            .iter()
            .map(|t| t.id.clone())
            .zip(states.iter().copied())
            .collect(),
        released: 0,
        group: false,
        event: OrderEvent {
            at: at(20),
            from: Some(OrderState::PendingPayment),
            to: OrderState::Confirmed,
            note: "paid".into(),
        },
    };
    stores
        .store
        .apply(&[LedgerWrite::Transition(confirm)])
        .await
        .unwrap();
}

pub async fn gate_devices_are_found_by_token_and_revoked_once(stores: Stores) {
    let gates = stores.gates.clone();
    gates
        .add_gate_device(&device("g1", "gate 1"), &[1; 32])
        .await
        .unwrap();
    gates
        .add_gate_device(&device("g2", "gate 2"), &[2; 32])
        .await
        .unwrap();
    assert!(
        gates
            .add_gate_device(&device("g3", "dup"), &[2; 32])
            .await
            .is_err(),
        "one token, one device"
    );
    assert_eq!(
        gates.gate_device_by_token(&[1; 32]).await.unwrap(),
        Some(device("g1", "gate 1"))
    );
    assert_eq!(gates.gate_device_by_token(&[3; 32]).await.unwrap(), None);
    let r = Revocation {
        at: at(5),
        reason: "lost".into(),
    };
    let revoked = gates
        .revoke_gate_device(&GateDeviceId("g1".into()), &r)
        .await
        .unwrap();
    assert_eq!(revoked.revoked, Some(r.clone()));
    assert!(matches!(
        gates
            .revoke_gate_device(&GateDeviceId("g1".into()), &r)
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        gates
            .revoke_gate_device(&GateDeviceId("nope".into()), &r)
            .await,
        Err(StoreError::NotFound("gate device"))
    );
    assert_eq!(gates.gate_devices().await.unwrap().len(), 2);
}

pub async fn tickets_are_checked_in_once_and_offline_entries_reveal_double_uses(stores: Stores) {
    let (store, gates) = (stores.store.clone(), stores.gates.clone());
    let f = fixture(&stores, 10).await;
    let o = order(&f, 1, &[(1, 0), (2, 0), (3, 0), (4, 0)], 0, None);
    confirm(
        &stores,
        &f,
        &o,
        &[
            TicketState::Valid,
            TicketState::Valid,
            TicketState::Valid,
            TicketState::Refunded,
        ],
    )
    .await;
    let t = |i: usize| o.tickets[i].id.clone();
    gates
        .add_gate_device(&device("g1", "gate 1"), &[1; 32])
        .await
        .unwrap();
    gates
        .add_gate_device(&device("g2", "gate 2"), &[2; 32])
        .await
        .unwrap();
    let attempt = |ticket: TicketId, s: i64, gate: &str| CheckInAttempt {
        ticket,
        valid_from: at(3000),
        valid_until: at(9000),
        at: at(s),
        gate: GateDeviceId(gate.into()),
        gate_name: format!("gate {}", &gate[1..]),
    };
    let first = Entry {
        at: at(4000),
        gate: "gate 1".into(),
    };
    let answers = gates
        .check_in(&[
            attempt(t(0), 4000, "g1"),
            attempt(t(0), 4001, "g2"),
            attempt(t(3), 4002, "g1"),
            attempt(TicketId("nope".into()), 4003, "g1"),
            attempt(t(1), 2000, "g1"),
        ])
        .await
        .unwrap();
    assert_eq!(
        answers,
        vec![
            Ok(first.clone()),
            Err(ScanRefused::AlreadyUsed(first.clone())),
            Err(ScanRefused::Refunded),
            Err(ScanRefused::UnknownTicket),
            Err(ScanRefused::TooEarly { opens_at: at(3000) }),
        ]
    );
    assert_eq!(
        gates.check_in(&[attempt(t(0), 5000, "g2")]).await.unwrap(),
        vec![Err(ScanRefused::AlreadyUsed(first.clone()))]
    );

    let bundle = gates.gate_day(day()).await.unwrap();
    assert_eq!(bundle.expected.len(), 3);
    assert_eq!(bundle.revoked, vec![(t(3), TicketState::Refunded)]);
    assert_eq!(bundle.used, vec![(t(0), first.clone())]);

    let offline = |ticket: TicketId, s: i64, gate: &str| OfflineEntry {
        ticket,
        at: at(s),
        gate: GateDeviceId(gate.into()),
        gate_name: format!("gate {}", &gate[1..]),
    };
    let up = gates
        .record_offline_entries(
            &[
                offline(t(1), 4100, "g2"),
                offline(t(0), 4200, "g2"),
                offline(TicketId("nope".into()), 4300, "g2"),
            ],
            at(4400),
        )
        .await
        .unwrap();
    assert_eq!(
        (up.recorded, up.double_uses, up.unknown, up.repeated),
        (1, 1, 1, 0)
    );
    let again = gates
        .record_offline_entries(
            &[offline(t(1), 4100, "g2"), offline(t(0), 4200, "g2")],
            at(4500),
        )
        .await
        .unwrap();
    assert_eq!(
        (again.recorded, again.double_uses, again.repeated),
        (0, 0, 2)
    );
    let mut entries = gates.entries_of_day(day()).await.unwrap();
    entries.sort_by_key(|(_, e)| e.at);
    assert_eq!(
        entries,
        vec![
            (t(0), first),
            (
                t(1),
                Entry {
                    at: at(4100),
                    gate: "gate 2".into()
                }
            ),
            (
                t(0),
                Entry {
                    at: at(4200),
                    gate: "gate 2".into()
                }
            ),
        ]
    );
    let counts = gates.check_in_counts(day()).await.unwrap();
    assert_eq!(counts.len(), 1);
    assert_eq!((counts[0].sold, counts[0].checked_in), (3, 2));
    assert_eq!(
        counts[0].by_gate,
        vec![("gate 1".to_owned(), 1), ("gate 2".to_owned(), 1)]
    );

    // A used ticket cannot be refunded (nor released with its order).
    let refund = OrderTransition {
        order_id: o.id.clone(),
        slot_id: f.slot.id,
        from: OrderState::Confirmed,
        to: OrderState::Confirmed,
        tickets: vec![(t(0), TicketState::Refunded)],
        released: 1,
        group: false,
        event: OrderEvent {
            at: at(30),
            from: Some(OrderState::Confirmed),
            to: OrderState::Confirmed,
            note: "refund".into(),
        },
    };
    assert_eq!(
        store.apply(&[LedgerWrite::Transition(refund)]).await,
        Err(StoreError::Conflict(
            "ticket was already used at the gate".into()
        ))
    );
}

pub async fn no_shows_are_recorded_once_and_locks_hold_until_lifted(stores: Stores) {
    use gatehouse_domain::no_show::{Lifted, LockSubject, NewLock};
    use gatehouse_domain::personal::BlindIndex;
    use jiff::SignedDuration;
    let (store, gates, no_shows) = (
        stores.store.clone(),
        stores.gates.clone(),
        stores.no_shows.clone(),
    );
    let f = fixture(&stores, 10).await;
    let o = order(&f, 1, &[(1, 0), (2, 0), (3, 0)], 0, None);
    confirm(
        &stores,
        &f,
        &o,
        &[
            TicketState::Valid,
            TicketState::Valid,
            TicketState::Refunded,
        ],
    )
    .await;
    let t = |i: usize| o.tickets[i].id.clone();
    gates
        .add_gate_device(&device("g1", "gate 1"), &[1; 32])
        .await
        .unwrap();
    let attempt = CheckInAttempt {
        ticket: t(1),
        valid_from: at(0),
        valid_until: at(9000),
        at: at(4000),
        gate: GateDeviceId("g1".into()),
        gate_name: "gate 1".into(),
    };
    gates.check_in(&[attempt]).await.unwrap();
    // The slot ends at at(9000); with a 60 s late margin its entry closes at at(9060).
    let late = SignedDuration::from_secs(60);
    assert!(
        no_shows
            .record_no_shows(at(0), at(9060), late)
            .await
            .unwrap()
            .is_empty(),
        "entry still open"
    );
    let recorded = no_shows
        .record_no_shows(at(9060), at(9100), late)
        .await
        .unwrap();
    assert_eq!(recorded.len(), 1, "only the valid ticket never checked in");
    assert_eq!(
        (
            recorded[0].ticket.clone(),
            recorded[0].account,
            recorded[0].at
        ),
        (t(0), f.account, at(9060))
    );
    assert_eq!(recorded[0].id_blind, BlindIndex([1; 32]));
    assert!(
        no_shows
            .record_no_shows(at(9000), at(9200), late)
            .await
            .unwrap()
            .is_empty(),
        "once"
    );
    assert_eq!(
        no_shows
            .no_shows_of_account(f.account, at(0))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        no_shows
            .no_shows_of_account(f.account, at(9061))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        no_shows
            .no_shows_of_id(&BlindIndex([1; 32]), at(0))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        no_shows
            .no_shows_of_id(&BlindIndex([2; 32]), at(0))
            .await
            .unwrap(),
        0
    );

    let lock = |subject| NewLock {
        subject,
        account: f.account,
        locked_at: at(9100),
        until: at(20_000),
        reason: "3 no-shows".into(),
    };
    let id_lock = no_shows
        .add_no_show_lock(&lock(LockSubject::IdNumber(BlindIndex([1; 32]))))
        .await
        .unwrap();
    let account_lock = no_shows
        .add_no_show_lock(&lock(LockSubject::Account(f.account)))
        .await
        .unwrap();
    assert_eq!(
        stores
            .accounts
            .account(f.account)
            .await
            .unwrap()
            .unwrap()
            .locked_until,
        Some(at(20_000))
    );
    assert_eq!(
        store.active_id_locks(at(9200)).await.unwrap(),
        vec![(BlindIndex([1; 32]), at(20_000))]
    );
    assert!(
        store.active_id_locks(at(20_000)).await.unwrap().is_empty(),
        "ended"
    );
    assert_eq!(
        no_shows.active_no_show_locks(at(9200)).await.unwrap(),
        vec![id_lock.clone(), account_lock.clone()]
    );
    let lifted = Lifted {
        at: at(9300),
        reason: "proof seen".into(),
    };
    assert_eq!(
        no_shows
            .lift_no_show_lock(account_lock.id, &lifted)
            .await
            .unwrap()
            .lifted,
        Some(lifted.clone())
    );
    assert_eq!(
        stores
            .accounts
            .account(f.account)
            .await
            .unwrap()
            .unwrap()
            .locked_until,
        None
    );
    assert!(matches!(
        no_shows.lift_no_show_lock(account_lock.id, &lifted).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        no_shows.lift_no_show_lock(999, &lifted).await,
        Err(StoreError::NotFound("no-show lock"))
    );
    no_shows
        .lift_no_show_lock(id_lock.id, &lifted)
        .await
        .unwrap();
    assert!(store.active_id_locks(at(9400)).await.unwrap().is_empty());
    assert!(no_shows
        .active_no_show_locks(at(9400))
        .await
        .unwrap()
        .is_empty());
}

pub async fn a_seat_is_held_once_per_showing_and_seat_maps_round_trip(stores: Stores) {
    use gatehouse_domain::seats::{RowLayout, SeatMapLayout};
    let store = stores.store.clone();
    let f = fixture(&stores, 10).await;
    let seated = |n: u32, b: u8, seat: &str| {
        let mut o = order(&f, n, &[(b, 0)], n as u16, None);
        o.tickets[0].seat = Some(seat.to_owned());
        o
    };
    let first = seated(1, 1, "F7");
    store.apply(&[place(first.clone())]).await.unwrap();
    assert!(
        matches!(
            store.apply(&[place(seated(2, 2, "F7"))]).await,
            Err(StoreError::Conflict(_))
        ),
        "F7 is held"
    );
    store.apply(&[place(seated(3, 3, "F8"))]).await.unwrap();
    assert_eq!(
        store.get_order(&first.id).await.unwrap().unwrap().tickets[0]
            .seat
            .as_deref(),
        Some("F7")
    );
    let mut seats = store.ledger_snapshot(day()).await.unwrap().seats;
    seats.sort();
    assert_eq!(
        seats,
        vec![(f.slot.id, "F7".to_owned()), (f.slot.id, "F8".to_owned())]
    );
    // Released with its order, the seat is free again.
    let cancel = OrderTransition {
        order_id: first.id.clone(),
        slot_id: f.slot.id,
        from: OrderState::PendingPayment,
        to: OrderState::Cancelled,
        tickets: vec![(first.tickets[0].id.clone(), TicketState::Released)],
        released: 1,
        group: false,
        event: OrderEvent {
            at: at(30),
            from: Some(OrderState::PendingPayment),
            to: OrderState::Cancelled,
            note: "cancelled".into(),
        },
    };
    store
        .apply(&[LedgerWrite::Transition(cancel)])
        .await
        .unwrap();
    store.apply(&[place(seated(4, 4, "F7"))]).await.unwrap();

    let layout = SeatMapLayout {
        rows: vec![RowLayout {
            label: "F".into(),
            cells: vec!["7".into(), "_".into(), "8w".into()],
        }],
    };
    store.put_seat_map("dome", &layout, at(1)).await.unwrap();
    let mut changed = layout.clone();
    changed.rows[0].cells.push("9x".into());
    store.put_seat_map("dome", &changed, at(2)).await.unwrap();
    store.put_seat_map("imax", &layout, at(2)).await.unwrap();
    assert_eq!(
        store.seat_maps().await.unwrap(),
        vec![("dome".to_owned(), changed), ("imax".to_owned(), layout)]
    );
}

pub async fn organisations_are_decided_once(stores: Stores) {
    use gatehouse_domain::group::{OrganisationId, OrganisationState::*};
    let groups = stores.groups.clone();
    let f = fixture(&stores, 1).await;
    let school = groups
        .create_organisation("实验小学", f.account, Pending, at(1))
        .await
        .unwrap();
    let firm = groups
        .create_organisation("Acme", f.account, Approved, at(2))
        .await
        .unwrap();
    assert_eq!((school.state, school.decided.clone()), (Pending, None));
    assert_eq!(firm.decided, Some((at(2), String::new())));
    assert_eq!(
        groups.organisations_of(f.account).await.unwrap(),
        vec![school.clone(), firm.clone()]
    );
    assert_eq!(
        groups.organisations(Some(Pending), 10).await.unwrap(),
        vec![school.clone()]
    );
    assert_eq!(
        groups.organisations(None, 10).await.unwrap(),
        vec![firm.clone(), school.clone()]
    );
    let approved = groups
        .decide_organisation(school.id, Approved, "letter seen", at(3))
        .await
        .unwrap();
    assert_eq!(
        (approved.state, approved.decided),
        (Approved, Some((at(3), "letter seen".into())))
    );
    assert!(matches!(
        groups
            .decide_organisation(school.id, Rejected, "no", at(4))
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        groups
            .decide_organisation(OrganisationId(999), Approved, "x", at(4))
            .await,
        Err(StoreError::NotFound("organisation"))
    );
}

pub async fn group_orders_take_and_return_the_group_stock(stores: Stores) {
    use gatehouse_domain::group::OrganisationState;
    let store = stores.store.clone();
    let f = fixture(&stores, 1).await;
    let org = stores
        .groups
        .create_organisation("school", f.account, OrganisationState::Approved, at(1))
        .await
        .unwrap();
    let mut o = order(&f, 1, &[(1, 0), (2, 0), (3, 0)], 0, None);
    o.organisation = Some(org.id);
    assert!(
        matches!(
            store.apply(&[place(o.clone())]).await,
            Err(StoreError::Conflict(_))
        ),
        "no group capacity yet"
    );
    store.set_group_capacity(f.slot.id, 3).await.unwrap();
    let plain = order(&f, 2, &[(4, 0)], 1, None);
    store
        .apply(&[place(o.clone()), place(plain.clone())])
        .await
        .unwrap();
    assert_eq!(
        store.get_order(&o.id).await.unwrap().unwrap().organisation,
        Some(org.id)
    );
    // What a group code admits: the group order's tickets, in order; a plain order has none.
    let members: Vec<TicketId> = o.tickets.iter().map(|t| t.id.clone()).collect();
    assert_eq!(stores.gates.group_tickets(&o.id).await.unwrap(), members);
    assert!(stores
        .gates
        .group_tickets(&plain.id)
        .await
        .unwrap()
        .is_empty());
    let snap = store.ledger_snapshot(day()).await.unwrap();
    let s = snap.slots.iter().find(|s| s.slot.id == f.slot.id).unwrap();
    assert_eq!(
        (s.slot.taken, s.group_capacity, s.group_taken),
        (1, 3, 3),
        "the public stock holds only the plain order"
    );
    assert!(matches!(
        store.set_group_capacity(f.slot.id, 2).await,
        Err(StoreError::Conflict(_))
    ));
    let cancel = OrderTransition {
        order_id: o.id.clone(),
        slot_id: f.slot.id,
        from: OrderState::PendingPayment,
        to: OrderState::Cancelled,
        tickets: o
            .tickets
            .iter()
            .map(|t| (t.id.clone(), TicketState::Released))
            .collect(),
        released: 3,
        group: true,
        event: OrderEvent {
            at: at(30),
            from: Some(OrderState::PendingPayment),
            to: OrderState::Cancelled,
            note: "cancelled".into(),
        },
    };
    store
        .apply(&[LedgerWrite::Transition(cancel)])
        .await
        .unwrap();
    let snap = store.ledger_snapshot(day()).await.unwrap();
    let s = snap.slots.iter().find(|s| s.slot.id == f.slot.id).unwrap();
    assert_eq!((s.slot.taken, s.group_taken), (1, 0));
    // Offline gates learn the day's groups with every member (the cancelled ones are refused
    // through the bundle's revocations).
    assert_eq!(
        stores.gates.gate_day(day()).await.unwrap().groups,
        vec![(o.id.clone(), members)]
    );
    assert_eq!(
        store
            .set_group_capacity(gatehouse_domain::catalogue::SlotId(999), 1)
            .await,
        Err(StoreError::NotFound("slot"))
    );
}
