//! libinjection's data: which parser each byte starts, the SQL keywords with their token types,
//! and the fingerprints of SQL injection. It is read from libinjection's own
//! `sqlparse_data.json` (kept outside this repository, like the CRS), so the tokenizer and the
//! verdicts are exactly libinjection's.

use std::collections::{HashMap, HashSet};
use std::path::Path;

/// What a byte starts, by libinjection's character classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CharClass {
    White,
    Bang,
    Str,
    Hash,
    Money,
    Op1,
    Op2,
    LeftParens,
    RightParens,
    Unary,
    Comma,
    Dash,
    Num,
    Slash,
    Semicolon,
    Other,
    Var,
    Word,
    BString,
    EString,
    NqString,
    QString,
    UString,
    XString,
    BWord,
    Back,
    Tick,
    LeftBrace,
    RightBrace,
}

impl CharClass {
    fn named(name: &str) -> Option<Self> {
        use CharClass::*;
        Some(match name {
            "CHAR_WHITE" => White,
            "CHAR_BANG" => Bang,
            "CHAR_STR" => Str,
            "CHAR_HASH" => Hash,
            "CHAR_MONEY" => Money,
            "CHAR_OP1" => Op1,
            "CHAR_OP2" => Op2,
            "CHAR_LEFTPARENS" => LeftParens,
            "CHAR_RIGHTPARENS" => RightParens,
            "CHAR_UNARY" => Unary,
            "CHAR_COMMA" => Comma,
            "CHAR_DASH" => Dash,
            "CHAR_NUM" => Num,
            "CHAR_SLASH" => Slash,
            "CHAR_SEMICOLON" => Semicolon,
            "CHAR_OTHER" => Other,
            "CHAR_VAR" => Var,
            "CHAR_WORD" => Word,
            "CHAR_BSTRING" => BString,
            "CHAR_ESTRING" => EString,
            "CHAR_NQSTRING" => NqString,
            "CHAR_QSTRING" => QString,
            "CHAR_USTRING" => UString,
            "CHAR_XSTRING" => XString,
            "CHAR_BWORD" => BWord,
            "CHAR_BACK" => Back,
            "CHAR_TICK" => Tick,
            "CHAR_LEFTBRACE" => LeftBrace,
            "CHAR_RIGHTBRACE" => RightBrace,
            _ => return None,
        })
    }
}

/// libinjection's tables.
#[derive(Debug)]
pub struct SqliData {
    classes: [CharClass; 256],
    /// Upper-case keyword → token type (`k`, `f`, `E`, …).
    keywords: HashMap<Vec<u8>, u8>,
    /// Upper-case fingerprints of SQL injection.
    fingerprints: HashSet<Vec<u8>>,
}

impl SqliData {
    /// Reads `sqlparse_data.json`.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("sqlparse_data.json: {e}"))?;
        let charmap = v
            .get("charmap")
            .and_then(|c| c.as_array())
            .filter(|a| a.len() == 256)
            .ok_or("sqlparse_data.json: charmap must list 256 classes")?;
        let mut classes = [CharClass::Other; 256];
        for (slot, name) in classes.iter_mut().zip(charmap) {
            let name = name.as_str().unwrap_or("");
            *slot = CharClass::named(name)
                .ok_or_else(|| format!("sqlparse_data.json: unknown class {name}"))?;
        }
        let keywords = v
            .get("keywords")
            .and_then(|k| k.as_object())
            .ok_or("sqlparse_data.json: no keywords")?
            .iter()
            .map(|(k, t)| {
                let t = t.as_str().and_then(|t| t.bytes().next()).unwrap_or(b'n');
                (k.to_ascii_uppercase().into_bytes(), t)
            })
            .collect();
        let fingerprints = v
            .get("fingerprints")
            .and_then(|f| f.as_array())
            .ok_or("sqlparse_data.json: no fingerprints")?
            .iter()
            .filter_map(|f| f.as_str())
            .map(|f| f.to_ascii_uppercase().into_bytes())
            .collect();
        Ok(Self {
            classes,
            keywords,
            fingerprints,
        })
    }

    /// Reads libinjection's data from its source directory (`…/libinjection`, holding
    /// `src/sqlparse_data.json`).
    pub fn load(dir: &Path) -> Result<Self, String> {
        let path = dir.join("src/sqlparse_data.json");
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::from_json(&text)
    }

    pub fn class(&self, byte: u8) -> CharClass {
        self.classes
            .get(usize::from(byte))
            .copied()
            .unwrap_or(CharClass::Other)
    }

    /// The token type of a keyword (compared without regard to ASCII case).
    pub fn keyword(&self, word: &[u8]) -> Option<u8> {
        self.keywords.get(&word.to_ascii_uppercase()).copied()
    }

    pub fn is_fingerprint(&self, fingerprint: &[u8]) -> bool {
        self.fingerprints
            .contains(&fingerprint.to_ascii_uppercase())
    }
}
