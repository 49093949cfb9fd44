//! Hostile bytes through every transformation the engine knows, one after another as rules
//! chain them: never a panic, and no output out of proportion to the input.
#![no_main]

use gatehouse_waf::transform::Transformation;
use libfuzzer_sys::fuzz_target;

const ALL: [&str; 22] = [
    "base64Decode", "cmdLine", "compressWhitespace", "cssDecode", "escapeSeqDecode", "hexEncode",
    "htmlEntityDecode", "jsDecode", "length", "lowercase", "normalizePath", "normalizePathWin",
    "removeCommentsChar", "removeNulls", "removeWhitespace", "replaceComments", "sha1", "trim",
    "urlDecode", "urlDecodeUni", "uppercase", "utf8toUnicode",
];

fuzz_target!(|data: &[u8]| {
    let mut chained: Vec<u8> = data.to_vec();
    for name in ALL {
        let Ok(Some(t)) = Transformation::named(name) else {
            continue;
        };
        let out = t.apply(data);
        assert!(out.len() <= data.len() * 6 + 64, "{name} grew too much");
        chained = t.apply(&chained).into_owned();
        chained.truncate(1 << 16);
    }
});
