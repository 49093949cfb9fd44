//! A runner for the CRS regression suite (go-ftw's YAML format): each test's request is built
//! as go-ftw would send it, run through the engine, and its expectations checked against the
//! rule ids that fired — directly, with no web server or log file in between.

use base64::Engine as _;
use gatehouse_waf::request::{Request, Response};
use gatehouse_waf::ruleset::Ruleset;
use gatehouse_waf::transaction::Transaction;
use yaml_rust2::{Yaml, YamlLoader};

/// One stage of a test: a request and what must follow from it.
#[derive(Debug, Clone)]
pub struct Stage {
    pub request: Request,
    pub expect_ids: Vec<u32>,
    pub no_expect_ids: Vec<u32>,
    /// The statuses the test accepts, when it checks one.
    pub status: Vec<u16>,
    /// A check this runner cannot make (of the response body, say), by name.
    pub unsupported: Option<String>,
    /// The request as it goes on the wire.
    pub wire: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct FtwTest {
    pub rule_id: u32,
    pub test_id: u32,
    pub stages: Vec<Stage>,
}

fn text(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn ids(y: &Yaml) -> Vec<u32> {
    match y {
        Yaml::Array(items) => items.iter().filter_map(|i| text(i)?.parse().ok()).collect(),
        other => text(other)
            .and_then(|t| t.parse().ok())
            .into_iter()
            .collect(),
    }
}

/// The ids a `log_contains`-style pattern names (`id "942100"`).
fn ids_in_pattern(pattern: &str) -> Vec<u32> {
    let re = regex::Regex::new(r"id[\s\\]*.?(\d{6})").unwrap();
    re.captures_iter(pattern)
        .filter_map(|c| c.get(1)?.as_str().parse().ok())
        .collect()
}

/// Reads one YAML file of the suite.
pub fn parse_file(yaml: &str) -> Result<Vec<FtwTest>, String> {
    let docs = YamlLoader::load_from_str(yaml).map_err(|e| e.to_string())?;
    // A file that is all comments holds no tests.
    let Some(doc) = docs.first() else {
        return Ok(Vec::new());
    };
    let rule_id: u32 = text(&doc["rule_id"])
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let mut tests = Vec::new();
    for t in doc["tests"].as_vec().ok_or("no tests")? {
        let test_id: u32 = text(&t["test_id"])
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        let mut stages = Vec::new();
        for s in t["stages"].as_vec().ok_or("no stages")? {
            // Older files nest the stage one level deeper.
            let s = if s["stage"].is_badvalue() {
                s
            } else {
                &s["stage"]
            };
            stages.push(stage(&s["input"], &s["output"])?);
        }
        tests.push(FtwTest {
            rule_id,
            test_id,
            stages,
        });
    }
    Ok(tests)
}

fn stage(input: &Yaml, output: &Yaml) -> Result<Stage, String> {
    let (request, wire) = match text(&input["encoded_request"]) {
        Some(encoded) => {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(encoded.split_whitespace().collect::<String>())
                .map_err(|e| format!("encoded_request: {e}"))?;
            (raw_request(&raw)?, raw)
        }
        None => {
            let request = built_request(input);
            let wire = wire_bytes(&request);
            (request, wire)
        }
    };
    let log = &output["log"];
    let mut expect_ids = ids(&log["expect_ids"]);
    expect_ids.extend(ids(&output["expect_ids"]));
    let mut no_expect_ids = ids(&log["no_expect_ids"]);
    no_expect_ids.extend(ids(&output["no_expect_ids"]));
    if let Some(p) = text(&output["log_contains"]).or_else(|| text(&log["match_regex"])) {
        expect_ids.extend(ids_in_pattern(&p));
    }
    if let Some(p) = text(&output["no_log_contains"]).or_else(|| text(&log["no_match_regex"])) {
        no_expect_ids.extend(ids_in_pattern(&p));
    }
    let status = match &output["status"] {
        Yaml::Array(list) => list.iter().filter_map(|s| text(s)?.parse().ok()).collect(),
        other => text(other)
            .and_then(|s| s.parse().ok())
            .into_iter()
            .collect(),
    };
    let unsupported = [
        "response_contains",
        "match_regex",
        "no_match_regex",
        "isolated",
    ]
    .iter()
    .find(|k| !output[**k].is_badvalue())
    .map(|k| (*k).to_owned());
    Ok(Stage {
        request,
        expect_ids,
        no_expect_ids,
        status,
        unsupported,
        wire,
    })
}

fn built_request(input: &Yaml) -> Request {
    let mut headers: Vec<(String, Vec<u8>)> = input["headers"]
        .as_hash()
        .map(|h| {
            h.iter()
                .filter_map(|(k, v)| Some((text(k)?, text(v).unwrap_or_default().into_bytes())))
                .collect()
        })
        .unwrap_or_default();
    let body = text(&input["data"]).unwrap_or_default().into_bytes();
    let autocomplete = input["autocomplete_headers"].as_bool().unwrap_or(true);
    if autocomplete
        && !body.is_empty()
        && !headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-length"))
    {
        headers.push(("Content-Length".into(), body.len().to_string().into_bytes()));
    }
    if autocomplete
        && !headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("connection"))
    {
        headers.push(("Connection".into(), b"close".to_vec()));
    }
    Request {
        method: text(&input["method"]).unwrap_or_else(|| "GET".into()),
        uri: text(&input["uri"]).unwrap_or_else(|| "/".into()),
        protocol: text(&input["version"]).unwrap_or_else(|| "HTTP/1.1".into()),
        headers,
        body,
        client: "127.0.0.1".parse().unwrap(),
        client_port: 40000,
        server_port: input["port"]
            .as_i64()
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or(80),
    }
}

/// A built request as go-ftw sends it: request line, headers, a blank line, the body.
fn wire_bytes(r: &Request) -> Vec<u8> {
    let mut out = format!("{} {} {}\r\n", r.method, r.uri, r.protocol).into_bytes();
    for (name, value) in &r.headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&r.body);
    out
}

/// The status Gatehouse's HTTP layer gives a request before any route or the firewall sees it:
/// 400 when hyper's parser (httparse) cannot read the request line and headers, or when a
/// Content-Length is no number; otherwise none.
fn http_layer_status(wire: &[u8]) -> Option<u16> {
    let mut headers = [httparse::EMPTY_HEADER; 128];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(wire) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) | Err(_) => return Some(400),
    }
    let bad_length = req.headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("content-length")
            && std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .is_none()
    });
    bad_length.then_some(400)
}

/// A request as sent on the wire: request line, headers, blank line, body.
fn raw_request(bytes: &[u8]) -> Result<Request, String> {
    let split = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, i + 4))
        .or_else(|| {
            bytes
                .windows(2)
                .position(|w| w == b"\n\n")
                .map(|i| (i, i + 2))
        })
        .unwrap_or((bytes.len(), bytes.len()));
    let head = String::from_utf8_lossy(bytes.get(..split.0).unwrap_or(&[])).into_owned();
    let body = bytes.get(split.1..).unwrap_or(&[]).to_vec();
    let mut lines = head.lines();
    let line = lines.next().ok_or("no request line")?;
    let mut parts = line.splitn(3, ' ');
    let method = parts.next().unwrap_or("GET").to_owned();
    let uri = parts.next().unwrap_or("/").to_owned();
    let protocol = parts.next().unwrap_or("HTTP/1.1").trim().to_owned();
    let headers = lines
        .filter_map(|l| {
            let (n, v) = l.split_once(':')?;
            Some((n.trim().to_owned(), v.trim().as_bytes().to_vec()))
        })
        .collect();
    Ok(Request {
        method,
        uri,
        protocol,
        headers,
        body,
        client: "127.0.0.1".parse().unwrap(),
        client_port: 40000,
        server_port: 80,
    })
}

/// What the suite's backend (albedo) answers: `/reflect` sends back the status, headers and
/// body its JSON request asks for; anything else gets a small 200.
fn backend(request: &Request) -> Response {
    let plain = |body: &[u8]| Response {
        status: 200,
        protocol: "HTTP/1.1".into(),
        headers: vec![("Content-Type".into(), b"text/plain; charset=utf-8".to_vec())],
        body: body.to_vec(),
    };
    if !request.uri.starts_with("/reflect") {
        return plain(b"ok");
    }
    let Ok(spec) = serde_json::from_slice::<serde_json::Value>(&request.body) else {
        return plain(b"");
    };
    let mut response = plain(spec["body"].as_str().unwrap_or("").as_bytes());
    if let Some(encoded) = spec["encodedBody"].as_str() {
        if let Ok(body) = base64::engine::general_purpose::STANDARD.decode(encoded) {
            response.body = body;
        }
    }
    if let Some(status) = spec["status"].as_u64().and_then(|s| u16::try_from(s).ok()) {
        response.status = status;
    }
    if let Some(headers) = spec["headers"].as_object() {
        for (name, value) in headers {
            let value = value.as_str().unwrap_or("").as_bytes().to_vec();
            match response
                .headers
                .iter_mut()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
            {
                Some(slot) => slot.1 = value,
                None => response.headers.push((name.clone(), value)),
            }
        }
    }
    response
}

/// Runs a test: `Ok` when every stage holds, else what did not.
pub fn run(rules: &Ruleset, test: &FtwTest) -> Result<(), String> {
    for (i, stage) in test.stages.iter().enumerate() {
        let mut tx = Transaction::new(
            rules,
            &stage.request,
            format!("ftw-{}-{}", test.rule_id, test.test_id),
        );
        tx.run_request();
        if tx.interruption.is_none() {
            tx.run_response(&backend(&stage.request));
        }
        let fired = tx.fired_ids();
        for id in &stage.expect_ids {
            if !fired.contains(id) {
                return Err(format!("stage {i}: {id} did not fire (fired: {fired:?})"));
            }
        }
        for id in &stage.no_expect_ids {
            if fired.contains(id) {
                return Err(format!("stage {i}: {id} fired"));
            }
        }
        if !stage.status.is_empty() {
            let status = http_layer_status(&stage.wire)
                .unwrap_or_else(|| tx.interruption.as_ref().map_or(200, |i| i.status));
            if !stage.status.contains(&status) {
                return Err(format!(
                    "stage {i}: status {status}, expected one of {:?}",
                    stage.status
                ));
            }
        }
        if let Some(check) = &stage.unsupported {
            if stage.expect_ids.is_empty() && stage.no_expect_ids.is_empty() {
                return Err(format!("stage {i}: the runner cannot check {check}"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_waf::ruleset::Loader;

    const YAML: &str = r#"
---
meta:
  author: "test"
rule_id: 920100
tests:
  - test_id: 1
    stages:
      - input:
          dest_addr: "127.0.0.1"
          method: "POST"
          port: 80
          headers:
            Host: "localhost"
            Content-Type: "application/x-www-form-urlencoded"
          uri: "/post?x=1"
          data: "comment=<script>"
        output:
          log:
            expect_ids: [100]
            no_expect_ids: [101]
  - test_id: 2
    stages:
      - input:
          encoded_request: "R0VUIC9hP3E9c2FmZSBIVFRQLzEuMQ0KSG9zdDogbG9jYWxob3N0DQoNCg=="
        output:
          log:
            expect_ids: [100]
"#;

    #[test]
    fn tests_read_run_and_fail_when_they_should() {
        let tests = parse_file(YAML).unwrap();
        assert_eq!(tests.len(), 2);
        let first = &tests[0].stages[0].request;
        assert_eq!(first.method, "POST");
        assert!(first
            .headers
            .iter()
            .any(|(n, v)| n == "Content-Length" && v == b"16"));
        assert_eq!(tests[1].stages[0].request.uri, "/a?q=safe");
        let mut loader = Loader::new();
        loader
            .text(
                r#"
SecRuleEngine DetectionOnly
SecRule ARGS "@rx <script" "id:100,phase:2,pass,log"
SecRule ARGS "@rx never" "id:101,phase:2,pass,log"
"#,
                "t.conf",
                std::path::Path::new("."),
            )
            .unwrap();
        let rules = loader.finish().unwrap();
        assert_eq!(run(&rules, &tests[0]), Ok(()));
        let failed = run(&rules, &tests[1]).unwrap_err();
        assert!(failed.contains("100 did not fire"), "{failed}");
        assert_eq!(ids_in_pattern(r#"id "942100""#), vec![942100]);
        let mut reflect = tests[0].stages[0].request.clone();
        reflect.uri = "/reflect".into();
        reflect.body =
            br#"{"status":503,"headers":{"Content-Type":"text/html"},"body":"ORA-00933"}"#.to_vec();
        let answer = backend(&reflect);
        assert_eq!(answer.status, 503);
        assert_eq!(answer.header("content-type"), Some(&b"text/html"[..]));
        assert_eq!(answer.body, b"ORA-00933");
    }
}
