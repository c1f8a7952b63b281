//! VM instances (`zones/{z}/instances`) and the parts instance templates share with them:
//! machine types, attached disks and network interfaces. Instances get internal addresses
//! from their subnetwork and ephemeral external addresses from the documentation ranges.

use super::{check_labels, default, get_int, get_str, objects_mut, subnetwork, Ctx};
use crate::errors::{ApiError, ApiResult};
use crate::ident;
use crate::net::Cidr;
use crate::paths::{ResourcePath, Scope, ScopeKind};
use serde_json::{json, Map, Value};

const NETWORK: &[(ScopeKind, &str)] = &[(ScopeKind::Global, "networks")];
const SUBNETWORK: &[(ScopeKind, &str)] = &[(ScopeKind::Regional, "subnetworks")];

/// Machine-type families Compute offers.
const FAMILIES: &[&str] = &[
    "a2", "a3", "c2", "c2d", "c3", "c3d", "c4", "c4a", "c4d", "e2", "f1", "g1", "g2", "h3", "m1",
    "m2", "m3", "n1", "n2", "n2d", "n4", "t2a", "t2d", "z3",
];

/// Whether `name` is a plausible predefined or custom machine type, e.g. `e2-medium`,
/// `n2-standard-4`, `n1-custom-2-4096`, `custom-2-4096`.
pub fn valid_machine_type(name: &str) -> bool {
    let Some((family, shape)) = name.split_once('-') else {
        return false;
    };
    let shape_ok = !shape.is_empty()
        && shape
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !shape.ends_with('-');
    shape_ok && (family == "custom" || FAMILIES.contains(&family))
}

pub fn prepare(ctx: &mut Ctx, body: &mut Map<String, Value>) -> ApiResult<()> {
    let Scope::Zone(zone) = ctx.scope.clone() else {
        return Err(ApiError::invalid("Instances are zonal."));
    };
    machine_type(ctx, body, &zone)?;
    check_labels("resource.labels", body.get("labels"))?;
    prepare_disks(body, "resource.disks", Some((ctx.project, &zone, ctx.name)))?;
    prepare_nics(ctx, body, "resource.networkInterfaces", true)?;
    default(body, "status", json!("RUNNING"));
    default(body, "cpuPlatform", json!("Intel Broadwell"));
    default(body, "canIpForward", json!(false));
    default(body, "deletionProtection", json!(false));
    default(body, "startRestricted", json!(false));
    default(body, "lastStartTimestamp", json!(ident::now_timestamp()));
    fill_fingerprinted(body, "tags")?;
    fill_fingerprinted(body, "metadata")?;
    if let Some(Value::Object(md)) = body.get_mut("metadata") {
        md.insert("kind".into(), json!("compute#metadata"));
    }
    let sched = super::object_mut(body, "scheduling")?;
    default(sched, "onHostMaintenance", json!("MIGRATE"));
    default(sched, "automaticRestart", json!(true));
    default(sched, "preemptible", json!(false));
    default(sched, "provisioningModel", json!("STANDARD"));
    Ok(())
}

fn machine_type(ctx: &Ctx, body: &mut Map<String, Value>, zone: &str) -> ApiResult<()> {
    let raw = get_str(body, "machineType")
        .ok_or_else(|| ApiError::required("resource.machineType"))?
        .to_string();
    let path = ctx.resolve(
        "resource.machineType",
        &raw,
        &[(ScopeKind::Zonal, "machineTypes")],
    )?;
    if path.scope != Scope::Zone(zone.into()) || !valid_machine_type(&path.name) {
        return Err(ApiError::invalid_field(
            "resource.machineType",
            &raw,
            &format!(
                "Machine type with name '{}' does not exist in zone '{zone}'.",
                path.name
            ),
        ));
    }
    body.insert("machineType".into(), json!(path.self_link()));
    Ok(())
}

/// `tags` / `metadata` carry their own fingerprint over their items.
fn fill_fingerprinted(body: &mut Map<String, Value>, key: &str) -> ApiResult<()> {
    let obj = super::object_mut(body, key)?;
    let fp = match obj.get("items") {
        Some(items) if items.as_array().is_some_and(|a| !a.is_empty()) => {
            ident::fingerprint(&items.to_string())
        }
        _ => ident::label_fingerprint(&Map::new()),
    };
    obj.insert("fingerprint".into(), json!(fp));
    Ok(())
}

/// Validates `disks`; exactly one boot disk (the first, unless another says `boot`). For an
/// instance (`owner` = project, zone, instance name) the disks get Compute's attached form.
pub fn prepare_disks(
    body: &mut Map<String, Value>,
    field: &str,
    owner: Option<(&str, &str, &str)>,
) -> ApiResult<()> {
    let mut disks = objects_mut(body, "disks", field)?;
    if disks.is_empty() {
        return Err(ApiError::invalid(format!(
            "Invalid value for field '{field}': ''. Boot disk must be specified."
        )));
    }
    let boot_count = disks
        .iter()
        .filter(|d| d.get("boot") == Some(&json!(true)))
        .count();
    if boot_count > 1 {
        return Err(ApiError::invalid(format!(
            "Invalid value for field '{field}'. Only one boot disk may be specified."
        )));
    }
    for (i, disk) in disks.iter_mut().enumerate() {
        let boot = disk.get("boot") == Some(&json!(true)) || (boot_count == 0 && i == 0);
        attach_disk(disk, &format!("{field}[{i}]"), i, boot, owner)?;
    }
    Ok(())
}

fn attach_disk(
    disk: &mut Map<String, Value>,
    field: &str,
    index: usize,
    boot: bool,
    owner: Option<(&str, &str, &str)>,
) -> ApiResult<()> {
    let init = disk
        .get("initializeParams")
        .and_then(Value::as_object)
        .cloned();
    match (&init, get_str(disk, "source")) {
        (None, None) => return Err(ApiError::invalid(format!("Invalid value for field '{field}'. A disk must have either 'source' or 'initializeParams'."))),
        (Some(_), Some(_)) => return Err(ApiError::invalid(format!("Invalid value for field '{field}'. 'source' and 'initializeParams' cannot both be set."))),
        (None, Some(src)) => return Err(ApiError::not_found(src)),
        _ => {}
    }
    let init = init.unwrap_or_default();
    if boot && get_str(&init, "sourceImage").is_none() && get_str(&init, "sourceSnapshot").is_none()
    {
        return Err(ApiError::required(&format!(
            "{field}.initializeParams.sourceImage"
        )));
    }
    if let Some(n) = init.get("diskSizeGb") {
        if get_int(&init, "diskSizeGb").is_none_or(|g| g < 1) {
            return Err(ApiError::invalid_field(
                &format!("{field}.initializeParams.diskSizeGb"),
                &n.to_string(),
                "Must be a positive integer.",
            ));
        }
    }
    default(disk, "boot", json!(boot));
    default(disk, "type", json!("PERSISTENT"));
    default(disk, "mode", json!("READ_WRITE"));
    default(disk, "autoDelete", json!(false));
    default(disk, "kind", json!("compute#attachedDisk"));
    let Some((project, zone, instance)) = owner else {
        return Ok(());
    };
    let disk_name = get_str(&init, "diskName")
        .map(str::to_string)
        .unwrap_or_else(|| {
            if index == 0 {
                instance.to_string()
            } else {
                format!("{instance}-{index}")
            }
        });
    let source = ResourcePath::new(project, &Scope::Zone(zone.into()), "disks", &disk_name);
    disk.remove("initializeParams");
    disk.insert("source".into(), json!(source.self_link()));
    disk.insert("index".into(), json!(index));
    default(
        disk,
        "deviceName",
        json!(format!("persistent-disk-{index}")),
    );
    default(disk, "interface", json!("SCSI"));
    let size = get_int(&init, "diskSizeGb").unwrap_or(10);
    disk.insert("diskSizeGb".into(), json!(size.to_string()));
    Ok(())
}

/// Validates `networkInterfaces`: the network (default `global/networks/default`) and the
/// subnetwork must exist and agree; custom-mode networks need a subnetwork. With `assign`
/// (instances), each interface gets a `networkIP` and its access configs a `natIP`.
pub fn prepare_nics(
    ctx: &Ctx,
    body: &mut Map<String, Value>,
    field: &str,
    assign: bool,
) -> ApiResult<()> {
    let nics = objects_mut(body, "networkInterfaces", field)?;
    if nics.is_empty() && assign {
        return Err(ApiError::invalid(format!(
            "Invalid value for field '{field}': ''. At least one network interface is required."
        )));
    }
    let mut taken = Vec::new();
    for (i, nic) in nics.into_iter().enumerate() {
        let f = format!("{field}[{i}]");
        let ip = prepare_nic(ctx, nic, &f, assign, &taken)?;
        taken.extend(ip);
        nic.insert("name".into(), json!(format!("nic{i}")));
        nic.insert("kind".into(), json!("compute#networkInterface"));
        default(nic, "stackType", json!("IPV4_ONLY"));
        let content = Value::Object(nic.clone()).to_string();
        if assign {
            nic.insert("fingerprint".into(), json!(ident::fingerprint(&content)));
        }
    }
    Ok(())
}

fn prepare_nic(
    ctx: &Ctx,
    nic: &mut Map<String, Value>,
    f: &str,
    assign: bool,
    taken: &[String],
) -> ApiResult<Vec<String>> {
    if !nic.contains_key("network") && !nic.contains_key("subnetwork") {
        nic.insert("network".into(), json!("global/networks/default"));
    }
    let net = ctx.reference(nic, "network", &format!("{f}.network"), NETWORK)?;
    let sub = ctx.reference(nic, "subnetwork", &format!("{f}.subnetwork"), SUBNETWORK)?;
    let sub_value = sub.as_ref().and_then(|(_, v)| *v);
    check_nic_region(ctx, f, sub.as_ref().map(|(p, _)| p))?;
    let sub_net = sub_value
        .and_then(|v| v.get("network"))
        .and_then(Value::as_str)
        .map(str::to_string);
    match (&net, &sub_net) {
        (Some(_), Some(sn)) if get_str(nic, "network") != Some(sn.as_str()) => {
            return Err(ApiError::invalid_field(
                &format!("{f}.subnetwork"),
                get_str(nic, "subnetwork").unwrap_or_default(),
                "The subnetwork does not belong to the specified network.",
            ));
        }
        (None, Some(sn)) => {
            nic.insert("network".into(), json!(sn));
        }
        (Some((_, Some(n))), None) if super::network::is_custom(n) => {
            return Err(ApiError::invalid(format!("Invalid value for field '{f}.subnetwork': ''. Subnetwork should be specified for custom subnetmode network")));
        }
        _ => {}
    }
    if !assign {
        return Ok(Vec::new());
    }
    let mut assigned = Vec::new();
    if let Some(range) = sub_value.and_then(subnetwork::primary_range) {
        assigned.push(network_ip(ctx, nic, f, &range, taken)?);
    }
    for ac in objects_mut(nic, "accessConfigs", &format!("{f}.accessConfigs"))? {
        default(ac, "type", json!("ONE_TO_ONE_NAT"));
        default(ac, "name", json!("External NAT"));
        default(ac, "networkTier", json!("PREMIUM"));
        ac.insert("kind".into(), json!("compute#accessConfig"));
        if !ac.contains_key("natIP") {
            let ip = super::allocate_external(ctx)?;
            ac.insert("natIP".into(), json!(ip));
        }
    }
    Ok(assigned)
}

fn check_nic_region(ctx: &Ctx, f: &str, sub: Option<&ResourcePath>) -> ApiResult<()> {
    match (sub, ctx.region()) {
        (Some(p), Some(region)) if p.scope.region() != Some(region) => {
            Err(ApiError::invalid_field(
                &format!("{f}.subnetwork"),
                &p.self_link(),
                &format!("Subnetwork must be in region '{region}'."),
            ))
        }
        _ => Ok(()),
    }
}

fn network_ip(
    ctx: &Ctx,
    nic: &mut Map<String, Value>,
    f: &str,
    range: &Cidr,
    taken: &[String],
) -> ApiResult<String> {
    if let Some(ip) = get_str(nic, "networkIP").map(str::to_string) {
        let inside = ip.parse::<std::net::Ipv4Addr>().is_ok_and(|a| {
            Cidr {
                addr: u32::from(a),
                prefix: 32,
            }
            .within(range)
        });
        if !inside {
            return Err(ApiError::invalid_field(
                &format!("{f}.networkIP"),
                &ip,
                &format!("The IP address is not in the subnetwork range {range}."),
            ));
        }
        if ctx.used_ips().contains(&ip) || taken.contains(&ip) {
            return Err(ApiError::invalid_field(
                &format!("{f}.networkIP"),
                &ip,
                "IP address is already being used by another resource.",
            ));
        }
        return Ok(ip);
    }
    let ip = ctx.allocate_ip(range)?;
    nic.insert("networkIP".into(), json!(ip));
    Ok(ip)
}

/// Compute refuses to delete an instance with deletion protection.
pub fn before_delete(instance: &Value) -> ApiResult<()> {
    if instance.get("deletionProtection") == Some(&json!(true)) {
        return Err(ApiError::invalid(
            "Invalid resource usage: 'Resource cannot be deleted if it's protected against deletion.'.",
        ));
    }
    Ok(())
}
