//! Hostile input through libinjection's SQLi and XSS detection (its data is read once from
//! ../../shared/libinjection, or GH_LIBINJECTION_DIR).
#![no_main]

use std::sync::OnceLock;

use gatehouse_waf::libinjection::{detect_sqli, detect_xss, SqliData};
use libfuzzer_sys::fuzz_target;

fn data() -> &'static SqliData {
    static DATA: OnceLock<SqliData> = OnceLock::new();
    DATA.get_or_init(|| {
        let dir = std::env::var_os("GH_LIBINJECTION_DIR")
            .map_or_else(|| "../../shared/libinjection".into(), std::path::PathBuf::from);
        SqliData::load(&dir).expect("libinjection's data")
    })
}

fuzz_target!(|input: &[u8]| {
    let _ = detect_sqli(input, data());
    let _ = detect_xss(input);
});
