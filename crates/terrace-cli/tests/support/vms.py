"""The VMs running in the sandbox and the boot document each one was launched with, listed
directly — boto3 against moto, plain REST against the Compute Engine emulator — never through
Terrace.

Usage: python vms.py MOTO_URL GCE_URL SPEC...
  aws:REGION:GROUP   an Auto Scaling group: each instance in it, with its own user data
                     (DescribeInstanceAttribute userData, what it was launched with)
  gcp:REGION:BASE    the regional managed instance group whose baseInstanceName is BASE:
                     each VM (listManagedInstances) with its version.instanceTemplate and
                     that template's `user-data` metadata, plus the group's status
Prints {SPEC: {"vms": [{"id", "boot"}], "stable": bool, "reached": bool}} as JSON.
Groups are looked for in the management account and every active member account (through
STS AssumeRole of OrganizationAccountAccessRole), and in the sandbox's base project and every
active project: each region group's resources live in its own account and project.
"""
import base64
import json
import sys
import time

import boto3

from sandbox_clouds import aws_places, compute as request, gcp_projects

moto, gce = sys.argv[1], sys.argv[2]


def call(fn, **kwargs):
    """A boto3 call with retries of the sandbox's throttling and not-yet-visible answers."""
    for attempt in range(12):
        try:
            return fn(**kwargs)
        except Exception as error:  # botocore ClientError and connection errors
            if attempt == 11:
                raise
            time.sleep(min(0.05 * 2 ** attempt, 2.0))


def aws(region, group):
    for _, creds in aws_places(moto, "vms"):
        kw = dict(region_name=region, endpoint_url=moto, **creds)
        asg, ec2 = boto3.client("autoscaling", **kw), boto3.client("ec2", **kw)
        found = call(asg.describe_auto_scaling_groups, AutoScalingGroupNames=[group])
        if found["AutoScalingGroups"]:
            break
    vms = []
    for instance in found["AutoScalingGroups"][0]["Instances"]:
        ident = instance["InstanceId"]
        attr = call(ec2.describe_instance_attribute, InstanceId=ident, Attribute="userData")
        boot = base64.b64decode(attr.get("UserData", {}).get("Value", "")).decode()
        vms.append({"id": ident, "boot": boot, "state": instance["LifecycleState"]})
    return {"vms": vms, "stable": all(v["state"] == "InService" for v in vms), "reached": True}


def gcp(region, base):
    for project in gcp_projects(gce):
        compute = f"{gce}/compute/v1/projects/{project}"
        groups = request(f"{compute}/regions/{region}/instanceGroupManagers").get("items", [])
        group = next((g for g in groups if g["baseInstanceName"] == base), None)
        if group:
            break
    listed = request(f"{compute}/regions/{region}/instanceGroupManagers/{group['name']}"
                     "/listManagedInstances", {})
    templates, vms = {}, []
    for vm in listed.get("managedInstances", []):
        link = vm.get("version", {}).get("instanceTemplate", "")
        if link and link not in templates:
            name = link.rsplit("/", 1)[1]
            template = request(f"{compute}/global/instanceTemplates/{name}")
            items = template["properties"].get("metadata", {}).get("items", [])
            templates[link] = next((i["value"] for i in items if i["key"] == "user-data"), "")
        vms.append({"id": vm["name"], "boot": templates.get(link, ""),
                    "template": link, "action": vm.get("currentAction")})
    status = group.get("status", {})
    return {"vms": vms, "stable": status.get("isStable") is True,
            "reached": status.get("versionTarget", {}).get("isReached") is True}


out = {}
for spec in sys.argv[3:]:
    cloud, region, name = spec.split(":", 2)
    out[spec] = aws(region, name) if cloud == "aws" else gcp(region, name)
print(json.dumps(out))
