//! Deletes AWS refuses while something still uses the resource, where moto 5.1 deletes anyway.
//!
//! - DeleteSecurityGroup: "If you attempt to delete a security group that is associated with an
//!   instance or network interface, is referenced by another security group in the same VPC, or
//!   has a VPC association, the operation fails with `DependencyViolation`" (EC2 API reference,
//!   <https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeleteSecurityGroup.html>).
//!   An Auto Scaling group's instances carry the groups of the launch template they were
//!   launched from ([`crate::launches`]; moto gives them the VPC's default group), so a group
//!   used through a launch template by running instances is refused too
//!   (hashicorp/terraform-provider-aws#1671, "DependencyViolation: resource sg-… has a dependent
//!   object" after a create_before_destroy replace under an ASG).
//! - DeleteSubnet: "You must terminate all running instances in the subnet before you can delete
//!   the subnet" (<https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeleteSubnet.html>);
//!   AWS answers `DependencyViolation: The subnet '…' has dependencies and cannot be deleted`
//!   while network interfaces are in it (hashicorp/terraform-provider-aws#9495). A Network Load
//!   Balancer has one in each of its subnets ("Elastic Load Balancing creates … a network
//!   interface for the selected subnet", ELB user guide,
//!   <https://docs.aws.amazon.com/elasticloadbalancing/latest/network/availability-zones.html>),
//!   which moto does not create, so a load balancer in the subnet counts as well.
//!
//! A network interface counts while it is detached or attached to an instance that is not
//! terminated: EC2 deletes an instance's primary interface with it ("Delete on termination",
//! <https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/using-eni.html>), which moto 5.1 does
//! not (it leaves the interface `in-use` by the terminated instance).
//! - DeleteTargetGroup while a listener forwards to it answers `ResourceInUse` in moto already
//!   (as AWS does: hashicorp/terraform-provider-aws#16889); nothing to add here.

use crate::answer::AwsError;
use crate::call::Call;
use crate::launches::Launches;
use crate::upstream::Upstream;
use axum::http::HeaderMap;

/// The refusal AWS would answer for this delete, if any. Looks the dependents up in moto with
/// the caller's own credentials (so in the caller's account).
pub async fn refusal(
    call: &Call,
    headers: &HeaderMap,
    upstream: &Upstream,
    launches: &Launches,
) -> Option<AwsError> {
    match call.action.as_str() {
        "DeleteSecurityGroup" => {
            let group = call.param("GroupId")?;
            security_group_in_use(call, headers, upstream, launches, group)
                .await
                .then(|| {
                    AwsError::new(
                        400,
                        "DependencyViolation",
                        format!("resource {group} has a dependent object"),
                    )
                })
        }
        "DeleteSubnet" => {
            let subnet = call.param("SubnetId")?;
            subnet_in_use(call, headers, upstream, subnet)
                .await
                .then(|| {
                    AwsError::new(
                        400,
                        "DependencyViolation",
                        format!("The subnet '{subnet}' has dependencies and cannot be deleted."),
                    )
                })
        }
        _ => None,
    }
}

const EC2: &str = "2016-11-15";
const ELBV2: &str = "2015-12-01";
const LIVE_STATES: &[&str] = &["pending", "running", "stopping", "stopped"];

async fn ec2_filter(
    call: &Call,
    headers: &HeaderMap,
    upstream: &Upstream,
    action: &str,
    filters: &[(&str, &[&str])],
    id_element: &str,
) -> Vec<String> {
    let mut params = vec![
        ("Action".to_string(), action.to_string()),
        ("Version".to_string(), EC2.to_string()),
    ];
    for (i, (name, values)) in filters.iter().enumerate() {
        params.push((format!("Filter.{}.Name", i + 1), name.to_string()));
        for (j, value) in values.iter().enumerate() {
            params.push((
                format!("Filter.{}.Value.{}", i + 1, j + 1),
                value.to_string(),
            ));
        }
    }
    let answer = upstream
        .query(headers, "ec2", &call.region, &params)
        .await
        .unwrap_or_default();
    crate::xml::texts(&answer, id_element)
}

/// True when a network interface matching `filter` is detached or attached to an instance that
/// is not terminated.
async fn live_interfaces(
    call: &Call,
    headers: &HeaderMap,
    upstream: &Upstream,
    filter: (&str, &[&str]),
) -> bool {
    let mut params = vec![
        (
            "Action".to_string(),
            "DescribeNetworkInterfaces".to_string(),
        ),
        ("Version".to_string(), EC2.to_string()),
        ("Filter.1.Name".to_string(), filter.0.to_string()),
    ];
    for (j, value) in filter.1.iter().enumerate() {
        params.push((format!("Filter.1.Value.{}", j + 1), value.to_string()));
    }
    let answer = upstream
        .query(headers, "ec2", &call.region, &params)
        .await
        .unwrap_or_default();
    let mut attached = Vec::new();
    for interface in interfaces(&answer) {
        match interface {
            // Detached: it blocks the delete, as in EC2.
            Interface::Available => return true,
            Interface::Attached(instance) => attached.push(instance),
            // moto's remains of a terminated instance's interface.
            Interface::Orphaned => {}
        }
    }
    if attached.is_empty() {
        return false;
    }
    let instances: Vec<&str> = attached.iter().map(String::as_str).collect();
    !ec2_filter(
        call,
        headers,
        upstream,
        "DescribeInstances",
        &[
            ("instance-id", &instances),
            ("instance-state-name", LIVE_STATES),
        ],
        "instanceId",
    )
    .await
    .is_empty()
}

/// A network interface of a DescribeNetworkInterfaces answer.
enum Interface {
    Available,
    Attached(String),
    /// `in-use` with no attachment: what moto leaves of a terminated instance's interface.
    Orphaned,
}

fn interfaces(answer: &str) -> Vec<Interface> {
    let Some(set) = crate::xml::elements(answer, "networkInterfaceSet")
        .into_iter()
        .next()
    else {
        return Vec::new();
    };
    crate::xml::elements(set, "item")
        .into_iter()
        .map(|item| {
            let instance = crate::xml::elements(item, "attachment")
                .into_iter()
                .find_map(|a| crate::xml::texts(a, "instanceId").into_iter().next());
            let available = crate::xml::elements(item, "status")
                .into_iter()
                .any(|s| s.trim() == "available");
            match (instance, available) {
                (Some(instance), _) => Interface::Attached(instance),
                (None, true) => Interface::Available,
                (None, false) => Interface::Orphaned,
            }
        })
        .collect()
}

async fn security_group_in_use(
    call: &Call,
    headers: &HeaderMap,
    upstream: &Upstream,
    launches: &Launches,
    group: &str,
) -> bool {
    if live_interfaces(call, headers, upstream, ("group-id", &[group])).await {
        return true;
    }
    let launched = launches.using(call, headers, upstream, group).await;
    if !launched.is_empty() {
        let ids: Vec<&str> = launched.iter().map(String::as_str).collect();
        let live = ec2_filter(
            call,
            headers,
            upstream,
            "DescribeInstances",
            &[("instance-id", &ids), ("instance-state-name", LIVE_STATES)],
            "instanceId",
        )
        .await;
        if !live.is_empty() {
            return true;
        }
    }
    let instances = ec2_filter(
        call,
        headers,
        upstream,
        "DescribeInstances",
        &[
            ("instance.group-id", &[group]),
            ("instance-state-name", LIVE_STATES),
        ],
        "instanceId",
    )
    .await;
    !instances.is_empty()
}

async fn subnet_in_use(
    call: &Call,
    headers: &HeaderMap,
    upstream: &Upstream,
    subnet: &str,
) -> bool {
    if live_interfaces(call, headers, upstream, ("subnet-id", &[subnet])).await {
        return true;
    }
    let params = vec![
        ("Action".to_string(), "DescribeLoadBalancers".to_string()),
        ("Version".to_string(), ELBV2.to_string()),
    ];
    let balancers = upstream
        .query(headers, "elasticloadbalancing", &call.region, &params)
        .await
        .unwrap_or_default();
    crate::xml::texts(&balancers, "SubnetId")
        .iter()
        .any(|s| s == subnet)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interfaces_are_told_apart_by_their_attachment_and_status() {
        let answer = r#"<?xml version="1.0" encoding="utf-8"?>
<DescribeNetworkInterfacesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15"><networkInterfaceSet><item><attachment><attachmentId>eni-attach-1</attachmentId><instanceId>i-1</instanceId><status>attached</status></attachment><groupSet><item><groupId>sg-1</groupId></item></groupSet><networkInterfaceId>eni-1</networkInterfaceId><status>in-use</status></item><item><networkInterfaceId>eni-2</networkInterfaceId><status>available</status></item><item><networkInterfaceId>eni-3</networkInterfaceId><status>in-use</status></item></networkInterfaceSet><requestId>r</requestId></DescribeNetworkInterfacesResponse>"#;
        let found = interfaces(answer);
        assert_eq!(found.len(), 3);
        assert!(matches!(&found[0], Interface::Attached(i) if i == "i-1"));
        assert!(matches!(found[1], Interface::Available));
        assert!(matches!(found[2], Interface::Orphaned));
    }
}
