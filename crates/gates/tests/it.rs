//! The gate service on a real SQLite store with real tickets from the booking service: devices
//! and their revocation, online check-in (once per ticket, however scans race), refusals with
//! their reasons, forged and foreign codes, offline gates and the double uses their uploads
//! reveal, and live counts.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code stops loudly"
)]

use std::sync::Arc;

use gatehouse_booking::{BookingConfig, BookingService, OrderDetails, PlaceOrder, VisitorInput};
use gatehouse_domain::access::{Role, Roles};
use gatehouse_domain::account::AccountStore;
use gatehouse_domain::catalogue::{
    NewSlot, ProductKind, ProductRules, ProductSpec, Slot, TicketTypeId,
};
use gatehouse_domain::check_in::ScanRefused;
use gatehouse_domain::identity::{synthetic_resident_id, IdKind};
use gatehouse_domain::store::Account;
use gatehouse_domain::{Clock, ManualClock};
use gatehouse_gates::{GateError, GateService, OfflineGate};
use gatehouse_privacy::Vault;
use gatehouse_store::{SqliteDurability, SqliteStore};
use gatehouse_tickets::{TicketCodes, TokenRefused};
use jiff::civil::{date, time};
use jiff::SignedDuration;

const SECRET: [u8; 32] = [9; 32];

struct World {
    gates: Arc<GateService>,
    booking: Arc<BookingService>,
    accounts: Arc<dyn AccountStore>,
    groups: Arc<dyn gatehouse_domain::group::GroupStore>,
    clock: Arc<ManualClock>,
    slot: Slot,
    free: TicketTypeId,
    _dir: tempfile::TempDir,
}

fn codes(secret: [u8; 32]) -> TicketCodes {
    TicketCodes::from_secret(
        1,
        secret,
        SignedDuration::from_mins(30),
        SignedDuration::ZERO,
    )
    .unwrap()
}

/// An uploaded journal line of a ticket's own code.
fn entry(code: &str, at: &str) -> gatehouse_gates::UploadedEntry {
    gatehouse_gates::UploadedEntry {
        code: code.to_owned(),
        at: at.to_owned(),
        ticket: None,
    }
}

/// Monday 2026-11-23 09:00 Shanghai; Wednesday's 09:00–10:30 slot has free tickets.
async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Arc::new(
        SqliteStore::open(&dir.path().join("g.db"), SqliteDurability::Normal)
            .await
            .unwrap(),
    );
    let clock = Arc::new(ManualClock::new("2026-11-23T01:00:00Z".parse().unwrap()));
    let keys = Arc::new(Vault::ephemeral(sqlite.clone(), clock.clone()));
    let booking = BookingService::start(
        sqlite.clone(),
        keys,
        clock.clone(),
        BookingConfig::default(),
    )
    .await
    .unwrap();
    let issuer = codes(SECRET);
    let public_key = issuer.public_key();
    booking.set_code_issuer(Arc::new(issuer));
    let product = booking
        .create_product(ProductSpec {
            kind: ProductKind::Entry,
            name: "entry".into(),
            introduction: String::new(),
            theatre_type: None,
            film: None,
            featured: false,
            rules: ProductRules {
                open_days_before: 30,
                ..ProductRules::default()
            },
        })
        .await
        .unwrap();
    let free = booking
        .create_ticket_type(product.id, "child", 0)
        .await
        .unwrap()
        .id;
    booking.publish_notice(product.id, "be nice").await.unwrap();
    let slot = booking
        .create_slot(NewSlot {
            product_id: product.id,
            date: date(2026, 11, 25),
            start: time(9, 0, 0, 0),
            end: time(10, 30, 0, 0),
            capacity: 400,
        })
        .await
        .unwrap();
    let gates = GateService::start(
        sqlite.clone(),
        sqlite.clone(),
        clock.clone(),
        gatehouse_gates::GateConfig::default(),
        vec![public_key],
    )
    .unwrap();
    World {
        gates: Arc::new(gates),
        booking,
        groups: sqlite.clone(),
        accounts: sqlite,
        clock,
        slot,
        free,
        _dir: dir,
    }
}

impl World {
    async fn visitor(&self) -> Account {
        self.accounts
            .create_account("v", Roles::of(&[Role::Visitor]), self.clock.now())
            .await
            .unwrap()
    }

    /// A confirmed (free) order of `people` tickets.
    async fn order(&self, a: &Account, first_id: u32, people: u32) -> OrderDetails {
        self.order_for(a, &self.slot, first_id, people)
            .await
            .unwrap()
    }

    async fn order_for(
        &self,
        a: &Account,
        slot: &Slot,
        first_id: u32,
        people: u32,
    ) -> Result<OrderDetails, gatehouse_domain::BookingError> {
        let tickets = (first_id..first_id + people)
            .map(|n| {
                (
                    self.free,
                    VisitorInput::new("张三", IdKind::ResidentId, synthetic_resident_id(n)),
                )
            })
            .collect();
        let req = PlaceOrder {
            slot_id: slot.id,
            notice_version: 1,
            contact_phone: gatehouse_domain::personal::Sensitive::new(
                gatehouse_domain::personal::PersonalField::ContactPhone,
                "13812345678",
            ),
            tickets,
            seats: Vec::new(),
            organisation: None,
            face_passes: Vec::new(),
        };
        self.booking.place_order(a, req, None).await
    }

    /// A confirmed group order of `people` tickets for an approved organisation of `a`'s.
    async fn group_order(&self, a: &Account, first_id: u32, people: u32) -> OrderDetails {
        let org = self
            .groups
            .create_organisation(
                "No. 1 Middle School",
                a.id,
                gatehouse_domain::group::OrganisationState::Approved,
                self.clock.now(),
            )
            .await
            .unwrap();
        self.booking
            .set_group_capacity(self.slot.id, 100)
            .await
            .unwrap();
        let tickets = (first_id..first_id + people)
            .map(|n| {
                (
                    self.free,
                    VisitorInput::new("李四", IdKind::ResidentId, synthetic_resident_id(n)),
                )
            })
            .collect();
        let req = PlaceOrder {
            slot_id: self.slot.id,
            notice_version: 1,
            contact_phone: gatehouse_domain::personal::Sensitive::new(
                gatehouse_domain::personal::PersonalField::ContactPhone,
                "13812345678",
            ),
            tickets,
            seats: Vec::new(),
            organisation: Some(org.id),
            face_passes: Vec::new(),
        };
        self.booking.place_order(a, req, None).await.unwrap()
    }

    /// A 09:00–10:30 slot on `day` of the same product.
    async fn slot_on(&self, day: jiff::civil::Date) -> Slot {
        self.booking
            .create_slot(NewSlot {
                product_id: self.slot.product_id,
                date: day,
                start: time(9, 0, 0, 0),
                end: time(10, 30, 0, 0),
                capacity: 400,
            })
            .await
            .unwrap()
    }

    fn at(&self, instant: &str) {
        self.clock.set(instant.parse().unwrap());
    }
}

fn code(order: &OrderDetails, i: usize) -> String {
    order.tickets[i]
        .code
        .clone()
        .expect("a valid ticket has a code")
}

fn refusal(e: GateError) -> ScanRefused {
    match e {
        GateError::Refused(r) => r,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_ticket_is_let_in_once_and_the_second_scan_says_when_and_where() {
    let w = world().await;
    let v = w.visitor().await;
    let order = w.order(&v, 1, 2).await;
    let gate3 = w.gates.register_device("gate 3").await.unwrap();
    let gate4 = w.gates.register_device("gate 4").await.unwrap();
    let g3 = w.gates.authenticate_device(&gate3.token).await.unwrap();
    let g4 = w.gates.authenticate_device(&gate4.token).await.unwrap();

    w.at("2026-11-25T01:12:00Z");
    let admitted = w.gates.scan(&g3, &code(&order, 0)).await.unwrap();
    assert_eq!(admitted.tickets, [order.tickets[0].ticket.id.clone()]);
    assert_eq!(admitted.slot, w.slot.id);
    w.at("2026-11-25T01:15:00Z");
    let again = refusal(w.gates.scan(&g4, &code(&order, 0)).await.unwrap_err());
    assert_eq!(again.code(), "already_used");
    assert_eq!(w.gates.describe(&again), "already used at 09:12, gate 3");
    // The other ticket of the order is unaffected.
    w.gates.scan(&g4, &code(&order, 1)).await.unwrap();

    let counts = w.gates.counts(date(2026, 11, 25)).await.unwrap();
    assert_eq!(counts.len(), 1);
    assert_eq!((counts[0].sold, counts[0].checked_in), (2, 1 + 1));
    assert_eq!(
        counts[0].by_gate,
        vec![("gate 3".to_owned(), 1), ("gate 4".to_owned(), 1)]
    );
}

#[tokio::test]
async fn scans_outside_the_window_are_refused_with_the_time_entry_opens_or_closed() {
    let w = world().await;
    let v = w.visitor().await;
    let order = w.order(&v, 1, 1).await;
    let gate = w.gates.register_device("gate 1").await.unwrap().device;
    // The slot is 09:00–10:30 with 30 minutes' early entry.
    w.at("2026-11-25T00:29:00Z");
    let early = refusal(w.gates.scan(&gate, &code(&order, 0)).await.unwrap_err());
    assert_eq!(w.gates.describe(&early), "too early: entry opens at 08:30");
    w.at("2026-11-24T01:00:00Z");
    assert_eq!(
        refusal(w.gates.scan(&gate, &code(&order, 0)).await.unwrap_err()).code(),
        "too_early",
        "a ticket for another day"
    );
    w.at("2026-11-25T02:31:00Z");
    let late = refusal(w.gates.scan(&gate, &code(&order, 0)).await.unwrap_err());
    assert_eq!(w.gates.describe(&late), "too late: entry closed at 10:30");
    w.at("2026-11-25T00:30:00Z");
    w.gates.scan(&gate, &code(&order, 0)).await.unwrap();
}

#[tokio::test]
async fn forged_truncated_and_foreign_codes_are_refused_and_change_nothing() {
    let w = world().await;
    let v = w.visitor().await;
    let order = w.order(&v, 1, 1).await;
    let gate = w.gates.register_device("gate 1").await.unwrap().device;
    w.at("2026-11-25T01:00:00Z");
    let genuine = code(&order, 0);
    let mut forged = genuine.clone().into_bytes();
    forged[100] = if forged[100] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    let other_venue = {
        // Another museum's Gatehouse signs the same ticket with its own key.
        let theirs = codes([1; 32]);
        use gatehouse_domain::ticket_code::TicketCodeIssuer;
        theirs.issue(&order.tickets[0].ticket.id, &w.slot).unwrap()
    };
    for (bad, want) in [
        (forged.as_str(), "signature"),
        (&genuine[..genuine.len() - 10], "not a ticket code"),
        ("", "not a ticket code"),
        ("GH1\u{0}\u{7f}ü", "not a ticket code"),
        (other_venue.as_str(), "signature"),
    ] {
        match w.gates.scan(&gate, bad).await {
            Err(GateError::Code(e)) => assert!(e.to_string().contains(want), "{bad:?}: {e}"),
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    let counts = w.gates.counts(date(2026, 11, 25)).await.unwrap();
    assert_eq!(counts[0].checked_in, 0, "refused scans admit no one");
    w.gates.scan(&gate, &genuine).await.unwrap();
    assert!(
        matches!(
            w.gates.scan(&gate, &genuine).await,
            Err(GateError::Refused(ScanRefused::AlreadyUsed(_)))
        ),
        "a replayed code is a second use"
    );
}

#[tokio::test]
async fn refunded_tickets_are_refused_and_used_tickets_cannot_be_refunded() {
    let w = world().await;
    let v = w.visitor().await;
    let order = w.order(&v, 1, 3).await;
    let id = order.order.id.clone();
    let first = order.tickets[0].ticket.id.clone();
    w.booking
        .refund_tickets(&v, &id, std::slice::from_ref(&first), None, |_, _| {
            Ok(Vec::new())
        })
        .await
        .unwrap();
    let gate = w.gates.register_device("gate 1").await.unwrap().device;
    w.at("2026-11-25T00:40:00Z");
    let refunded = refusal(w.gates.scan(&gate, &code(&order, 0)).await.unwrap_err());
    assert_eq!(refunded.code(), "ticket_refunded");
    // Early entry, then an attempt to refund the used ticket before the slot starts.
    let used = order.tickets[1].ticket.id.clone();
    w.gates.scan(&gate, &code(&order, 1)).await.unwrap();
    let refused = w
        .booking
        .refund_tickets(&v, &id, std::slice::from_ref(&used), None, |_, _| {
            Ok(Vec::new())
        })
        .await;
    assert!(
        refused.is_err(),
        "a ticket used at the gate is not refunded"
    );
    let after = w.booking.get_order(&v, &id).await.unwrap();
    assert_eq!(after.tickets[1].ticket.state.as_str(), "valid");
}

#[tokio::test]
async fn revoked_and_unknown_devices_are_refused() {
    let w = world().await;
    let cred = w.gates.register_device("handheld 2").await.unwrap();
    assert!(cred.token.starts_with(gatehouse_gates::DEVICE_TOKEN_PREFIX));
    w.gates.authenticate_device(&cred.token).await.unwrap();
    for bad in [
        "",
        "ghgate_",
        "ghgate_nope",
        "Bearer x",
        &"ghgate_a".repeat(100),
    ] {
        assert!(matches!(
            w.gates.authenticate_device(bad).await,
            Err(GateError::DeviceUnknown)
        ));
    }
    assert!(matches!(
        w.gates.register_device(" ").await,
        Err(GateError::Invalid { .. })
    ));
    assert!(matches!(
        w.gates.revoke_device(&cred.device.id.0, "").await,
        Err(GateError::Invalid { .. })
    ));
    let revoked = w
        .gates
        .revoke_device(&cred.device.id.0, "lost on the floor")
        .await
        .unwrap();
    assert_eq!(revoked.revoked.unwrap().reason, "lost on the floor");
    assert!(matches!(
        w.gates.authenticate_device(&cred.token).await,
        Err(GateError::DeviceUnknown)
    ));
    assert!(matches!(
        w.gates.revoke_device(&cred.device.id.0, "again").await,
        Err(GateError::Conflict(_))
    ));
    assert!(matches!(
        w.gates.revoke_device("gate_nope", "why").await,
        Err(GateError::NotFound(_))
    ));
    assert_eq!(w.gates.devices().await.unwrap().len(), 1);
}

/// Stress: many gates scanning the same tickets at once; every ticket is admitted exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_scans_admit_each_ticket_exactly_once() {
    let w = world().await;
    let mut codes = Vec::new();
    for n in 0..20 {
        let v = w.visitor().await;
        let order = w.order(&v, 100 + n * 5, 5).await;
        codes.extend((0..5).map(|i| code(&order, i)));
    }
    let mut devices = Vec::new();
    for g in 0..6 {
        devices.push(
            w.gates
                .register_device(&format!("gate {g}"))
                .await
                .unwrap()
                .device,
        );
    }
    w.at("2026-11-25T01:00:00Z");
    let mut tasks = Vec::new();
    for device in &devices {
        for c in &codes {
            let (gates, device, c) = (w.gates.clone(), device.clone(), c.clone());
            tasks.push(tokio::spawn(async move {
                gates.scan(&device, &c).await.is_ok()
            }));
        }
    }
    let mut admitted = 0;
    for t in tasks {
        admitted += usize::from(t.await.unwrap());
    }
    assert_eq!(admitted, codes.len());
    let counts = w.gates.counts(date(2026, 11, 25)).await.unwrap();
    assert_eq!(counts[0].checked_in as usize, codes.len());
    assert!(w
        .gates
        .double_uses(date(2026, 11, 25))
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn offline_gates_admit_on_their_own_and_their_uploads_reveal_double_uses() {
    let w = world().await;
    let v = w.visitor().await;
    let order = w.order(&v, 1, 4).await;
    w.booking
        .refund_tickets(
            &v,
            &order.order.id,
            &[order.tickets[3].ticket.id.clone()],
            None,
            |_, _| Ok(Vec::new()),
        )
        .await
        .unwrap();
    let online = w.gates.register_device("gate 1").await.unwrap().device;
    let east = w.gates.register_device("east").await.unwrap().device;
    let west = w.gates.register_device("west").await.unwrap().device;
    w.at("2026-11-25T00:50:00Z");
    w.gates.scan(&online, &code(&order, 0)).await.unwrap();

    // Both offline gates download the day, then lose the network.
    let day = date(2026, 11, 25);
    let mut east_gate =
        OfflineGate::from_bundle(&w.gates.bundle(&east, day).await.unwrap()).unwrap();
    let mut west_gate =
        OfflineGate::from_bundle(&w.gates.bundle(&west, day).await.unwrap()).unwrap();
    assert_eq!(east_gate.progress(), (3, 1));
    let now = "2026-11-25T01:05:00Z".parse().unwrap();
    // Already used online before the download: refused offline too.
    assert_eq!(
        refusal(east_gate.scan(&code(&order, 0), now).unwrap_err()).code(),
        "already_used"
    );
    // Refunded: in the bundle's revocations.
    assert_eq!(
        refusal(east_gate.scan(&code(&order, 3), now).unwrap_err()).code(),
        "ticket_refunded"
    );
    let e1 = east_gate.scan(&code(&order, 1), now).unwrap();
    assert_eq!(
        refusal(east_gate.scan(&code(&order, 1), now).unwrap_err()).code(),
        "already_used"
    );
    // West cannot know east let ticket 1 in.
    let later = "2026-11-25T01:07:00Z".parse().unwrap();
    let w1 = west_gate.scan(&code(&order, 1), later).unwrap();
    let w2 = west_gate.scan(&code(&order, 2), later).unwrap();
    assert!(matches!(
        east_gate.scan("GH1AAAA", now),
        Err(GateError::Code(TokenRefused::Malformed(_)))
    ));

    w.at("2026-11-25T01:30:00Z");
    let line = |a: &gatehouse_gates::Admitted| entry(&a.lines[0].code, &a.lines[0].at.to_string());
    let up = w.gates.upload(&east, &[line(&e1)]).await.unwrap();
    assert_eq!((up.recorded, up.double_uses), (1, 0));
    let up = w
        .gates
        .upload(&west, &[line(&w1), line(&w2)])
        .await
        .unwrap();
    assert_eq!((up.recorded, up.double_uses), (1, 1));
    // A retried upload changes nothing.
    let up = w
        .gates
        .upload(&west, &[line(&w1), line(&w2)])
        .await
        .unwrap();
    assert_eq!((up.recorded, up.double_uses, up.repeated), (0, 0, 2));

    let doubles = w.gates.double_uses(day).await.unwrap();
    assert_eq!(doubles.len(), 1);
    assert_eq!(doubles[0].ticket, order.tickets[1].ticket.id);
    let gates: Vec<&str> = doubles[0].entries.iter().map(|e| e.gate.as_str()).collect();
    assert_eq!(gates, ["east", "west"]);

    // Bad uploads are refused whole: a forged code, an impossible instant, too many entries.
    let before = w.gates.counts(day).await.unwrap();
    let mut forged = code(&order, 2);
    forged.replace_range(10..11, if &forged[10..11] == "A" { "B" } else { "A" });
    for bad in [
        vec![line(&w2), entry(&forged, &e1.lines[0].at.to_string())],
        vec![entry(&code(&order, 2), "yesterday")],
        vec![entry(&code(&order, 2), "2026-11-26T01:00:00Z")],
        vec![],
        vec![line(&w2); 251],
    ] {
        assert!(matches!(
            w.gates.upload(&east, &bad).await,
            Err(GateError::Invalid { .. })
        ));
    }
    assert_eq!(w.gates.counts(day).await.unwrap(), before);
    assert_eq!(w.gates.double_uses(day).await.unwrap(), doubles);
}

#[tokio::test]
async fn a_group_code_lets_in_every_member_not_yet_in_once() {
    let w = world().await;
    let v = w.visitor().await;
    let group = w.group_order(&v, 100, 5).await;
    let plain = w.order(&v, 1, 2).await;
    assert!(plain.group_code.is_none(), "only group orders have one");
    let group_code = group
        .group_code
        .clone()
        .expect("a group order has a group code");
    w.booking
        .refund_tickets(
            &v,
            &group.order.id,
            &[group.tickets[4].ticket.id.clone()],
            None,
            |_, _| Ok(Vec::new()),
        )
        .await
        .unwrap();
    let gate = w.gates.register_device("gate 1").await.unwrap().device;
    let door = w.gates.register_device("gate 2").await.unwrap().device;
    w.at("2026-11-25T00:50:00Z");
    // One member came early with their own code.
    w.gates.scan(&gate, &code(&group, 0)).await.unwrap();
    w.at("2026-11-25T01:00:00Z");
    let admitted = w.gates.scan(&door, &group_code).await.unwrap();
    let members: Vec<_> = group.tickets[1..4]
        .iter()
        .map(|t| t.ticket.id.clone())
        .collect();
    assert_eq!(admitted.tickets, members);
    let g = admitted.group.unwrap();
    assert_eq!(g.order, group.order.id);
    assert_eq!(g.head_count, 5);
    assert_eq!(
        (g.tally.admitted, g.tally.already_in, g.tally.not_admissible),
        (3, 1, 1)
    );
    // Nobody is let in twice: not by the group code, not by a member's own code.
    w.at("2026-11-25T01:02:00Z");
    let again = refusal(w.gates.scan(&gate, &group_code).await.unwrap_err());
    assert_eq!(
        w.gates.describe(&again),
        "already used at 08:50, gate 1",
        "the earliest entry of the group"
    );
    let member = refusal(w.gates.scan(&gate, &code(&group, 2)).await.unwrap_err());
    assert_eq!(w.gates.describe(&member), "already used at 09:00, gate 2");
    // Counts are per person.
    let counts = w.gates.counts(date(2026, 11, 25)).await.unwrap();
    assert_eq!(counts[0].checked_in, 4);
    assert_eq!(
        counts[0].by_gate,
        [("gate 1".to_owned(), 1), ("gate 2".to_owned(), 3)]
    );
    // A plain order's ticket is let in alone.
    let alone = w.gates.scan(&gate, &code(&plain, 0)).await.unwrap();
    assert_eq!(alone.tickets.len(), 1);
    assert!(alone.group.is_none());
}

#[tokio::test]
async fn a_group_code_scanned_at_two_gates_at_once_lets_each_member_in_once() {
    let w = world().await;
    let v = w.visitor().await;
    let group = w.group_order(&v, 100, 30).await;
    let group_code = group.group_code.clone().unwrap();
    let a = w.gates.register_device("gate 1").await.unwrap().device;
    let b = w.gates.register_device("gate 2").await.unwrap().device;
    w.at("2026-11-25T01:00:00Z");
    let scans = (0..8).map(|i| {
        let gates = w.gates.clone();
        let device = if i % 2 == 0 { a.clone() } else { b.clone() };
        let code = if i == 3 {
            code(&group, 7)
        } else {
            group_code.clone()
        };
        tokio::spawn(async move { gates.scan(&device, &code).await })
    });
    let mut let_in = Vec::new();
    for scan in scans {
        if let Ok(admitted) = scan.await.unwrap() {
            let_in.extend(admitted.tickets);
        }
    }
    let_in.sort();
    let mut all: Vec<_> = group.tickets.iter().map(|t| t.ticket.id.clone()).collect();
    all.sort();
    assert_eq!(let_in, all, "every member once, nobody twice");
}

#[tokio::test]
async fn an_offline_gate_admits_a_group_by_its_code_and_uploads_each_member() {
    let w = world().await;
    let v = w.visitor().await;
    let group = w.group_order(&v, 100, 4).await;
    let other = w.order(&v, 1, 1).await;
    let group_code = group.group_code.clone().unwrap();
    let online = w.gates.register_device("gate 1").await.unwrap().device;
    let east = w.gates.register_device("east").await.unwrap().device;
    w.at("2026-11-25T00:50:00Z");
    w.gates.scan(&online, &code(&group, 3)).await.unwrap();
    let day = date(2026, 11, 25);
    let bundle = w.gates.bundle(&east, day).await.unwrap();
    assert_eq!(bundle.groups.len(), 1);
    assert_eq!(bundle.groups[0].order, group.order.id.0);
    assert_eq!(bundle.groups[0].tickets.len(), 4);
    let mut gate = OfflineGate::from_bundle(&bundle).unwrap();
    let now = "2026-11-25T01:05:00Z".parse().unwrap();
    let admitted = gate.scan(&group_code, now).unwrap();
    assert_eq!(admitted.tickets.len(), 3, "the member already in stays out");
    assert_eq!(admitted.lines.len(), 3);
    assert!(admitted
        .lines
        .iter()
        .all(|l| l.code == group_code && l.ticket.is_some()));
    assert_eq!(
        refusal(gate.scan(&group_code, now).unwrap_err()).code(),
        "already_used"
    );
    assert_eq!(
        refusal(gate.scan(&code(&group, 0), now).unwrap_err()).code(),
        "already_used"
    );
    // Journal lines survive a round trip through their text form.
    for line in &admitted.lines {
        assert_eq!(
            gatehouse_gates::JournalLine::parse(&line.to_line()).as_ref(),
            Some(line)
        );
    }

    w.at("2026-11-25T01:30:00Z");
    let uploaded: Vec<gatehouse_gates::UploadedEntry> = admitted
        .lines
        .iter()
        .map(|l| gatehouse_gates::UploadedEntry {
            code: l.code.clone(),
            at: l.at.to_string(),
            ticket: l.ticket.clone(),
        })
        .collect();
    let up = w.gates.upload(&east, &uploaded).await.unwrap();
    assert_eq!((up.recorded, up.double_uses), (3, 0));
    assert_eq!(w.gates.counts(day).await.unwrap()[0].checked_in, 4);

    // A group entry must name a member of that group; a ticket's own code names none.
    let bad_entries = [
        gatehouse_gates::UploadedEntry {
            ticket: Some(other.tickets[0].ticket.id.0.clone()),
            ..uploaded[0].clone()
        },
        gatehouse_gates::UploadedEntry {
            ticket: None,
            ..uploaded[0].clone()
        },
        gatehouse_gates::UploadedEntry {
            ticket: Some(group.tickets[0].ticket.id.0.clone()),
            ..entry(&code(&other, 0), &uploaded[0].at)
        },
    ];
    for bad in bad_entries {
        match w.gates.upload(&east, std::slice::from_ref(&bad)).await {
            Err(GateError::Invalid { field, .. }) => assert_eq!(field, "entries[0].ticket"),
            other => panic!("expected a refusal of the ticket field, got {other:?}"),
        }
    }
    assert_eq!(w.gates.counts(day).await.unwrap()[0].checked_in, 4);
}

#[tokio::test]
async fn three_no_shows_in_ninety_days_lock_the_account_and_the_id_number_until_staff_lift_it() {
    let w = world().await;
    let v = w.visitor().await;
    let gate = w.gates.register_device("gate 1").await.unwrap().device;
    let days = [date(2026, 11, 25), date(2026, 11, 26), date(2026, 11, 27)];
    let mut slots = vec![w.slot.clone()];
    slots.push(w.slot_on(days[1]).await);
    slots.push(w.slot_on(days[2]).await);
    slots.push(w.slot_on(date(2026, 11, 30)).await);
    // The same visitor (ID 1) books three days and never comes; a companion (ID 2) comes the
    // first two days.
    let mut orders = Vec::new();
    for slot in &slots[..3] {
        orders.push(w.order_for(&v, slot, 1, 2).await.unwrap());
    }
    w.at("2026-11-25T01:00:00Z");
    w.gates.scan(&gate, &code(&orders[0], 1)).await.unwrap();
    w.at("2026-11-26T01:00:00Z");
    w.gates.scan(&gate, &code(&orders[1], 1)).await.unwrap();
    // Entry to the 09:00–10:30 slot closes at 10:30 (no late margin): 10:31 Beijing.
    for (i, day) in ["2026-11-25T02:31:00Z", "2026-11-26T02:31:00Z"]
        .iter()
        .enumerate()
    {
        w.at(day);
        let swept = w.gates.sweep_no_shows().await.unwrap();
        assert_eq!(swept.recorded, 1, "day {i}");
        assert!(swept.locks.is_empty(), "two no-shows lock nothing");
    }
    assert_eq!(
        w.gates.sweep_no_shows().await.unwrap().recorded,
        0,
        "each ticket once"
    );
    w.at("2026-11-27T02:31:00Z");
    let swept = w.gates.sweep_no_shows().await.unwrap();
    assert_eq!(swept.recorded, 2);
    // ID 1 reached three: it is locked, with the account that booked it (which has four).
    let subjects: Vec<&str> = swept
        .locks
        .iter()
        .map(|l| match l.subject {
            gatehouse_domain::no_show::LockSubject::Account(_) => "account",
            gatehouse_domain::no_show::LockSubject::IdNumber(_) => "id_number",
        })
        .collect();
    assert_eq!(subjects, ["id_number", "account"], "{:?}", swept.locks);
    assert_eq!(
        swept.locks[0].until,
        "2026-12-27T02:31:00Z".parse().unwrap()
    );
    assert_eq!(
        swept.locks[0].reason,
        "3 no-shows within 90 days (the limit is 3)"
    );
    w.booking.refresh_id_locks().await.unwrap();

    // The account is locked; the ID number is locked whichever account books it.
    let v_now = w.accounts.account(v.id).await.unwrap().unwrap();
    assert!(matches!(
        w.order_for(&v_now, &slots[3], 1, 1).await,
        Err(gatehouse_domain::BookingError::AccountLocked { .. })
    ));
    let other = w.visitor().await;
    match w.order_for(&other, &slots[3], 1, 1).await {
        Err(e @ gatehouse_domain::BookingError::IdLocked { .. }) => {
            assert_eq!(e.field().as_deref(), Some("tickets[0].visitor.id_number"));
        }
        other => panic!("{other:?}"),
    }
    w.order_for(&other, &slots[3], 3, 1).await.unwrap();
    assert_eq!(w.gates.no_show_locks_of(v.id).await.unwrap().len(), 2);

    // Staff lift both locks with a reason.
    for lock in &swept.locks {
        assert!(matches!(
            w.gates.lift_no_show_lock(lock.id, " ").await,
            Err(GateError::Invalid { .. })
        ));
        let lifted = w
            .gates
            .lift_no_show_lock(lock.id, "hospital visit, proof seen")
            .await
            .unwrap();
        assert_eq!(lifted.lifted.unwrap().reason, "hospital visit, proof seen");
        assert!(matches!(
            w.gates.lift_no_show_lock(lock.id, "again").await,
            Err(GateError::Conflict(_))
        ));
    }
    w.booking.refresh_id_locks().await.unwrap();
    let v_now = w.accounts.account(v.id).await.unwrap().unwrap();
    assert_eq!(v_now.locked_until, None);
    w.order_for(&v_now, &slots[3], 1, 1).await.unwrap();
    assert!(w.gates.active_no_show_locks().await.unwrap().is_empty());
}
