//! The policy file's challenge sections: `[challenges]` (the work asked and how long its pass
//! lasts) and `[[challenge]]` rules (which routes ask for a pass, and when).
//!
//! ```toml
//! [challenges]
//! work = "sha256"        # or "balloon" (memory-hard; then memory_kib)
//! difficulty = 16        # leading zero bits: each one doubles the expected work
//! pass_secs = 600
//! [[challenge]]
//! name = "morning release"   # the sale a pass is bound to
//! route = "POST /api/v1/orders"
//! when = "always"            # or "suspicious" (bot signals), "cleaning" (DDoS cleaning on)
//! ```

use serde::Deserialize;

use crate::challenge::Work;
use crate::policy::{bad, patterns, PolicyError};
use crate::routes::{Path, RoutePattern};

#[derive(Debug, Default, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum WorkKind {
    #[default]
    Sha256,
    Balloon,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChallengesSection {
    #[serde(default)]
    work: WorkKind,
    difficulty: Option<u8>,
    memory_kib: Option<u16>,
    #[serde(default = "default_pass_secs")]
    pass_secs: u64,
    #[serde(default = "default_solve_secs")]
    solve_secs: u64,
}

fn default_pass_secs() -> u64 {
    600
}

fn default_solve_secs() -> u64 {
    300
}

/// When a challenge rule asks for a pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum When {
    Always,
    /// When the bot signals put the request at or past the challenge threshold.
    Suspicious,
    /// While DDoS cleaning is engaged.
    Cleaning,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChallengeSection {
    name: String,
    route: String,
    #[serde(default)]
    except: Vec<String>,
    when: When,
}

/// The work asked and the passes given, compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Challenges {
    pub work: Work,
    pub difficulty: u8,
    pub pass_secs: u64,
    pub solve_secs: u64,
}

impl Default for Challenges {
    fn default() -> Self {
        Self {
            work: Work::Sha256,
            difficulty: 16,
            pass_secs: default_pass_secs(),
            solve_secs: default_solve_secs(),
        }
    }
}

/// One compiled challenge rule.
#[derive(Debug, Clone)]
pub struct ChallengeRule {
    /// The sale a pass earned here is bound to.
    pub name: std::sync::Arc<str>,
    pub route: RoutePattern,
    pub except: Vec<RoutePattern>,
    pub when: When,
}

impl ChallengeRule {
    pub fn covers(&self, method: &str, path: &Path<'_>) -> bool {
        self.route.matches_split(method, path)
            && !self.except.iter().any(|e| e.matches_split(method, path))
    }
}

pub(crate) fn compile_challenges(
    section: Option<ChallengesSection>,
) -> Result<Challenges, PolicyError> {
    let Some(s) = section else {
        return Ok(Challenges::default());
    };
    let (work, difficulty) = match s.work {
        WorkKind::Sha256 => {
            if s.memory_kib.is_some() {
                return Err(bad(
                    "challenges.memory_kib",
                    "applies only to work = \"balloon\"",
                ));
            }
            let d = s.difficulty.unwrap_or(16);
            if !(4..=28).contains(&d) {
                return Err(bad(
                    "challenges.difficulty",
                    "must be between 4 and 28 for sha256",
                ));
            }
            (Work::Sha256, d)
        }
        WorkKind::Balloon => {
            let memory_kib = s.memory_kib.unwrap_or(256);
            if !(16..=16_384).contains(&memory_kib) {
                return Err(bad("challenges.memory_kib", "must be between 16 and 16384"));
            }
            let d = s.difficulty.unwrap_or(3);
            if !(1..=12).contains(&d) {
                return Err(bad(
                    "challenges.difficulty",
                    "must be between 1 and 12 for balloon",
                ));
            }
            (Work::Balloon { memory_kib }, d)
        }
    };
    if !(30..=86_400).contains(&s.pass_secs) {
        return Err(bad("challenges.pass_secs", "must be between 30 and 86400"));
    }
    if !(30..=3_600).contains(&s.solve_secs) {
        return Err(bad("challenges.solve_secs", "must be between 30 and 3600"));
    }
    Ok(Challenges {
        work,
        difficulty,
        pass_secs: s.pass_secs,
        solve_secs: s.solve_secs,
    })
}

pub(crate) fn compile_rules(
    sections: Vec<ChallengeSection>,
) -> Result<Vec<ChallengeRule>, PolicyError> {
    let mut rules: Vec<ChallengeRule> = Vec::with_capacity(sections.len());
    for (i, c) in sections.into_iter().enumerate() {
        let field = |f: &str| format!("challenge[{i}].{f}");
        let name = c.name.trim();
        if name.is_empty() || name.chars().count() > 64 {
            return Err(bad(field("name"), "must be 1–64 characters"));
        }
        if rules.iter().any(|r| &*r.name == name) {
            return Err(bad(field("name"), "is used by another challenge rule"));
        }
        rules.push(ChallengeRule {
            name: name.into(),
            route: RoutePattern::parse(&c.route).map_err(|m| bad(field("route"), m))?,
            except: patterns(&field("except"), &c.except)?,
            when: c.when,
        });
    }
    Ok(rules)
}
