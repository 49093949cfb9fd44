//! Who may do what: the staff roles, the permissions every route declares, and the one table
//! that grants permissions to roles. Least privilege: a role gets exactly the permissions its
//! work needs, and the table-driven route test in the API crate fails if a route lets any role
//! do more than this table says.

use std::fmt;

/// A role an account holds. Visitors book for themselves; every other role is staff, and staff
/// accounts do not book (an administrator holds every permission but self-service).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Visitor,
    Administrator,
    CatalogueOperator,
    GateStaff,
    CustomerSupport,
    SecurityAnalyst,
    Auditor,
    /// Reads the money side: reconciliation reports.
    Finance,
}

impl Role {
    pub const ALL: [Role; 8] = [
        Role::Visitor,
        Role::Administrator,
        Role::CatalogueOperator,
        Role::GateStaff,
        Role::CustomerSupport,
        Role::SecurityAnalyst,
        Role::Auditor,
        Role::Finance,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Visitor => "visitor",
            Role::Administrator => "administrator",
            Role::CatalogueOperator => "catalogue_operator",
            Role::GateStaff => "gate_staff",
            Role::CustomerSupport => "customer_support",
            Role::SecurityAnalyst => "security_analyst",
            Role::Auditor => "auditor",
            Role::Finance => "finance",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }

    /// The permissions this role holds.
    pub fn permissions(self) -> &'static [Permission] {
        use Permission::*;
        match self {
            Role::Visitor => &[SelfService],
            Role::Administrator => &[
                CatalogueManage,
                OrdersRead,
                OrdersManage,
                AccountsLock,
                StaffManage,
                CheckIn,
                RiskManage,
                RiskAssess,
                FirewallManage,
                IntelManage,
                AuditRead,
                SmsOutboxRead,
                PaymentsReconcile,
                SecurityEventsRead,
                GatesManage,
                TrafficManage,
                PersonalDataReveal,
                DataRequestsManage,
                BreachManage,
            ],
            Role::CatalogueOperator => &[CatalogueManage],
            Role::GateStaff => &[CheckIn],
            // Support calls visitors back about their orders: it may reveal, with a purpose.
            // and handles visitors' data requests (export, correct, delete) with their deadlines.
            Role::CustomerSupport => &[
                OrdersRead,
                OrdersManage,
                PersonalDataReveal,
                DataRequestsManage,
            ],
            Role::SecurityAnalyst => &[
                AccountsLock,
                RiskManage,
                RiskAssess,
                FirewallManage,
                IntelManage,
                SecurityEventsRead,
                TrafficManage,
                BreachManage,
            ],
            Role::Auditor => &[AuditRead],
            Role::Finance => &[PaymentsReconcile],
        }
    }
}

/// What a route needs. Every route of the API names exactly one (or none, for public routes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// A visitor's own profile, frequent visitors, orders, consent and face verification.
    SelfService,
    /// Products, ticket types, notices, slots and capacities.
    CatalogueManage,
    /// Any visitor's orders, personal data masked.
    OrdersRead,
    /// Cancelling and refunding any visitor's orders.
    OrdersManage,
    /// Locking an account out of booking.
    AccountsLock,
    /// Creating accounts and granting roles.
    StaffManage,
    /// Validating tickets at the gate.
    CheckIn,
    /// Risk policies, decisions, replays and usage.
    RiskManage,
    /// Calling the risk assessment (the metered "risk identification" product).
    RiskAssess,
    FirewallManage,
    IntelManage,
    /// Reading the audit trail (sign-ins, role changes, reveals).
    AuditRead,
    /// Reading the local SMS provider's outbox (demo and tests only).
    SmsOutboxRead,
    /// Running and reading the daily reconciliation of the providers' bills.
    PaymentsReconcile,
    /// Reading security events (forged notifications, tampered amounts…).
    SecurityEventsRead,
    /// Registering and revoking gate devices (their credentials admit visitors).
    GatesManage,
    /// Traffic protection: block and allow lists, usage.
    TrafficManage,
    /// Revealing one personal field of one record in clear, with a stated purpose (audited).
    PersonalDataReveal,
    /// Handling visitors' data requests (export, correction, erasure) and their deadlines.
    DataRequestsManage,
    /// Opening breach records and notifying the people affected.
    BreachManage,
}

impl Permission {
    pub const ALL: [Permission; 20] = [
        Permission::SelfService,
        Permission::CatalogueManage,
        Permission::OrdersRead,
        Permission::OrdersManage,
        Permission::AccountsLock,
        Permission::StaffManage,
        Permission::CheckIn,
        Permission::RiskManage,
        Permission::RiskAssess,
        Permission::FirewallManage,
        Permission::IntelManage,
        Permission::AuditRead,
        Permission::SmsOutboxRead,
        Permission::PaymentsReconcile,
        Permission::SecurityEventsRead,
        Permission::GatesManage,
        Permission::TrafficManage,
        Permission::PersonalDataReveal,
        Permission::DataRequestsManage,
        Permission::BreachManage,
    ];

    /// The name routes declare in the OpenAPI document (as the bearer scheme's scope).
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::SelfService => "self_service",
            Permission::CatalogueManage => "catalogue_manage",
            Permission::OrdersRead => "orders_read",
            Permission::OrdersManage => "orders_manage",
            Permission::AccountsLock => "accounts_lock",
            Permission::StaffManage => "staff_manage",
            Permission::CheckIn => "check_in",
            Permission::RiskManage => "risk_manage",
            Permission::RiskAssess => "risk_assess",
            Permission::FirewallManage => "firewall_manage",
            Permission::IntelManage => "intel_manage",
            Permission::AuditRead => "audit_read",
            Permission::SmsOutboxRead => "sms_outbox_read",
            Permission::PaymentsReconcile => "payments_reconcile",
            Permission::SecurityEventsRead => "security_events_read",
            Permission::GatesManage => "gates_manage",
            Permission::TrafficManage => "traffic_manage",
            Permission::PersonalDataReveal => "personal_data_reveal",
            Permission::DataRequestsManage => "data_requests_manage",
            Permission::BreachManage => "breach_manage",
        }
    }

    pub fn parse(s: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// A set of roles, stored as a comma-separated list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Roles(u8);

impl Roles {
    pub fn of(roles: &[Role]) -> Roles {
        Roles(roles.iter().fold(0, |acc, r| acc | r.bit()))
    }

    pub fn contains(self, role: Role) -> bool {
        self.0 & role.bit() != 0
    }

    pub fn iter(self) -> impl Iterator<Item = Role> {
        Role::ALL.into_iter().filter(move |r| self.contains(*r))
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether any held role grants `permission`.
    pub fn allow(self, permission: Permission) -> bool {
        self.iter().any(|r| r.permissions().contains(&permission))
    }

    /// Whether these are staff roles (anything besides visitor).
    pub fn is_staff(self) -> bool {
        self.iter().any(|r| r != Role::Visitor)
    }

    /// Parses the stored form; unknown names are an error, not silently dropped, so a typo in
    /// a grant can never widen or narrow access unnoticed.
    pub fn parse(list: &str) -> Result<Roles, String> {
        let mut roles = Roles::default();
        for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let role = Role::parse(name).ok_or_else(|| format!("unknown role {name:?}"))?;
            roles.0 |= role.bit();
        }
        Ok(roles)
    }
}

impl fmt::Display for Roles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Role::as_str).collect();
        f.write_str(&names.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_through_their_stored_form() {
        for a in Role::ALL {
            for b in Role::ALL {
                let roles = Roles::of(&[a, b]);
                assert_eq!(Roles::parse(&roles.to_string()), Ok(roles));
            }
        }
        assert!(Roles::parse("administrator,root").is_err());
    }

    #[test]
    fn only_administrators_manage_staff_and_only_visitors_book() {
        for role in Role::ALL {
            let r = Roles::of(&[role]);
            assert_eq!(
                r.allow(Permission::StaffManage),
                role == Role::Administrator
            );
            assert_eq!(r.allow(Permission::SelfService), role == Role::Visitor);
        }
        assert!(!Roles::of(&[Role::GateStaff]).allow(Permission::OrdersRead));
        assert!(!Roles::of(&[Role::Auditor]).allow(Permission::OrdersManage));
        assert!(!Roles::default().allow(Permission::SelfService));
    }
}
