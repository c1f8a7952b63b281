//! Deletes AWS refuses while something still uses the resource, where moto 5.1 deletes anyway.
//!
//! - DeleteSecurityGroup: "If you attempt to delete a security group that is associated with an
//!   instance or network interface, is referenced by another security group in the same VPC, or
//!   has a VPC association, the operation fails with `DependencyViolation`" (EC2 API reference,
//!   <https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeleteSecurityGroup.html>).
//!   The network interfaces of an Auto Scaling group's instances carry the groups of its launch
//!   template, so a group used through a launch template by running instances is refused too
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
use crate::proxy::Upstream;
use axum::http::HeaderMap;

/// The refusal AWS would answer for this delete, if any. Looks the dependents up in moto with
/// the caller's own credentials (so in the caller's account).
pub async fn refusal(call: &Call, headers: &HeaderMap, upstream: &Upstream) -> Option<AwsError> {
    match call.action.as_str() {
        "DeleteSecurityGroup" => {
            let group = call.param("GroupId")?;
            security_group_in_use(call, headers, upstream, group)
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
    let interfaces = crate::xml::texts(&answer, "networkInterfaceId");
    let instances = crate::xml::texts(&answer, "instanceId");
    if interfaces.len() > instances.len() {
        return true;
    }
    let instances: Vec<&str> = instances.iter().map(String::as_str).collect();
    if instances.is_empty() {
        return false;
    }
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

async fn security_group_in_use(
    call: &Call,
    headers: &HeaderMap,
    upstream: &Upstream,
    group: &str,
) -> bool {
    if live_interfaces(call, headers, upstream, ("group-id", &[group])).await {
        return true;
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
    let interfaces = ec2_filter(
        call,
        headers,
        upstream,
        "DescribeNetworkInterfaces",
        &[("subnet-id", &[subnet])],
        "networkInterfaceId",
    )
    .await;
    if !interfaces.is_empty() {
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
