//! Real-name documents, visitor names and phone numbers: newtypes whose only constructors
//! validate ("parse, don't validate"), and the masks every display uses.
//!
//! Mainland resident ID numbers are checked fully: 18 characters, a real province code, a real
//! birth date, and the GB 11643-1999 (ISO 7064 MOD 11-2) check digit. Region codes are checked at
//! province level only: county codes are renamed and retired over the years, while IDs issued
//! under the old codes stay valid for life, so a full county table would reject real visitors.

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

/// The kinds of identity document a ticket can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum IdKind {
    /// 居民身份证: the 18-character mainland resident ID (also used by HK/Macau/Taiwan residence permits).
    ResidentId,
    /// A passport of any country.
    Passport,
    /// 港澳居民来往内地通行证 (Home Return Permit).
    HkMacauPermit,
    /// 台湾居民来往大陆通行证.
    TaiwanPermit,
}

impl IdKind {
    pub const ALL: [IdKind; 4] = [
        Self::ResidentId,
        Self::Passport,
        Self::HkMacauPermit,
        Self::TaiwanPermit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ResidentId => "resident_id",
            Self::Passport => "passport",
            Self::HkMacauPermit => "hk_macau_permit",
            Self::TaiwanPermit => "taiwan_permit",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A validated, normalised identity document number. Deliberately not `Display`/`Serialize`:
/// the only ways out are [`IdDocument::normalised`] (for sealing and blind indexing) and
/// [`IdDocument::masked`].
#[derive(Clone, PartialEq, Eq)]
pub struct IdDocument {
    kind: IdKind,
    number: String,
}

impl std::fmt::Debug for IdDocument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IdDocument({:?}, {})", self.kind, self.masked())
    }
}

const PROVINCES: [u8; 35] = [
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52,
    53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83,
];
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK_CHARS: [u8; 11] = *b"10X98765432";

/// The GB 11643-1999 check character for the first 17 digits.
pub fn resident_id_check_char(first17: &[u8]) -> Option<u8> {
    if first17.len() != 17 || !first17.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = first17
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    CHECK_CHARS.get((sum % 11) as usize).copied()
}

impl IdDocument {
    /// A document number as it is kept and compared: no spaces, upper case.
    pub fn normalised_number(number: &str) -> String {
        number
            .trim()
            .chars()
            .filter(|c| *c != ' ')
            .collect::<String>()
            .to_ascii_uppercase()
    }

    /// Validates `number` as a document of `kind`. `today` bounds the birth date of resident IDs.
    pub fn parse(kind: IdKind, number: &str, today: Date) -> Result<Self, String> {
        let number = Self::normalised_number(number);
        if !number.is_ascii() {
            return Err("must contain only letters and digits".into());
        }
        let ok = match kind {
            IdKind::ResidentId => Self::check_resident_id(&number, today)?,
            IdKind::Passport => {
                (5..=17).contains(&number.len())
                    && number.bytes().all(|b| b.is_ascii_alphanumeric())
            }
            // H/M + 8 digits (current) or + 10 digits (older issue).
            IdKind::HkMacauPermit => {
                let (head, rest) = number.split_at(number.len().min(1));
                (head == "H" || head == "M")
                    && (rest.len() == 8 || rest.len() == 10)
                    && rest.bytes().all(|b| b.is_ascii_digit())
            }
            // 8 digits (current), or 10 characters ending with a letter in brackets dropped.
            IdKind::TaiwanPermit => {
                (number.len() == 8 && number.bytes().all(|b| b.is_ascii_digit()))
                    || (number.len() == 10 && number.bytes().all(|b| b.is_ascii_alphanumeric()))
            }
        };
        if !ok {
            return Err(format!(
                "is not a valid {} number",
                kind.as_str().replace('_', " ")
            ));
        }
        Ok(Self { kind, number })
    }

    fn check_resident_id(n: &str, today: Date) -> Result<bool, String> {
        let b = n.as_bytes();
        if b.len() != 18 {
            return Err("a resident ID number has 18 characters".into());
        }
        let (first17, last) = b.split_at(17);
        let Some(expected) = resident_id_check_char(first17) else {
            return Err("the first 17 characters of a resident ID number are digits".into());
        };
        let province = n.get(0..2).and_then(|p| p.parse::<u8>().ok()).unwrap_or(0);
        if !PROVINCES.contains(&province) {
            return Err("does not start with a valid region code".into());
        }
        let year = n
            .get(6..10)
            .and_then(|s| s.parse::<i16>().ok())
            .unwrap_or(0);
        let month = n
            .get(10..12)
            .and_then(|s| s.parse::<i8>().ok())
            .unwrap_or(0);
        let day = n
            .get(12..14)
            .and_then(|s| s.parse::<i8>().ok())
            .unwrap_or(0);
        match Date::new(year, month, day) {
            Ok(birth) if year >= 1850 && birth <= today => {}
            _ => return Err("does not contain a valid birth date".into()),
        }
        if last != [expected] {
            return Err("has a wrong check digit".into());
        }
        Ok(true)
    }

    pub fn kind(&self) -> IdKind {
        self.kind
    }

    /// The canonical form: upper case, no spaces. What gets sealed and blind-indexed.
    pub fn normalised(&self) -> &str {
        &self.number
    }

    /// `410105********123X` for resident IDs; first two and last two characters otherwise.
    pub fn masked(&self) -> String {
        mask_id_number(self.kind, &self.number)
    }
}

/// Masks an identity document number for display.
pub fn mask_id_number(kind: IdKind, number: &str) -> String {
    let chars: Vec<char> = number.chars().collect();
    let (keep_head, keep_tail) = match kind {
        IdKind::ResidentId if chars.len() == 18 => (6, 4),
        _ if chars.len() > 6 => (2, 2),
        _ => (1, 0),
    };
    mask_middle(&chars, keep_head, keep_tail)
}

fn mask_middle(chars: &[char], head: usize, tail: usize) -> String {
    let n = chars.len();
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| if i < head || i + tail >= n { *c } else { '*' })
        .collect()
}

/// A visitor's name as written on the document.
#[derive(Clone, PartialEq, Eq)]
pub struct PersonName(String);

impl std::fmt::Debug for PersonName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PersonName({})", self.masked())
    }
}

impl PersonName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let name = raw.trim();
        let len = name.chars().count();
        if len == 0 {
            return Err("is required".into());
        }
        if len > 64 {
            return Err("is longer than 64 characters".into());
        }
        if name
            .chars()
            .any(|c| c.is_control() || matches!(c, '<' | '>' | '"' | '\\'))
        {
            return Err("contains characters a name cannot have".into());
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn masked(&self) -> String {
        mask_name(&self.0)
    }
}

/// `张*` for 张三, `张**` for 张三丰, `J***` for John: the first character and one star per hidden one.
pub fn mask_name(name: &str) -> String {
    let mut chars = name.chars();
    let first = chars.next().map(String::from).unwrap_or_default();
    first + &"*".repeat(chars.filter(|c| !c.is_whitespace()).count())
}

/// A contact phone: a mainland mobile number (11 digits starting 1[3-9]) or an international
/// number in E.164 form (`+` and 8–15 digits).
#[derive(Clone, PartialEq, Eq)]
pub struct Phone(String);

impl std::fmt::Debug for Phone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Phone({})", self.masked())
    }
}

impl Phone {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let p: String = raw
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '-'))
            .collect();
        let p = p
            .strip_prefix("+86")
            .filter(|rest| rest.len() == 11)
            .map(str::to_owned)
            .unwrap_or(p);
        let b = p.as_bytes();
        let mainland = b.len() == 11
            && b.first() == Some(&b'1')
            && matches!(b.get(1), Some(b'3'..=b'9'))
            && b.iter().all(u8::is_ascii_digit);
        let international = b.first() == Some(&b'+')
            && (9..=16).contains(&b.len())
            && b.iter().skip(1).all(u8::is_ascii_digit);
        if mainland || international {
            Ok(Self(p))
        } else {
            Err("is not a valid mobile phone number".into())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn masked(&self) -> String {
        mask_phone(&self.0)
    }
}

/// `138****5678`: first three and last four digits.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() >= 8 {
        mask_middle(&chars, 3, 4)
    } else {
        mask_middle(&chars, 1, 0)
    }
}

/// A valid, synthetic resident ID number for test and benchmark data: distinct for every
/// `n < 10_000_000`, all "born" 1990-01-01 in Beijing.
pub fn synthetic_resident_id(n: u32) -> String {
    let first17 = format!("11{:04}19900101{:03}", (n / 1000) % 10_000, n % 1000);
    let check = resident_id_check_char(first17.as_bytes()).map_or('0', char::from);
    format!("{first17}{check}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn today() -> Date {
        jiff::civil::date(2026, 11, 23)
    }

    fn with_check(first17: &str) -> String {
        let c = resident_id_check_char(first17.as_bytes()).unwrap();
        format!("{first17}{}", c as char)
    }

    #[test]
    fn accepts_known_valid_resident_ids() {
        // The worked example of GB 11643-1999 and a number ending in X.
        for n in ["11010519491231002X", "440524188001010014"] {
            IdDocument::parse(IdKind::ResidentId, n, today()).unwrap();
        }
        let lower = IdDocument::parse(IdKind::ResidentId, " 11010519491231002x ", today()).unwrap();
        assert_eq!(lower.normalised(), "11010519491231002X");
    }

    #[test]
    fn rejects_bad_resident_ids_with_a_reason() {
        let cases = [
            ("11010519491231002", "18 characters"),
            ("110105194912310021", "check digit"),
            (&with_check("99010519491231002") as &str, "region"),
            (&with_check("11010519491331002"), "birth date"),
            (&with_check("11010520990101002"), "birth date"),
            ("11010519491231002１", "letters and digits"),
            ("1101051949123100ZX", "digits"),
        ];
        for (n, why) in cases {
            let err = IdDocument::parse(IdKind::ResidentId, n, today()).unwrap_err();
            assert!(err.contains(why), "{n}: {err}");
        }
    }

    #[test]
    fn other_documents_by_format() {
        assert!(IdDocument::parse(IdKind::Passport, "E12345678", today()).is_ok());
        assert!(IdDocument::parse(IdKind::Passport, "E1-2345678", today()).is_err());
        assert!(IdDocument::parse(IdKind::HkMacauPermit, "H12345678", today()).is_ok());
        assert!(IdDocument::parse(IdKind::HkMacauPermit, "X12345678", today()).is_err());
        assert!(IdDocument::parse(IdKind::TaiwanPermit, "12345678", today()).is_ok());
        assert!(IdDocument::parse(IdKind::TaiwanPermit, "1234", today()).is_err());
    }

    #[test]
    fn masks_match_the_museum_format() {
        let id = IdDocument::parse(IdKind::ResidentId, "11010519491231002X", today()).unwrap();
        assert_eq!(id.masked(), "110105********002X");
        assert_eq!(mask_name("张三"), "张*");
        assert_eq!(mask_name("张三丰"), "张**");
        assert_eq!(
            Phone::parse("138 1234 5678").unwrap().masked(),
            "138****5678"
        );
        assert_eq!(
            format!("{id:?}"),
            "IdDocument(ResidentId, 110105********002X)"
        );
    }

    #[test]
    fn phones() {
        assert!(Phone::parse("+8613812345678").is_ok());
        assert_eq!(
            Phone::parse("+8613812345678").unwrap().as_str(),
            "13812345678"
        );
        assert!(Phone::parse("+85291234567").is_ok());
        assert!(Phone::parse("12812345678").is_err());
        assert!(Phone::parse("1381234567").is_err());
    }

    #[test]
    fn names() {
        assert!(PersonName::parse("  ").is_err());
        assert!(PersonName::parse("a\u{0}b").is_err());
        assert_eq!(PersonName::parse(" 李四 ").unwrap().as_str(), "李四");
    }

    proptest! {
        #[test]
        fn any_generated_resident_id_round_trips(
            province in proptest::sample::select(PROVINCES.to_vec()),
            rest in 0u32..9999, days in 0i32..40_000, seq in 0u32..999,
        ) {
            let birth = jiff::civil::date(1900, 1, 1) + jiff::Span::new().days(days);
            prop_assume!(birth <= today());
            let first17 = format!("{province:02}{rest:04}{}{:02}{:02}{seq:03}", birth.year(), birth.month(), birth.day());
            let n = with_check(&first17);
            let id = IdDocument::parse(IdKind::ResidentId, &n, today()).unwrap();
            prop_assert_eq!(id.normalised(), n.as_str());
            // Any single-character change to the check digit is caught.
            let last = n.as_bytes()[17];
            for c in b"0123456789X".iter().filter(|c| **c != last) {
                let mut wrong = n.clone().into_bytes();
                wrong[17] = *c;
                let wrong = String::from_utf8(wrong).unwrap();
                prop_assert!(IdDocument::parse(IdKind::ResidentId, &wrong, today()).is_err());
            }
        }

        #[test]
        fn parsing_arbitrary_text_never_panics(kind in 0usize..4, s in "\\PC{0,40}") {
            let _ = IdDocument::parse(IdKind::ALL[kind], &s, today());
            let _ = Phone::parse(&s);
            let _ = PersonName::parse(&s);
        }
    }
}
