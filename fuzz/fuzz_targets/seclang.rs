//! Arbitrary text through the SecLang reader: a rule file that does not parse is an error with
//! its line, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = gatehouse_waf::seclang::parse(text, "fuzz.conf");
    }
});
