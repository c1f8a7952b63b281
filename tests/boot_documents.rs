//! The reference architecture's boot documents, checked by the tools that own their formats:
//! every cloud-init document the templates render (launch templates' `user_data`, instance
//! templates' `user-data` metadata), for every stack of every example group, passes
//! `cloud-init schema` (Debian package `cloud-init`), and every HAProxy configuration inside
//! a proxy's document passes `haproxy -c` (Debian package `haproxy`) and lists one server per
//! replica of its group. References to other stacks' outputs (the replicas' endpoints, known
//! at apply time) are replaced by names under `.invalid` first. `scripts/test.sh` installs both
//! tools when they are missing; a missing tool fails these tests, never skips them.

use serde_json::Value as Json;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A rendered boot document: the stack and resource it belongs to, and its text.
struct BootDocument {
    stack: String,
    group: String,
    resource: String,
    text: String,
}

/// A tool from PATH (or the sbin directories, where Debian puts haproxy).
fn tool(name: &str, package: &str) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/sbin", "/sbin"].map(PathBuf::from));
    dirs.into_iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("{name} is needed: apt-get install {package} (scripts/test.sh installs it)")
        })
}

/// `${...}` references replaced by `ref-N.invalid` host names (RFC 2606).
fn without_references(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    let mut n = 0;
    while let Some(start) = rest.find("${") {
        let end = rest[start..]
            .find('}')
            .map(|e| start + e)
            .unwrap_or_else(|| panic!("an unclosed reference in {text}"));
        n += 1;
        out.push_str(&rest[..start]);
        out.push_str(&format!("ref-{n}.invalid"));
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Every boot document of the reference workspace (this repository), every group rendered.
fn boot_documents() -> Vec<BootDocument> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = terrace::config::load(root).expect("the reference workspace loads");
    let renderer = terrace::render::Renderer::new(&workspace)
        .unwrap_or_else(|d| panic!("templates compile: {d:?}"));
    let mut docs = Vec::new();
    for stack in terrace::config::stacks::expand(&workspace) {
        let rendered = renderer
            .render(&workspace, &stack)
            .unwrap_or_else(|d| panic!("{} renders: {d:?}", stack.name));
        for (name, resource) in &rendered.spec.resources {
            let props = Json::Object(resource.properties.clone());
            let text = match resource.type_name.as_str() {
                "aws:ec2:LaunchTemplate" => props.get("user_data").cloned(),
                "gcp:compute:InstanceTemplate" => props
                    .pointer("/properties/metadata/items")
                    .and_then(Json::as_array)
                    .and_then(|items| items.iter().find(|i| i["key"] == "user-data"))
                    .map(|i| i["value"].clone()),
                _ => None,
            };
            if let Some(text) = text {
                docs.push(BootDocument {
                    stack: stack.name.clone(),
                    group: stack.group.clone(),
                    resource: name.clone(),
                    text: without_references(text.as_str().expect("a document is a string")),
                });
            }
        }
    }
    docs
}

/// Runs `cloud-init schema` on a document; its success and what it said.
fn cloud_init_schema(dir: &Path, name: &str, text: &str) -> (bool, String) {
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(&file, text).unwrap();
    let output = Command::new(tool("cloud-init", "cloud-init"))
        .args(["schema", "--config-file"])
        .arg(&file)
        .output()
        .expect("cloud-init runs");
    let said = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), said)
}

/// Runs `haproxy -c` on a configuration; its success and what it said.
fn haproxy_check(dir: &Path, name: &str, text: &str) -> (bool, String) {
    let file = dir.join(format!("{name}.cfg"));
    std::fs::write(&file, text).unwrap();
    let output = Command::new(tool("haproxy", "haproxy"))
        .args(["-c", "-f"])
        .arg(&file)
        .output()
        .expect("haproxy runs");
    let said = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), said)
}

fn file_name(doc: &BootDocument) -> String {
    format!("{}-{}", doc.stack, doc.resource).replace('/', "_")
}

#[test]
fn every_boot_document_passes_cloud_init_schema() {
    let dir = tempfile::tempdir().unwrap();
    let docs = boot_documents();
    // eu (3 replicas, proxies on 2 clouds), us (3, 2), global (4, 2).
    assert_eq!(
        docs.len(),
        16,
        "{:?}",
        docs.iter().map(file_name).collect::<Vec<_>>()
    );
    for doc in &docs {
        assert!(
            doc.text.starts_with("#cloud-config\n"),
            "{}",
            file_name(doc)
        );
        let (ok, said) = cloud_init_schema(dir.path(), &file_name(doc), &doc.text);
        assert!(
            ok && said.contains("Valid cloud-config"),
            "{} {}: {said}\n{}",
            doc.stack,
            doc.resource,
            doc.text
        );
    }
    // The tool is no rubber stamp: a wrong shape is refused.
    let broken = docs[0]
        .text
        .replace("package_update: true", "package_update: [yes]");
    let (ok, said) = cloud_init_schema(dir.path(), "broken", &broken);
    assert!(!ok, "cloud-init schema accepts a broken document: {said}");
}

#[test]
fn every_proxy_configuration_passes_haproxy_check_and_lists_its_replicas() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = terrace::config::load(root).unwrap();
    let proxies: Vec<BootDocument> = boot_documents()
        .into_iter()
        .filter(|d| d.stack.starts_with("proxies/"))
        .collect();
    assert_eq!(proxies.len(), 6, "two clouds in each of three groups");
    let mut checked = None;
    for doc in &proxies {
        let cloud_config: serde_yaml_ng::Value = serde_yaml_ng::from_str(&doc.text).expect("YAML");
        let config = cloud_config["write_files"]
            .as_sequence()
            .and_then(|files| {
                files
                    .iter()
                    .find(|f| f["path"].as_str() == Some("/etc/haproxy/haproxy.cfg"))
            })
            .and_then(|f| f["content"].as_str())
            .unwrap_or_else(|| panic!("{}: no /etc/haproxy/haproxy.cfg", doc.stack))
            .to_string();
        let (ok, said) = haproxy_check(dir.path(), &file_name(doc), &config);
        assert!(ok, "{} {}: {said}\n{config}", doc.stack, doc.resource);
        let group = workspace
            .groups
            .iter()
            .find(|g| g.name == doc.group)
            .expect("the stack's group");
        for replica in &group.replicas {
            let server = format!("  server {} ", replica.name);
            assert!(
                config.lines().any(|l| l.starts_with(&server)),
                "{}: no server for replica {}:\n{config}",
                doc.stack,
                replica.name
            );
        }
        assert_eq!(
            config
                .lines()
                .filter(|l| l.starts_with("  server "))
                .count(),
            group.replicas.len()
        );
        checked = Some(config);
    }
    let broken = checked
        .unwrap()
        .replace("balance leastconn", "balance most-beautiful");
    let (ok, said) = haproxy_check(dir.path(), "broken", &broken);
    assert!(!ok, "haproxy -c accepts a broken configuration: {said}");
}
