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
import urllib.error
import urllib.request

import boto3

moto, gce = sys.argv[1], sys.argv[2]
BASE = dict(aws_access_key_id="testing", aws_secret_access_key="testing")


def request(url, body=None):
    """With the retries any Compute client needs (the cloud profile throttles)."""
    for attempt in range(12):
        try:
            data = None if body is None else json.dumps(body).encode()
            req = urllib.request.Request(url, data=data, method="GET" if body is None else "POST",
                                         headers={"content-type": "application/json"})
            with urllib.request.urlopen(req) as answer:
                return json.load(answer)
        except urllib.error.HTTPError as error:
            text = error.read().decode("utf-8", "replace")
            throttled = error.code == 403 and "ratelimitexceeded" in text.lower()
            if not (throttled or error.code in (429, 500, 503)) or attempt == 11:
                raise
            time.sleep(min(0.05 * 2 ** attempt, 2.0))


def call(fn, **kwargs):
    """A boto3 call with retries of the sandbox's throttling and not-yet-visible answers."""
    for attempt in range(12):
        try:
            return fn(**kwargs)
        except Exception as error:  # botocore ClientError and connection errors
            if attempt == 11:
                raise
            time.sleep(min(0.05 * 2 ** attempt, 2.0))


def places():
    """Credentials of the management account, then of each active member account."""
    yield BASE
    org = boto3.client("organizations", region_name="us-east-1", endpoint_url=moto, **BASE)
    try:
        accounts = org.list_accounts()["Accounts"]
        management = org.describe_organization()["Organization"]["MasterAccountId"]
    except org.exceptions.AWSOrganizationsNotInUseException:
        return
    sts = boto3.client("sts", region_name="us-east-1", endpoint_url=moto, **BASE)
    for account in accounts:
        if account["Status"] == "ACTIVE" and account["Id"] != management:
            c = sts.assume_role(
                RoleArn=f"arn:aws:iam::{account['Id']}:role/OrganizationAccountAccessRole",
                RoleSessionName="vms")["Credentials"]
            yield dict(aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                       aws_session_token=c["SessionToken"])


def aws(region, group):
    for creds in places():
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
    projects = ["terrace-sandbox"] + [p["projectId"] for p in
                                      request(f"{gce}/v3/projects").get("projects", [])
                                      if p.get("state") == "ACTIVE"]
    for project in projects:
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
