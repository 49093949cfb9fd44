//! Cinema seats under contention, through the real server: many visitors race for one small
//! showing at once (half picking the same middle seats); no seat is sold twice, no more than
//! the house is sold, and after `kill -9` and a restart the server's seat view still agrees.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_visitors_never_get_the_same_seat() {
    for db in databases("seats") {
        let dir = tempfile::tempdir().unwrap();
        let admin = admin_token(dir.path(), &db).await;
        let mut server = Server::start(dir.path(), &db, &dir.path().join("log"), false).await;
        // 3 rows × 20 seats for 150 clients of 1–4 people: far more people than seats.
        let (slot, tt) = gatehouse_bench::seats::seated_showing(&server.addr, &admin, 3)
            .await
            .unwrap();
        let tokens = gatehouse_bench::sign_in_visitors(&server.addr, &admin, 150, 3_000_000)
            .await
            .unwrap();
        let out = gatehouse_bench::seats::race(&server.addr, slot, tt, 3, tokens, 7)
            .await
            .unwrap();
        assert!(out.other.is_empty(), "{:?}", out.other);
        assert_eq!(out.double_sold(), 0, "{:?}", out.sold);
        let sold = out.sold.len();
        assert!((50..=60).contains(&sold), "{sold} seats sold of 60");
        assert!(out.seat_taken > 0, "the race must actually contend");
        assert_eq!(out.server_free, (60 - sold) as i64);

        server.kill9();
        let _ = server.child.wait().await;
        let server = Server::start(dir.path(), &db, &dir.path().join("log"), false).await;
        let (_, view) = send(
            &server.addr,
            Method::GET,
            &format!("/api/v1/slots/{slot}/seats"),
            None,
            None,
        )
        .await;
        assert_eq!(
            view["free"],
            (60 - sold) as i64,
            "the seats rebuilt from the database agree"
        );
        server.stop().await;
        drop_schema(&db).await;
    }
}
