//! What the instances of Auto Scaling groups were launched with. AWS launches a group's
//! instances with the security groups of the group's launch template, and an instance keeps the
//! groups it was launched with when the template changes later ("Launch templates" and
//! "Instance refresh" in the Amazon EC2 Auto Scaling user guide). moto 5.1 launches them with
//! the VPC's default security group instead, so a security group still used by running nodes
//! could be deleted (hashicorp/terraform-provider-aws#1671 is the real-world refusal).
//!
//! The layer therefore records, the first time it sees an instance of a group — in an answer
//! to DescribeAutoScalingGroups passing through, or when it checks a delete — the security
//! groups of the template version the group launches from at that moment.

use crate::call::Call;
use crate::upstream::Upstream;
use crate::xml;
use axum::http::HeaderMap;
use std::collections::HashMap;
use std::sync::Mutex;

/// (access key, region, instance id).
type Key = (String, String, String);

/// Security groups per group instance, as launched.
#[derive(Debug, Default)]
pub struct Launches {
    groups_of: Mutex<HashMap<Key, Vec<String>>>,
}

/// One Auto Scaling group of an answer: its template and version, and its instances.
struct Group {
    template: Option<String>,
    version: Option<String>,
    instances: Vec<String>,
}

fn groups(answer: &str) -> Vec<Group> {
    let Some(list) = xml::elements(answer, "AutoScalingGroups")
        .into_iter()
        .next()
    else {
        return Vec::new();
    };
    xml::elements(list, "member")
        .into_iter()
        .map(|group| {
            let instances = xml::elements(group, "Instances")
                .into_iter()
                .next()
                .unwrap_or("");
            let own = group.replacen(instances, "", 1);
            Group {
                template: xml::texts(&own, "LaunchTemplateId").into_iter().next(),
                version: xml::texts(&own, "Version").into_iter().next(),
                instances: xml::texts(instances, "InstanceId"),
            }
        })
        .collect()
}

impl Launches {
    /// Records the unseen instances of the groups in a DescribeAutoScalingGroups answer.
    pub async fn observe(
        &self,
        answer: &str,
        call: &Call,
        headers: &HeaderMap,
        upstream: &Upstream,
    ) {
        for group in groups(answer) {
            let unseen: Vec<String> = {
                let known = self.groups_of.lock().expect("lock");
                group
                    .instances
                    .iter()
                    .filter(|i| {
                        !known.contains_key(&(
                            call.access_key.clone(),
                            call.region.clone(),
                            (*i).clone(),
                        ))
                    })
                    .cloned()
                    .collect()
            };
            let Some(template) = group.template.as_deref().filter(|_| !unseen.is_empty()) else {
                continue;
            };
            let version = group.version.as_deref().unwrap_or("$Default");
            let security_groups = template_groups(call, headers, upstream, template, version).await;
            let mut known = self.groups_of.lock().expect("lock");
            for instance in unseen {
                known.insert(
                    (call.access_key.clone(), call.region.clone(), instance),
                    security_groups.clone(),
                );
            }
        }
    }

    /// Looks the caller's groups up in moto, records what is unseen, and returns the group
    /// instances launched with `security_group`.
    pub async fn using(
        &self,
        call: &Call,
        headers: &HeaderMap,
        upstream: &Upstream,
        security_group: &str,
    ) -> Vec<String> {
        let params = vec![
            (
                "Action".to_string(),
                "DescribeAutoScalingGroups".to_string(),
            ),
            ("Version".to_string(), "2011-01-01".to_string()),
        ];
        if let Some(answer) = upstream
            .query(headers, "autoscaling", &call.region, &params)
            .await
        {
            self.observe(&answer, call, headers, upstream).await;
        }
        let known = self.groups_of.lock().expect("lock");
        known
            .iter()
            .filter(|((key, region, _), groups)| {
                *key == call.access_key
                    && *region == call.region
                    && groups.iter().any(|g| g == security_group)
            })
            .map(|((_, _, instance), _)| instance.clone())
            .collect()
    }
}

/// The security groups of a launch template version.
async fn template_groups(
    call: &Call,
    headers: &HeaderMap,
    upstream: &Upstream,
    template: &str,
    version: &str,
) -> Vec<String> {
    let params = vec![
        (
            "Action".to_string(),
            "DescribeLaunchTemplateVersions".to_string(),
        ),
        ("Version".to_string(), "2016-11-15".to_string()),
        ("LaunchTemplateId".to_string(), template.to_string()),
        ("LaunchTemplateVersion.1".to_string(), version.to_string()),
    ];
    let answer = upstream
        .query(headers, "ec2", &call.region, &params)
        .await
        .unwrap_or_default();
    xml::elements(&answer, "securityGroupIdSet")
        .into_iter()
        .flat_map(|set| xml::texts(set, "item"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_read_with_their_own_template_not_their_instances() {
        let answer = "<DescribeAutoScalingGroupsResponse><DescribeAutoScalingGroupsResult><AutoScalingGroups>\
            <member><AutoScalingGroupName>g</AutoScalingGroupName>\
            <Instances><member><InstanceId>i-1</InstanceId><LaunchTemplate><LaunchTemplateId>lt-old</LaunchTemplateId><Version>1</Version></LaunchTemplate></member></Instances>\
            <LaunchTemplate><LaunchTemplateId>lt-new</LaunchTemplateId><Version>$Default</Version></LaunchTemplate></member>\
            </AutoScalingGroups></DescribeAutoScalingGroupsResult></DescribeAutoScalingGroupsResponse>";
        let found = groups(answer);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].template.as_deref(), Some("lt-new"));
        assert_eq!(found[0].version.as_deref(), Some("$Default"));
        assert_eq!(found[0].instances, vec!["i-1"]);
    }
}
