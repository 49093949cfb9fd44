//! The load-time proofs (`proof`) against the whole CRS: every rule proven unable to match a
//! class of plain values is run, transformations and operator, over many values of the class,
//! awkward ones included (empty, full-width forms that URL-decode to ASCII, broken UTF-8), and
//! must not match one.

use gatehouse_waf::proof::{classes_never_matched, CLASSES};
use gatehouse_waf::rule::{Rule, RuleOperator};

/// A small deterministic generator (xorshift), so a failure names a value that reproduces.
struct Draw(u64);

impl Draw {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// `count` values made only of `class`'s bytes.
fn values_of(class: gatehouse_waf::proof::Bytes, count: usize, draw: &mut Draw) -> Vec<Vec<u8>> {
    let ascii: Vec<u8> = (0..0x80u8).filter(|&b| class.contains(b)).collect();
    let wide = class.contains(0x80);
    // Characters whose UTF-8 is all high bytes: CJK, full-width forms (`%uff1c` decodes to
    // `<`), characters whose low byte is a quote or a bracket.
    let chars = [
        '张', '三', '座', '排', '＜', '＞', '＇', '（', '丼', '丧', '丢', 'ǧ', '€', '😀',
    ];
    let mut out = vec![Vec::new()];
    while out.len() < count {
        let len = draw.below(24);
        let mut v = Vec::new();
        for _ in 0..len {
            match draw.below(if wide { 3 } else { 1 }) {
                0 if !ascii.is_empty() => v.push(ascii[draw.below(ascii.len())]),
                1 => {
                    let c = chars[draw.below(chars.len())];
                    v.extend_from_slice(c.to_string().as_bytes());
                }
                _ if wide => v.push(0x80 + (draw.below(0x80) as u8)),
                _ => {}
            }
        }
        assert!(
            gatehouse_waf::proof::Bytes::of(&v).is_subset_of(class),
            "generated outside the class"
        );
        out.push(v);
    }
    out
}

/// Whether `rule` (not its chain) matches `value`, as the engine runs it.
fn matches(rule: &Rule, value: &[u8]) -> bool {
    let RuleOperator::Compiled(op) = &rule.operator else {
        return true;
    };
    let test = |v: &[u8]| op.matches(v, None) != rule.negated;
    let mut current = value.to_vec();
    if rule.multi_match && test(&current) {
        return true;
    }
    for t in &rule.transformations {
        current = t.apply(&current).into_owned();
        if rule.multi_match && test(&current) {
            return true;
        }
    }
    test(&current)
}

#[test]
fn no_rule_proven_unable_to_match_a_class_matches_one_of_its_values() {
    let rules = super::load_crs();
    let mut draw = Draw(0x9e37_79b9_7f4a_7c15);
    let values: Vec<Vec<Vec<u8>>> = CLASSES
        .iter()
        .map(|&c| values_of(c, 400, &mut draw))
        .collect();
    let mut proven = [0usize; CLASSES.len()];
    for start in rules.rules() {
        let mut link = Some(start);
        while let Some(rule) = link {
            let classes = classes_never_matched(rule);
            for (class, values) in values.iter().enumerate() {
                if classes & (1 << class) == 0 {
                    continue;
                }
                proven[class] += 1;
                for v in values {
                    assert!(
                        !matches(rule, v),
                        "rule {} (line {}) is proven unable to match class {class}, yet matches {:?}",
                        start.id,
                        rule.line,
                        String::from_utf8_lossy(v)
                    );
                }
            }
            link = rule.chain.as_deref();
        }
    }
    // The proofs are worth having: most attack rules cannot match a phone number or a name.
    eprintln!("proven per class: {proven:?}");
    assert!(proven[0] > 200, "digits: {proven:?}");
    assert!(proven[4] > 100, "Chinese text: {proven:?}");
}
