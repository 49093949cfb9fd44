//! Hostile request bodies through every body processor: the first byte picks the processor
//! (URLENCODED, JSON, XML, multipart), the rest is the body. Each must answer (variables or a
//! body error) without panicking, in bounded time and memory.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    match pick % 4 {
        0 => {
            let _ = gatehouse_waf::body::urlencoded(body, b'&');
        }
        1 => {
            let _ = gatehouse_waf::body::json(body);
        }
        2 => {
            let _ = gatehouse_waf::body::xml(body);
        }
        _ => {
            let _ = gatehouse_waf::multipart::parse(b"multipart/form-data; boundary=XyZ", body);
        }
    }
});
