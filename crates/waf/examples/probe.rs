#![allow(clippy::all, clippy::pedantic, clippy::restriction, unsafe_code)]
use gatehouse_waf::firewall::{Firewall, RuleFiles, Setup};
use gatehouse_waf::request::Request;
fn main() {
    let fw = Firewall::load(
        &RuleFiles {
            crs: "../shared/crs".into(),
            libinjection: "../shared/libinjection".into(),
        },
        Setup::default(),
    )
    .unwrap();
    let n_req: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().unwrap())
        .unwrap_or(1000);
    let mut total = std::time::Duration::ZERO;
    for n0 in 0..n_req {
        let n = if std::env::var("SAME").is_ok() { 5 } else { n0 };
        let body = format!(
            r#"{{"slot_id":4211,"notice_version":3,"contact_phone":"138{:08}","tickets":[{{"ticket_type_id":12,"visitor":{{"name":"张{}","id_type":"resident_id","id_number":"1101051949123{:04}X"}}}},{{"ticket_type_id":13,"visitor":{{"name":"李{}明","id_type":"resident_id","id_number":"1101051949123{:04}1"}},"seat":"7排12座"}}]}}"#,
            n,
            ["小", "华", "丽", "伟"][n % 4],
            n % 10000,
            ["小", "华", "丽", "伟"][(n / 4) % 4],
            (n * 7) % 10000
        );
        let req = Request {
            method: "POST".into(),
            uri: "/api/v1/orders".into(),
            protocol: "HTTP/1.1".into(),
            headers: vec![
                ("Host".into(), b"tickets.museum.example".to_vec()),
                (
                    "User-Agent".into(),
                    b"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15"
                        .to_vec(),
                ),
                (
                    "Accept".into(),
                    b"application/json, text/plain, */*".to_vec(),
                ),
                (
                    "Accept-Language".into(),
                    b"zh-CN,zh;q=0.9,en;q=0.8".to_vec(),
                ),
                ("Accept-Encoding".into(), b"gzip, deflate, br".to_vec()),
                (
                    "Cookie".into(),
                    b"gh_session=3f9a1c0e7b2d4a6f8e1c3b5d7f9a2c4e; lang=zh".to_vec(),
                ),
                ("Content-Type".into(), b"application/json".to_vec()),
                (
                    "Idempotency-Key".into(),
                    format!("b7c1d2e3-4f56-4789-9abc-{n:012x}").into_bytes(),
                ),
                (
                    "Authorization".into(),
                    format!(
                        "Bearer v1.{:032x}",
                        (n as u128 + 7).wrapping_mul(0x2545_f491_4f6c_dd1d)
                    )
                    .into_bytes(),
                ),
                ("Content-Length".into(), body.len().to_string().into_bytes()),
            ],
            body: body.into_bytes(),
            client: "198.51.100.7".parse().unwrap(),
            client_port: 40000,
            server_port: 443,
        };
        if n0 == n_req - 1 {
            TRACING.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        let a0 = ALLOCS.load(std::sync::atomic::Ordering::Relaxed);
        let t = std::time::Instant::now();
        let tx = fw.examine_request(&req, format!("u{n}"));
        total += t.elapsed();
        if n0 == n_req - 1 {
            println!(
                "allocs {}",
                ALLOCS.load(std::sync::atomic::Ordering::Relaxed) - a0
            );
            dump_sites();
        }
        assert!(tx.fired.is_empty(), "{:?}", tx.fired_ids());
    }
    println!("mean {:?}", total / n_req as u32);
}
#[allow(dead_code)]
fn _x() {}
struct Counting;
pub static ALLOCS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: std::alloc::Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        trace();
        unsafe { std::alloc::System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: std::alloc::Layout) {
        unsafe { std::alloc::System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: std::alloc::Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        trace();
        unsafe { std::alloc::System.realloc(p, l, n) }
    }
}
#[global_allocator]
static GLOBAL: Counting = Counting;

pub static TRACING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
thread_local! { static IN: std::cell::Cell<bool> = const { std::cell::Cell::new(false) }; static SITES: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) }; }
fn trace() {
    if !TRACING.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    if IN.with(|i| i.replace(true)) {
        return;
    }
    let bt = std::backtrace::Backtrace::force_capture().to_string();
    let frames: Vec<&str> = bt
        .lines()
        .map(|l| l.trim())
        .filter(|l| l.starts_with("at ./crates/waf/src/"))
        .map(|l| l.trim_start_matches("at ./crates/waf/src/"))
        .take(3)
        .collect();
    let key = frames.join(" <- ");
    if key.is_empty() && std::env::var("SHOW").is_ok() {
        IN.with(|i| i.set(true));
        eprintln!("{bt}");
        std::process::exit(0);
    }
    SITES.with(|s| s.borrow_mut().push(key));
    IN.with(|i| i.set(false));
}
pub fn dump_sites() {
    TRACING.store(false, std::sync::atomic::Ordering::Relaxed);
    let v = SITES.with(|s| s.borrow().clone());
    let mut m = std::collections::HashMap::<String, usize>::new();
    for k in v {
        *m.entry(k).or_default() += 1;
    }
    let mut v: Vec<_> = m.into_iter().collect();
    v.sort_by_key(|x| std::cmp::Reverse(x.1));
    for (k, c) in v.iter().take(30) {
        println!("{c:5} {k}");
    }
}
