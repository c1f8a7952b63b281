//! `aws:ec2:SecurityGroup`: a security group with its ingress and egress rules. Rules are
//! reconciled in place against what EC2 reports (authorize what is missing, revoke what is not
//! wanted); name, description and VPC force a replacement. `egress` is managed only when set
//! (otherwise EC2's default allow-all egress stays).
//!
//! A rule is `{protocol, from_port, to_port, cidr_blocks, ipv6_cidr_blocks,
//! security_group_ids}`; protocol `-1` (or `all`) means every protocol and takes no ports.
//! Rules are read back in a canonical form: one rule per (protocol, ports), sources sorted,
//! empty lists left out, rules sorted by protocol then ports.

use super::{
    after_create, create_once, dedup, delete_when_free, existing, no_retry, observed, put, queries,
    read_back, settle, sync_tags, Ctx,
};
use crate::error::{from_sdk, from_sdk_unretried, invalid, not_found};
use crate::ownership::{tag_spec, user_tags};
use crate::props::{check_known, int_opt, objects, str_req, strings};
use aws_sdk_ec2::types::{
    IpPermission, IpRange, Ipv6Range, ResourceType, SecurityGroup, UserIdGroupPair,
};
use serde_json::{json, Value as Json};
use std::collections::{BTreeMap, BTreeSet};
use terrace_provider::{
    CreateRequest, DeleteRequest, FieldKind, FieldSchema, Observed, Properties, ProviderError,
    ReadRequest, ResourceSchema, UpdateRequest,
};

pub const TYPE: &str = "aws:ec2:SecurityGroup";

crate::resources::resource_type!(SecurityGroupDef: ec2, normalize: normalize);
const FIELDS: &[&str] = &[
    "group_name",
    "description",
    "vpc_id",
    "ingress",
    "egress",
    "tags",
];
const RULE_FIELDS: &[&str] = &[
    "protocol",
    "from_port",
    "to_port",
    "cidr_blocks",
    "ipv6_cidr_blocks",
    "security_group_ids",
];

pub fn schema() -> ResourceSchema {
    use FieldKind::*;
    super::schema(
        TYPE,
        vec![
            // "Constraints: Up to 255 characters in length. Cannot start with sg-. … must be
            // unique within the VPC" (CreateSecurityGroup, EC2 API reference).
            FieldSchema::input("group_name", String)
                .required()
                .force_new()
                .unique_within(&["vpc_id"]),
            FieldSchema::input("description", String)
                .required()
                .force_new(),
            FieldSchema::input("vpc_id", String).required().force_new(),
            FieldSchema::input("ingress", List).unordered(),
            FieldSchema::input("egress", List).unordered(),
            FieldSchema::computed("arn", String),
            FieldSchema::computed("owner_id", String),
        ],
    )
}

/// Where traffic comes from (ingress) or goes to (egress).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Peer {
    Cidr(String),
    Cidr6(String),
    Group(String),
}

/// One permission with a single peer: the unit of authorize and revoke.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Atom {
    protocol: String,
    ports: Option<(i32, i32)>,
    peer: Peer,
}

/// The protocol as EC2 reads it back: `-1` for all, names for the numbers of TCP, UDP, ICMP
/// and ICMPv6 ("IpProtocol", EC2 API reference: "Use -1 to specify all protocols … If you
/// specify a protocol number … tcp (6), udp (17), icmp (1), icmpv6 (58)").
fn protocol(raw: &str) -> String {
    match raw.to_ascii_lowercase().as_str() {
        "all" | "-1" => "-1".to_string(),
        "6" => "tcp".to_string(),
        "17" => "udp".to_string(),
        "1" => "icmp".to_string(),
        "58" => "icmpv6".to_string(),
        other => other.to_string(),
    }
}

/// Rules in the form EC2 reads them back: protocols canonical, rules with the same protocol
/// and ports merged into one, sources sorted.
pub fn normalize(field: &str, value: &Json) -> Option<Json> {
    if field != "ingress" && field != "egress" {
        return None;
    }
    let mut p = Properties::new();
    p.insert(field.to_string(), value.clone());
    parse_rules(&p, field).ok().map(|atoms| rules_json(&atoms))
}

fn parse_rules(p: &Properties, field: &str) -> Result<BTreeSet<Atom>, ProviderError> {
    let mut atoms = BTreeSet::new();
    for rule in objects(p, field)? {
        check_known(rule, RULE_FIELDS, &format!("a rule of `{field}`"))?;
        let proto = protocol(str_req(rule, "protocol")?);
        let ports = match (
            proto.as_str(),
            int_opt(rule, "from_port")?,
            int_opt(rule, "to_port")?,
        ) {
            ("-1", _, _) => None,
            (_, Some(from), Some(to)) => Some((from, to)),
            _ => {
                return Err(invalid(format!(
                    "a rule of `{field}` with protocol {proto} needs from_port and to_port"
                )))
            }
        };
        let peers = strings(rule, "cidr_blocks")?
            .into_iter()
            .map(Peer::Cidr)
            .chain(
                strings(rule, "ipv6_cidr_blocks")?
                    .into_iter()
                    .map(Peer::Cidr6),
            )
            .chain(
                strings(rule, "security_group_ids")?
                    .into_iter()
                    .map(Peer::Group),
            );
        let before = atoms.len();
        atoms.extend(peers.map(|peer| Atom {
            protocol: proto.clone(),
            ports,
            peer,
        }));
        if atoms.len() == before {
            return Err(invalid(format!(
                "a rule of `{field}` needs cidr_blocks, ipv6_cidr_blocks or security_group_ids"
            )));
        }
    }
    Ok(atoms)
}

fn atoms_of(permissions: &[IpPermission]) -> BTreeSet<Atom> {
    let mut atoms = BTreeSet::new();
    for perm in permissions {
        let proto = protocol(perm.ip_protocol().unwrap_or("-1"));
        let ports = match (proto.as_str(), perm.from_port(), perm.to_port()) {
            ("-1", _, _) => None,
            (_, Some(from), Some(to)) => Some((from, to)),
            _ => None,
        };
        let peers = perm
            .ip_ranges()
            .iter()
            .filter_map(|r| r.cidr_ip().map(|c| Peer::Cidr(c.to_string())))
            .chain(
                perm.ipv6_ranges()
                    .iter()
                    .filter_map(|r| r.cidr_ipv6().map(|c| Peer::Cidr6(c.to_string()))),
            )
            .chain(
                perm.user_id_group_pairs()
                    .iter()
                    .filter_map(|g| g.group_id().map(|c| Peer::Group(c.to_string()))),
            );
        atoms.extend(peers.map(|peer| Atom {
            protocol: proto.clone(),
            ports,
            peer,
        }));
    }
    atoms
}

/// Sources of one (protocol, ports) group: IPv4 CIDRs, IPv6 CIDRs, security groups.
type Sources = [Vec<String>; 3];

/// The canonical JSON of a set of atoms (see the module documentation).
fn rules_json(atoms: &BTreeSet<Atom>) -> Json {
    let mut grouped: BTreeMap<(String, Option<(i32, i32)>), Sources> = BTreeMap::new();
    for atom in atoms {
        let lists = grouped
            .entry((atom.protocol.clone(), atom.ports))
            .or_default();
        match &atom.peer {
            Peer::Cidr(c) => lists[0].push(c.clone()),
            Peer::Cidr6(c) => lists[1].push(c.clone()),
            Peer::Group(g) => lists[2].push(g.clone()),
        }
    }
    let rules = grouped.into_iter().map(|((proto, ports), lists)| {
        let mut rule = Properties::new();
        rule.insert("protocol".into(), json!(proto));
        if let Some((from, to)) = ports {
            rule.insert("from_port".into(), json!(from));
            rule.insert("to_port".into(), json!(to));
        }
        for (name, list) in ["cidr_blocks", "ipv6_cidr_blocks", "security_group_ids"]
            .iter()
            .zip(lists)
        {
            if !list.is_empty() {
                rule.insert(name.to_string(), json!(list));
            }
        }
        Json::Object(rule)
    });
    Json::Array(rules.collect())
}

fn permission(atom: &Atom) -> IpPermission {
    let call = IpPermission::builder()
        .ip_protocol(&atom.protocol)
        .set_from_port(atom.ports.map(|p| p.0))
        .set_to_port(atom.ports.map(|p| p.1));
    match &atom.peer {
        Peer::Cidr(c) => call.ip_ranges(IpRange::builder().cidr_ip(c).build()),
        Peer::Cidr6(c) => call.ipv6_ranges(Ipv6Range::builder().cidr_ipv6(c).build()),
        Peer::Group(g) => call.user_id_group_pairs(UserIdGroupPair::builder().group_id(g).build()),
    }
    .build()
}

fn observe(group: &SecurityGroup) -> Observed {
    let mut props = Properties::new();
    put(&mut props, "group_name", group.group_name());
    put(&mut props, "description", group.description());
    put(&mut props, "vpc_id", group.vpc_id());
    props.insert(
        "ingress".into(),
        rules_json(&atoms_of(group.ip_permissions())),
    );
    props.insert(
        "egress".into(),
        rules_json(&atoms_of(group.ip_permissions_egress())),
    );
    let mut attrs = Properties::new();
    put(&mut attrs, "arn", group.security_group_arn());
    put(&mut attrs, "owner_id", group.owner_id());
    observed(
        group.group_id().unwrap_or_default(),
        props,
        attrs,
        group.tags(),
    )
}

async fn describe(
    ctx: &Ctx<'_>,
    request: &ReadRequest,
) -> Result<Vec<SecurityGroup>, ProviderError> {
    let mut found = Vec::new();
    for filters in queries("group-id", request) {
        // The SDK's paginator: one request per page, stops on a repeated token.
        let page: Vec<_> = ctx
            .ec2
            .describe_security_groups()
            .set_filters(Some(filters))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(from_sdk)?;
        found.extend(page);
    }
    Ok(found)
}

pub async fn read(ctx: &Ctx<'_>, request: &ReadRequest) -> Result<Vec<Observed>, ProviderError> {
    Ok(dedup(
        describe(ctx, request).await?.iter().map(observe).collect(),
    ))
}

async fn current(ctx: &Ctx<'_>, id: &str) -> Result<Option<SecurityGroup>, ProviderError> {
    let request = crate::resources::common::by_id(TYPE, id);
    Ok(describe(ctx, &request).await?.into_iter().next())
}

pub async fn create(ctx: &Ctx<'_>, request: &CreateRequest) -> Result<Observed, ProviderError> {
    let p = &request.properties;
    check_known(p, FIELDS, TYPE)?;
    let tags = user_tags(p)?;
    parse_rules(p, "ingress")?;
    parse_rules(p, "egress")?;
    // CreateSecurityGroup has no ClientToken; the group name is unique per VPC, and the
    // ownership tags find a group created before a lost answer.
    let answer = create_once(ctx.settings, || async {
        ctx.ec2
            .create_security_group()
            .group_name(str_req(p, "group_name")?)
            .description(str_req(p, "description")?)
            .vpc_id(str_req(p, "vpc_id")?)
            .tag_specifications(tag_spec(
                ResourceType::SecurityGroup,
                &request.ownership,
                &tags,
            ))
            .customize()
            .config_override(no_retry())
            .send()
            .await
            .map_err(from_sdk_unretried)
    })
    .await?;
    let id = answer.group_id().unwrap_or_default().to_string();
    after_create(&id, async {
        // Read again on each attempt: rules added before a not-found answer stay added.
        settle(ctx.settings, &id, || async {
            let group = current(ctx, &id)
                .await?
                .ok_or_else(|| not_found(TYPE, &id))?;
            reconcile(ctx, &group, p).await
        })
        .await?;
        read_back(
            ctx.settings,
            TYPE,
            &id,
            |r| async move { read(ctx, &r).await },
        )
        .await
    })
    .await
}

/// Makes ingress (and egress, when set) match `desired`.
async fn reconcile(
    ctx: &Ctx<'_>,
    group: &SecurityGroup,
    desired: &Properties,
) -> Result<(), ProviderError> {
    let id = group.group_id().unwrap_or_default();
    let set = |field: &str| desired.get(field).is_some_and(|v| !v.is_null());
    if set("ingress") {
        let have = atoms_of(group.ip_permissions());
        let want = parse_rules(desired, "ingress")?;
        let revoke: Vec<IpPermission> = have.difference(&want).map(permission).collect();
        let grant: Vec<IpPermission> = want.difference(&have).map(permission).collect();
        if !revoke.is_empty() {
            ctx.ec2
                .revoke_security_group_ingress()
                .group_id(id)
                .set_ip_permissions(Some(revoke))
                .send()
                .await
                .map_err(from_sdk)?;
        }
        if !grant.is_empty() {
            ctx.ec2
                .authorize_security_group_ingress()
                .group_id(id)
                .set_ip_permissions(Some(grant))
                .send()
                .await
                .map_err(from_sdk)?;
        }
    }
    if set("egress") {
        let have = atoms_of(group.ip_permissions_egress());
        let want = parse_rules(desired, "egress")?;
        let revoke: Vec<IpPermission> = have.difference(&want).map(permission).collect();
        let grant: Vec<IpPermission> = want.difference(&have).map(permission).collect();
        if !revoke.is_empty() {
            ctx.ec2
                .revoke_security_group_egress()
                .group_id(id)
                .set_ip_permissions(Some(revoke))
                .send()
                .await
                .map_err(from_sdk)?;
        }
        if !grant.is_empty() {
            ctx.ec2
                .authorize_security_group_egress()
                .group_id(id)
                .set_ip_permissions(Some(grant))
                .send()
                .await
                .map_err(from_sdk)?;
        }
    }
    Ok(())
}

pub async fn update(ctx: &Ctx<'_>, request: &UpdateRequest) -> Result<Observed, ProviderError> {
    check_known(&request.new, FIELDS, TYPE)?;
    let group = existing(ctx.settings, TYPE, &request.id, || {
        current(ctx, &request.id)
    })
    .await?;
    reconcile(ctx, &group, &request.new).await?;
    sync_tags(ctx, &request.id, &request.old, &request.new).await?;
    read_back(ctx.settings, TYPE, &request.id, |r| async move {
        read(ctx, &r).await
    })
    .await
}

pub async fn delete(ctx: &Ctx<'_>, request: &DeleteRequest) -> Result<(), ProviderError> {
    delete_when_free(ctx.settings, || async {
        ctx.ec2
            .delete_security_group()
            .group_id(&request.id)
            .send()
            .await
            .map(|_| ())
            .map_err(from_sdk)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_take_the_form_ec2_reads_back() {
        let written = json!([
            {"protocol": "tcp", "from_port": 5432, "to_port": 5432, "cidr_blocks": ["10.2.0.0/16"]},
            {"protocol": "6", "from_port": 5432, "to_port": 5432, "cidr_blocks": ["10.1.0.0/16"]},
            {"protocol": "all", "cidr_blocks": ["0.0.0.0/0"]},
        ]);
        let canonical = normalize("egress", &written).unwrap();
        assert_eq!(
            canonical,
            json!([
                {"protocol": "-1", "cidr_blocks": ["0.0.0.0/0"]},
                {"protocol": "tcp", "from_port": 5432, "to_port": 5432, "cidr_blocks": ["10.1.0.0/16", "10.2.0.0/16"]},
            ])
        );
        assert_eq!(normalize("description", &json!("x")), None);
    }
}
