"""What the scripts that list the sandbox directly share (inventory.py, mesh.py, vms.py): boto3
clients against moto in the management account or, through STS AssumeRole of
OrganizationAccountAccessRole, in each active member account (moto keeps accounts apart by the
credentials a request is signed with); Compute REST calls with the retries any Compute client
needs; Terrace's GCP ownership labels."""
import json
import time
import urllib.error
import urllib.request

import boto3
from botocore.config import Config

BASE = dict(aws_access_key_id="testing", aws_secret_access_key="testing")
# Through the sandbox's AWS layer a call may be throttled (10 % under the cloud profile):
# retried as a careful AWS client retries ("standard" mode retries RequestLimitExceeded and
# Throttling with backoff); the legacy default's 3 attempts failed a run once.
RETRIES = Config(retries={"mode": "standard", "max_attempts": 10})


def aws_client(moto, service, region, creds=None):
    return boto3.client(service, region_name=region, endpoint_url=moto, config=RETRIES,
                        **(creds or BASE))


def aws_places(moto, session):
    """(account id, credentials): the management account, then each active member account.
    Without an organization, the caller's account only (its id is then None)."""
    org = aws_client(moto, "organizations", "us-east-1")
    try:
        accounts = org.list_accounts()["Accounts"]
        management = org.describe_organization()["Organization"]["MasterAccountId"]
    except org.exceptions.AWSOrganizationsNotInUseException:
        return [(None, BASE)]
    sts = aws_client(moto, "sts", "us-east-1")
    places = [(management, BASE)]
    for account in accounts:
        if account["Status"] == "ACTIVE" and account["Id"] != management:
            c = sts.assume_role(
                RoleArn=f"arn:aws:iam::{account['Id']}:role/OrganizationAccountAccessRole",
                RoleSessionName=session)["Credentials"]
            places.append((account["Id"], dict(aws_access_key_id=c["AccessKeyId"],
                                               aws_secret_access_key=c["SecretAccessKey"],
                                               aws_session_token=c["SessionToken"])))
    return places


def tags_of(items):
    return {t["Key"]: t["Value"] for t in items or []}


def compute(url, body=None):
    """A Compute REST call (GET, or POST with a JSON body) with the retries any Compute client
    needs: the sandbox's cloud profile throttles with 403 rateLimitExceeded and answers 429 and
    503 now and then, as Compute does. Any other 403 is an answer, not a reason to retry."""
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


def gcp_projects(gce):
    """The sandbox's base project, then every other active project of the emulator."""
    listed = compute(f"{gce}/v3/projects").get("projects", [])
    ids = [p["projectId"] for p in listed if p.get("state") == "ACTIVE"]
    return ["terrace-sandbox"] + [i for i in ids if i != "terrace-sandbox"]


def gcp_policies(gce, project):
    """The Org Policy v2 policies set on a project (`GET v2/projects/{p}/policies`)."""
    return compute(f"{gce}/v2/projects/{project}/policies").get("policies", [])


def decode(label):
    """Terrace's label encoding (`_s` is `/`, `__` is `_`, `_XX` a hex byte)."""
    out, i = "", 0
    while i < len(label):
        if label[i] == "_":
            nxt = label[i + 1]
            if nxt == "_":
                out, i = out + "_", i + 2
            elif nxt == "s":
                out, i = out + "/", i + 2
            else:
                out, i = out + chr(int(label[i + 1:i + 3], 16)), i + 3
        else:
            out, i = out + label[i], i + 1
    return out


def gcp_owner(item):
    """(workspace, stack, resource) of a GCP resource, from its labels or description."""
    labels = item.get("labels") or {}
    if "terrace-workspace" in labels:
        return (decode(labels["terrace-workspace"]), decode(labels.get("terrace-stack", "")),
                decode(labels.get("terrace-resource", "")))
    words = dict(w.split("=", 1) for w in (item.get("description") or "").split() if "=" in w)
    if words.get("managed-by") == "terrace":
        return (decode(words.get("workspace", "")), decode(words.get("stack", "")),
                decode(words.get("resource", "")))
    return None, None, None
