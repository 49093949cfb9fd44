//! Amounts as providers write them: yuan with two decimals ("60.00"). Gatehouse counts integer
//! fen; these convert exactly, refusing anything that is not a plain non-negative amount.

/// The largest amount any provider accepts for one payment (Alipay: 100,000,000.00 yuan).
pub const MAX_FEN: u64 = 10_000_000_000;

pub fn fen_to_yuan(fen: u64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

/// Parses "60", "60.5" or "60.50" (and a leading backtick, as WeChat's bills write fields).
pub fn yuan_to_fen(text: &str) -> Option<u64> {
    let text = text.trim().trim_start_matches('`');
    let (whole, frac) = match text.split_once('.') {
        Some((w, f)) => (w, f),
        None => (text, ""),
    };
    if whole.is_empty()
        || whole.len() > 12
        || frac.len() > 2
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole: u64 = whole.parse().ok()?;
    let cents: u64 = match frac.len() {
        0 => 0,
        1 => frac.parse::<u64>().ok()? * 10,
        _ => frac.parse().ok()?,
    };
    let fen = whole.checked_mul(100)?.checked_add(cents)?;
    (fen <= MAX_FEN).then_some(fen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_and_fen_convert_exactly_and_refuse_the_rest() {
        assert_eq!(fen_to_yuan(6000), "60.00");
        assert_eq!(fen_to_yuan(1), "0.01");
        assert_eq!(yuan_to_fen("60.00"), Some(6000));
        assert_eq!(yuan_to_fen("`60.5"), Some(6050));
        assert_eq!(yuan_to_fen("0.01"), Some(1));
        assert_eq!(yuan_to_fen("7"), Some(700));
        for bad in [
            "",
            "-1.00",
            "1.001",
            "1e3",
            ".5",
            "1.-1",
            "１.00",
            "100000000.01",
        ] {
            assert_eq!(yuan_to_fen(bad), None, "{bad}");
        }
        for fen in [0, 1, 99, 100, 12345, MAX_FEN] {
            assert_eq!(yuan_to_fen(&fen_to_yuan(fen)), Some(fen));
        }
    }
}
