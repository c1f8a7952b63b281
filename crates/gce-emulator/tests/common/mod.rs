//! Test harness: starts an in-process emulator on a free port and talks to it through the
//! Compute discovery document — URLs are built from each method's `path`, every request
//! body is validated against the method's request schema before it is sent, and every
//! response against its response schema (or Google's error shape) when it arrives.

#![allow(dead_code)]

use gce_emulator::schema::Discovery;
use gce_emulator::{Config, RunningServer};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const PROJECT: &str = "proj-1";
pub const REGION: &str = "us-central1";
pub const ZONE: &str = "us-central1-a";

/// Where the discovery document is. Missing is a failure, never a skip.
pub fn discovery_path() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    Discovery::locate(&root).unwrap_or_else(|e| panic!("{e}"))
}

/// The discovery document, read once per test binary.
pub fn discovery() -> &'static Discovery {
    static DOC: OnceLock<Discovery> = OnceLock::new();
    DOC.get_or_init(|| Discovery::load(&discovery_path()).unwrap_or_else(|e| panic!("{e}")))
}

/// Asserts `value` conforms to the named schema.
pub fn assert_schema(schema: &str, value: &Value) {
    if let Err(errors) = discovery().validate(schema, value) {
        panic!(
            "body does not match schema {schema}:\n  {}\nbody: {value:#}",
            errors.join("\n  ")
        );
    }
}

/// Asserts Google's error shape and returns the first `errors[].reason`.
pub fn assert_error_shape(status: u16, body: &Value) -> String {
    let e = &body["error"];
    assert_eq!(
        e["code"],
        json!(status),
        "error.code must equal the HTTP status: {body}"
    );
    assert!(e["message"].is_string(), "error.message: {body}");
    let first = &e["errors"][0];
    assert!(
        first["message"].is_string() && first["domain"].is_string(),
        "errors[0]: {body}"
    );
    first["reason"]
        .as_str()
        .expect("errors[0].reason")
        .to_string()
}

/// A reply: HTTP status and JSON body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    /// Asserts success and returns the body.
    pub fn ok(self) -> Value {
        assert!(
            (200..300).contains(&self.status),
            "expected success, got {}: {:#}",
            self.status,
            self.body
        );
        self.body
    }

    /// Asserts an error with this status and reason.
    pub fn err(self, status: u16, reason: &str) -> Value {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {:#}",
            self.body
        );
        assert_eq!(
            assert_error_shape(status, &self.body),
            reason,
            "body: {:#}",
            self.body
        );
        self.body
    }
}

/// A running emulator plus an HTTP client.
pub struct Emu {
    pub server: Option<RunningServer>,
    pub http: reqwest::Client,
}

impl Emu {
    pub async fn start() -> Emu {
        Self::with(Config::default()).await
    }

    /// Starts with `config`; the server also checks request bodies against the discovery
    /// document unless the config names another.
    pub async fn with(mut config: Config) -> Emu {
        config.discovery_doc = config.discovery_doc.or_else(|| Some(discovery_path()));
        let server = gce_emulator::start("127.0.0.1:0".parse().unwrap(), config)
            .await
            .expect("start emulator");
        Emu {
            server: Some(server),
            http: reqwest::Client::new(),
        }
    }

    pub fn base(&self) -> String {
        self.server.as_ref().expect("running").base_url()
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await.expect("clean shutdown");
        }
    }

    /// Calls `resources.<resource>.methods.<method>` of the discovery document.
    /// `params` fill the path template (project, region and zone default to the test's)
    /// and anything not in the path goes to the query string.
    pub async fn call(
        &self,
        resource: &str,
        method: &str,
        params: &[(&str, &str)],
        body: Option<Value>,
    ) -> Reply {
        let doc = discovery();
        let m = doc
            .method(resource, method)
            .unwrap_or_else(|| panic!("no method {resource}.{method}"));
        let mut path = format!("compute/v1/{}", m["path"].as_str().expect("path"));
        let defaults = [("project", PROJECT), ("region", REGION), ("zone", ZONE)];
        let mut query: Vec<(String, String)> = vec![
            ("$alt".into(), "json".into()),
            ("$apiVersion".into(), "v1".into()),
        ];
        for (k, v) in params.iter().chain(defaults.iter()) {
            let slot = format!("{{{k}}}");
            if path.contains(&slot) {
                path = path.replace(&slot, v);
            } else if !defaults.iter().any(|(d, _)| d == k) {
                query.push((k.to_string(), v.to_string()));
            }
        }
        assert!(!path.contains('{'), "unfilled path parameter in {path}");
        let http_method =
            reqwest::Method::from_bytes(m["httpMethod"].as_str().unwrap().as_bytes()).unwrap();
        let mut req = self
            .http
            .request(http_method, format!("{}/{path}", self.base()))
            .query(&query);
        if let Some(b) = body {
            let schema = doc
                .request_schema(resource, method)
                .unwrap_or_else(|| panic!("{resource}.{method} takes no body"));
            assert_schema(schema, &b);
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.expect("JSON response");
        if (200..300).contains(&status) {
            if let Some(schema) = doc.response_schema(resource, method) {
                assert_schema(schema, &body);
            }
        } else {
            assert_error_shape(status, &body);
        }
        Reply { status, body }
    }

    /// Raw request (for things the discovery document does not describe).
    pub async fn raw(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Reply {
        let mut req = self.http.request(method, format!("{}/{path}", self.base()));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let body = resp.json().await.unwrap_or(Value::Null);
        Reply { status, body }
    }

    /// Polls an operation (as the Rust client does: GET in the operation's own scope) until
    /// DONE, and returns it. Fails if it has not finished within a generous bound.
    pub async fn wait_done(&self, op: &Value) -> Value {
        assert_schema("Operation", op);
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut op = op.clone();
        while op["status"] != "DONE" {
            assert!(
                Instant::now() < deadline,
                "operation never finished: {op:#}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
            op = self.get_operation(&op).await;
        }
        op
    }

    /// GET of an operation in its own scope.
    pub async fn get_operation(&self, op: &Value) -> Value {
        let name = op["name"].as_str().unwrap();
        let (resource, params) = op_scope(op);
        let mut p: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        p.push(("operation", name));
        self.call(resource, "get", &p, None).await.ok()
    }

    /// Calls a mutating method, asserts it was accepted, and waits for its operation to
    /// finish without error.
    pub async fn mutate(
        &self,
        resource: &str,
        method: &str,
        params: &[(&str, &str)],
        body: Option<Value>,
    ) -> Value {
        let op = self.call(resource, method, params, body).await.ok();
        assert_eq!(op["kind"], "compute#operation");
        let done = self.wait_done(&op).await;
        assert!(done.get("error").is_none(), "operation failed: {done:#}");
        done
    }
}

/// The operations collection and path parameters of an operation's scope.
pub fn op_scope(op: &Value) -> (&'static str, Vec<(&'static str, String)>) {
    let last = |v: &Value| v.as_str().unwrap().rsplit('/').next().unwrap().to_string();
    if op.get("zone").is_some() {
        ("zoneOperations", vec![("zone", last(&op["zone"]))])
    } else if op.get("region").is_some() {
        ("regionOperations", vec![("region", last(&op["region"]))])
    } else {
        ("globalOperations", vec![])
    }
}

/// A custom-mode network `net` with subnetwork `sub` (10.0.0.0/24) in the test region.
pub async fn base_network(emu: &Emu) {
    emu.mutate(
        "networks",
        "insert",
        &[],
        Some(json!({"name": "net", "autoCreateSubnetworks": false})),
    )
    .await;
    emu.mutate(
        "subnetworks",
        "insert",
        &[],
        Some(
            json!({"name": "sub", "network": "global/networks/net", "ipCidrRange": "10.0.0.0/24"}),
        ),
    )
    .await;
}

pub fn link(path: &str) -> String {
    format!("https://www.googleapis.com/compute/v1/projects/{PROJECT}/{path}")
}
