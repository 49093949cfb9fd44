//! The engine against the real OWASP Core Rule Set v4.25.1, read from `../shared/crs` beside the
//! checkout (or `GH_CRS_DIR`). The rule set is data the project does not copy into its tree, so
//! a missing copy fails these tests with a message rather than skipping them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code stops loudly"
)]

use std::path::PathBuf;

#[path = "it/ftw.rs"]
mod ftw;
#[path = "it/libinjection.rs"]
mod libinjection;
#[path = "it/proofs.rs"]
mod proofs;

use gatehouse_waf::seclang::{parse, Directive};

fn crs_dir() -> PathBuf {
    let dir = std::env::var_os("GH_CRS_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/crs"),
        PathBuf::from,
    );
    assert!(
        dir.join("rules").is_dir(),
        "the OWASP CRS is not at {} (set GH_CRS_DIR to its directory)",
        dir.display()
    );
    dir
}

/// Every `.conf` of the rule set, in load order, and the setup example.
fn crs_files() -> Vec<PathBuf> {
    let dir = crs_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("rules"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    files.sort();
    files.insert(0, dir.join("crs-setup.conf.example"));
    files
}

#[test]
fn every_crs_file_reads_and_nothing_is_lost() {
    let (mut rules, mut actions, mut markers, mut updates, mut defaults) = (0, 0, 0, 0, 0);
    let mut ids = std::collections::BTreeSet::new();
    for file in crs_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let directives = parse(&text, &name).unwrap_or_else(|e| panic!("{e}"));
        for d in directives {
            let list = match &d {
                Directive::Rule(r) => {
                    rules += 1;
                    &r.actions
                }
                Directive::Action { actions: a, .. } => {
                    actions += 1;
                    a
                }
                Directive::Marker(_) => {
                    markers += 1;
                    continue;
                }
                Directive::UpdateTargetById { .. } => {
                    updates += 1;
                    continue;
                }
                Directive::DefaultAction(_) => {
                    defaults += 1;
                    continue;
                }
                _ => continue,
            };
            for a in list.iter().filter(|a| a.name == "id") {
                ids.insert(a.value.clone().unwrap().parse::<u32>().unwrap());
            }
        }
    }
    // Counted independently with grep over the same files.
    assert_eq!(rules, 693, "SecRule directives (chained ones included)");
    assert_eq!(actions, 7 + 1, "SecAction (one in the setup example)");
    assert_eq!(markers, 30);
    assert_eq!(updates, 55);
    assert_eq!(defaults, 5);
    assert_eq!(
        ids.len(),
        627 + 1,
        "distinct rule ids (900990 in the setup example)"
    );
}

#[test]
fn every_crs_operator_compiles() {
    use gatehouse_waf::operators::Operator;
    let rules_dir = crs_dir().join("rules");
    let read = |file: &str| {
        std::fs::read_to_string(rules_dir.join(file)).map_err(|e| format!("{file}: {e}"))
    };
    let (mut compiled, mut deferred, mut libinjection) = (0, 0, 0);
    let mut failures = Vec::new();
    for file in crs_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        for d in parse(&text, "crs").unwrap() {
            let Directive::Rule(rule) = d else { continue };
            let op = &rule.operator;
            if Operator::needs_expansion(&op.argument) {
                deferred += 1;
                continue;
            }
            if op.name == "detectSQLi" {
                libinjection += 1;
                continue;
            }
            match Operator::compile(&op.name, &op.argument, &read) {
                Ok(_) => compiled += 1,
                Err(e) => failures.push(format!("line {}: {e}", rule.line)),
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(compiled + deferred + libinjection, 693);
    assert_eq!(
        libinjection, 2,
        "@detectSQLi needs libinjection's data; the full load test gives it"
    );
    assert!(compiled > 600, "{compiled} compiled, {deferred} deferred");
}

#[test]
fn every_regression_test_reads() {
    let root = crs_dir().join("tests/regression/tests");
    let mut files = Vec::new();
    for dir in std::fs::read_dir(&root).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&dir).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                files.push(f);
            }
        }
    }
    let mut tests = 0;
    let mut stages = 0;
    for f in &files {
        let parsed = ftw::parse_file(&std::fs::read_to_string(f).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        tests += parsed.len();
        stages += parsed.iter().map(|t| t.stages.len()).sum::<usize>();
        for t in &parsed {
            assert!(t.rule_id > 0, "{}", f.display());
        }
    }
    // grep counts 4,920 `test_id:` entries in this copy of v4.25.1; the issue says 4,950.
    // Its bar, 99 % of 4,950, is 4,901 passing tests: at most 19 of these may fail.
    assert_eq!(tests, 4_920, "every test of the suite read");
    assert!(stages >= tests);
}

/// The engine settings and rules the CRS regression suite expects around the CRS: request and
/// response bodies read, ModSecurity's recommended JSON/XML body-processor rules, and the
/// suite's own rule 900005 (DetectionOnly, paranoia level 4, its limits).
const SUITE_SETUP: &str = r#"
SecRuleEngine On
SecRequestBodyAccess On
SecResponseBodyAccess On
SecResponseBodyMimeType text/plain text/html text/xml application/json
SecRule REQUEST_HEADERS:Content-Type "^(?:application(?:/soap\+|/)|text/)xml" "id:200000,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML"
SecRule REQUEST_HEADERS:Content-Type "^application/json" "id:200001,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"
SecAction "id:900005,\
  phase:1,\
  nolog,\
  pass,\
  ctl:ruleEngine=DetectionOnly,\
  ctl:ruleRemoveById=910000,\
  setvar:tx.blocking_paranoia_level=4,\
  setvar:tx.crs_validate_utf8_encoding=1,\
  setvar:tx.arg_name_length=100,\
  setvar:tx.arg_length=400,\
  setvar:tx.total_arg_length=64000,\
  setvar:tx.max_num_args=255,\
  setvar:tx.max_file_size=64100,\
  setvar:tx.combined_file_sizes=65535"
SecAction "id:900510,phase:1,pass,t:none,nolog,setvar:'tx.crs_xml_attr_inspect=1'"
"#;

fn load_crs() -> gatehouse_waf::ruleset::Ruleset {
    let mut loader = gatehouse_waf::ruleset::Loader::new();
    loader.libinjection(std::sync::Arc::new(
        gatehouse_waf::libinjection::SqliData::load(&crs_dir().join("../libinjection")).unwrap(),
    ));
    loader
        .text(SUITE_SETUP, "suite-setup", &crs_dir().join("rules"))
        .unwrap();
    for f in crs_files() {
        loader.file(&f).unwrap_or_else(|e| panic!("{e}"));
    }
    loader.finish().unwrap()
}

/// The tests `crs-overrides.yaml` lists as not passing, as `rule-test` ids.
fn overrides() -> std::collections::BTreeSet<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/crs-overrides.yaml");
    let docs =
        yaml_rust2::YamlLoader::load_from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut out = std::collections::BTreeSet::new();
    for o in docs[0]["test_overrides"].as_vec().unwrap() {
        let rule = o["rule_id"].as_i64().unwrap();
        assert!(
            o["reason"].as_str().is_some_and(|r| !r.is_empty()),
            "rule {rule}: no reason"
        );
        for t in o["test_ids"].as_vec().unwrap() {
            out.insert(format!("{rule}-{}", t.as_i64().unwrap()));
        }
    }
    out
}

/// The CRS regression suite, every test run through the engine. Prints `N passed, M failed` and
/// writes the failing tests to `target/crs-regression-failures.txt`.
#[test]
fn crs_regression_suite() {
    let rules = load_crs();
    let root = crs_dir().join("tests/regression/tests");
    let mut files = Vec::new();
    for dir in std::fs::read_dir(&root).unwrap() {
        let dir = dir.unwrap().path();
        if dir.is_dir() {
            for f in std::fs::read_dir(&dir).unwrap() {
                let f = f.unwrap().path();
                if f.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                    files.push(f);
                }
            }
        }
    }
    files.sort();
    let (mut passed, mut failed) = (0usize, Vec::new());
    for f in &files {
        for test in ftw::parse_file(&std::fs::read_to_string(f).unwrap()).unwrap() {
            match ftw::run(&rules, &test) {
                Ok(()) => passed += 1,
                Err(why) => failed.push(format!("{}-{}: {why}", test.rule_id, test.test_id)),
            }
        }
    }
    let report =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/crs-regression-failures.txt");
    let _ = std::fs::write(&report, failed.join("\n") + "\n");
    #[allow(
        clippy::print_stdout,
        reason = "the suite's summary line, as the issue asks"
    )]
    {
        println!("{passed} passed, {} failed", failed.len());
    }
    let failing: std::collections::BTreeSet<String> = failed
        .iter()
        .filter_map(|f| f.split(':').next().map(str::to_owned))
        .collect();
    let overridden = overrides();
    let unexplained: Vec<_> = failing.difference(&overridden).collect();
    let fixed: Vec<_> = overridden.difference(&failing).collect();
    assert!(
        unexplained.is_empty() && fixed.is_empty(),
        "failing without a reason in crs-overrides.yaml: {unexplained:?}; listed there but passing now: {fixed:?}"
    );
    assert!(
        passed * 100 >= 4_950 * 99,
        "{passed} passed: under 99 % of 4,950"
    );
    eprintln!(
        "{passed} passed, {} failed (see {})",
        failed.len(),
        report.display()
    );
}
