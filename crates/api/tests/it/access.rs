//! Least privilege, checked route by route: every route in the OpenAPI document is called by
//! every role (and by no one), and the answer must match what the route declares in the
//! document and what the role table in `gatehouse-domain` grants. A route that declares
//! nothing, or a role that gets through where the table says it must not, fails the test.

use super::*;
use gatehouse_domain::access::Permission;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Needs {
    Public,
    SignedIn,
    Permission(Permission),
    /// A gate device's own credential; no staff session will do.
    Device,
}

fn declared(op: &Value, what: &str) -> Needs {
    match op.get("security") {
        None => Needs::Public,
        Some(list) if list[0].get("gate_device").is_some() => Needs::Device,
        Some(list) => {
            let scopes = list[0]["bearer"]
                .as_array()
                .unwrap_or_else(|| panic!("{what}: security must name the bearer scheme"));
            match scopes.as_slice() {
                [] => Needs::SignedIn,
                [one] => Needs::Permission(
                    Permission::parse(one.as_str().unwrap())
                        .unwrap_or_else(|| panic!("{what}: unknown permission {one}")),
                ),
                _ => panic!("{what}: a route declares one permission"),
            }
        }
    }
}

#[tokio::test]
async fn every_route_grants_exactly_what_the_role_table_allows() {
    let a = api().await;
    let doc = serde_json::to_value(gatehouse_api::openapi()).unwrap();
    let mut accounts = Vec::new();
    for role in Role::ALL {
        let account = a
            .identity
            .create_account(role.as_str(), Roles::of(&[role]))
            .await
            .unwrap();
        accounts.push((role, account));
    }
    let public = [
        "/api/v1/auth/phone/code",
        "/api/v1/auth/phone/sign-in",
        "/api/v1/auth/refresh",
        "/api/v1/auth/break-glass",
        "/api/v1/auth/alipay/sign-in",
        "/api/v1/auth/wechat/sign-in",
        // Authenticated by the providers' signatures instead of a session.
        "/api/v1/payments/notify/wechat_pay",
        "/api/v1/payments/notify/alipay",
        // A challenge's SMS path: for visitors not yet signed in.
        "/.gatehouse/sms/code",
        "/.gatehouse/sms/verify",
    ];
    let mut checked = 0;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let what = format!("{} {path}", method.to_uppercase());
            let needs = declared(op, &what);
            if needs == Needs::Public {
                // Public routes are the catalogue (GET) and sign-in itself; anything else that
                // forgot to declare a permission would be open to the world.
                assert!(
                    method == "get" || public.contains(&path.as_str()),
                    "{what} is public: declare its permission"
                );
            }
            let uri = path.replace("{id}", "999999");
            let body = matches!(method.as_str(), "post" | "put" | "patch").then(|| "{}".to_owned());
            let (s, e) = call_raw(
                &a.app,
                &method.to_uppercase(),
                &uri,
                None,
                body.as_deref(),
                &[],
            )
            .await;
            if needs == Needs::Public {
                assert_ne!(s, StatusCode::FORBIDDEN, "{what} anonymous: {e}");
            } else {
                assert_eq!(s, StatusCode::UNAUTHORIZED, "{what} anonymous: {e}");
            }
            for (role, account) in &accounts {
                // A fresh session per call: some routes sign out.
                let token = a
                    .identity
                    .issue_session(account.clone(), SignInMethod::Console)
                    .await
                    .unwrap()
                    .access_token;
                let (s, e) = call_raw(
                    &a.app,
                    &method.to_uppercase(),
                    &uri,
                    Some(&token),
                    body.as_deref(),
                    &[],
                )
                .await;
                let refused = s == StatusCode::FORBIDDEN && e["code"] == "forbidden";
                if needs == Needs::Device {
                    assert_eq!(
                        (s, e["code"].as_str()),
                        (StatusCode::UNAUTHORIZED, Some("device_unknown")),
                        "{what} as {role:?}: a session is not a device credential"
                    );
                    checked += 1;
                    continue;
                }
                if needs == Needs::Public {
                    // Public routes answer on their own terms (a refresh without a token is
                    // 401); they just never refuse by role.
                    assert!(!refused, "{what} as {role:?}: {s} {e}");
                    checked += 1;
                    continue;
                }
                let allowed = match needs {
                    Needs::Public | Needs::SignedIn | Needs::Device => true,
                    Needs::Permission(p) => Roles::of(&[*role]).allow(p),
                };
                if allowed {
                    assert!(
                        !refused && s != StatusCode::UNAUTHORIZED,
                        "{what} as {role:?}: {s} {e}"
                    );
                } else {
                    assert!(refused, "{what} as {role:?} must be refused, got {s} {e}");
                }
                checked += 1;
            }
        }
    }
    assert!(
        checked >= 8 * 42,
        "only {checked} calls: routes went missing from the document"
    );
}

#[test]
fn the_role_table_is_least_privilege() {
    use Permission::*;
    let grants = |role: Role| -> Vec<Permission> {
        Permission::ALL
            .into_iter()
            .filter(|p| Roles::of(&[role]).allow(*p))
            .collect()
    };
    assert_eq!(grants(Role::Visitor), vec![SelfService]);
    assert_eq!(grants(Role::GateStaff), vec![CheckIn]);
    assert_eq!(grants(Role::CatalogueOperator), vec![CatalogueManage]);
    assert_eq!(
        grants(Role::CustomerSupport),
        vec![
            OrdersRead,
            OrdersManage,
            PersonalDataReveal,
            DataRequestsManage
        ]
    );
    assert_eq!(
        grants(Role::SecurityAnalyst),
        vec![
            AccountsLock,
            RiskManage,
            RiskAssess,
            FirewallManage,
            IntelManage,
            SecurityEventsRead,
            TrafficManage,
            BreachManage
        ]
    );
    assert_eq!(grants(Role::Auditor), vec![AuditRead]);
    assert_eq!(grants(Role::Finance), vec![PaymentsReconcile]);
    assert!(!grants(Role::Administrator).contains(&SelfService));
}
