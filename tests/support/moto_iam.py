"""IAM on a moto server, for the access-control tests (boto3 from the project venv).

    python moto_iam.py users ENDPOINT < SPEC   # SPEC: {"user": policy document, ...}
        creates an IAM user per entry with the policy inline and prints
        {"user": {"key": ..., "secret": ...}, ...}
    python moto_iam.py enforce ENDPOINT         # from now on moto checks every request
        against IAM (INITIAL_NO_AUTH_ACTION_COUNT = 0, set through /moto-api/reset-auth)
    python moto_iam.py coverage ENDPOINT        # measures what moto's IAM enforcement
        covers for the calls Terrace makes; prints {case: "allowed" | "denied"}

Run `users` before `enforce` (creating users needs no credentials until then)."""

import json
import sys
import urllib.request

import boto3
from botocore.exceptions import ClientError

REGION = "us-east-1"
ACCOUNT = "123456789012"


def client(service, endpoint, key="testing", secret="testing"):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
    )


def create_users(endpoint, spec):
    iam = client("iam", endpoint)
    keys = {}
    for user, policy in spec.items():
        iam.create_user(UserName=user)
        iam.put_user_policy(
            UserName=user, PolicyName="terrace", PolicyDocument=json.dumps(policy)
        )
        key = iam.create_access_key(UserName=user)["AccessKey"]
        keys[user] = {"key": key["AccessKeyId"], "secret": key["SecretAccessKey"]}
    return keys


def enforce(endpoint):
    request = urllib.request.Request(
        f"{endpoint}/moto-api/reset-auth",
        data=b"0",
        method="POST",
        headers={"Content-Type": "text/plain"},
    )
    urllib.request.urlopen(request).read()


def outcome(call):
    try:
        call()
        return "allowed"
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "")
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code == "SignatureDoesNotMatch":
            return "signature rejected"
        if status == 403 or "AccessDenied" in code:
            return "denied"
        return "allowed"  # authorized; the service said no for another reason


def deleted(answer):
    """A batch delete answers 200 with per-key errors: an AccessDenied there is a refusal."""
    for error in answer.get("Errors", []):
        if error.get("Code") == "AccessDenied":
            raise ClientError({"Error": {"Code": "AccessDenied"}, "ResponseMetadata": {"HTTPStatusCode": 403}}, "DeleteObjects")
    return answer


def allow(sid, actions, resources, condition=None):
    statement = {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources}
    if condition:
        statement["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [statement]}


def coverage(endpoint):
    s3 = client("s3", endpoint)
    s3.create_bucket(Bucket="probe")
    for key in ("mine/a.json", "theirs/a.json"):
        s3.put_object(Bucket="probe", Key=key, Body=b"{}")
    ddb = client("dynamodb", endpoint)
    ddb.create_table(
        TableName="locks",
        KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    kms = client("kms", endpoint)
    key = kms.create_key()["KeyMetadata"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    iam = client("iam", endpoint)
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}
    roles = {
        name: iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        for name in ("mine", "theirs")
    }
    table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/locks"
    leading = {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["mine"]}}
    policies = {
        "s3-objects": allow("S3", ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], ["arn:aws:s3:::probe/mine/*"]),
        "s3-list-prefix": allow("S3", ["s3:ListBucket"], ["arn:aws:s3:::probe"], {"StringLike": {"s3:prefix": ["mine*"]}}),
        "s3-list-bucket": allow("S3", ["s3:ListBucket"], ["arn:aws:s3:::probe"]),
        "s3-list-any": allow("S3", ["s3:ListBucket"], ["*"]),
        "ddb-table": allow("D", ["dynamodb:PutItem"], [table]),
        "ddb-any": allow("D", ["dynamodb:PutItem"], ["*"]),
        "ddb-leading-keys": allow("D", ["dynamodb:PutItem"], ["*"], leading),
        "kms-key": allow("K", ["kms:Decrypt"], [key["Arn"]]),
        "kms-any": allow("K", ["kms:Decrypt"], ["*"]),
        "sts-role": allow("R", ["sts:AssumeRole"], [roles["mine"]]),
        "nothing": allow("N", ["s3:GetBucketTagging"], ["arn:aws:s3:::nothing"]),
    }
    keys = create_users(endpoint, policies)
    enforce(endpoint)

    def as_user(service, user):
        return client(service, endpoint, keys[user]["key"], keys[user]["secret"])

    def put(user, lock_id):
        return lambda: as_user("dynamodb", user).put_item(
            TableName="locks", Item={"LockID": {"S": lock_id}}
        )

    def assume(user, role):
        return lambda: as_user("sts", user).assume_role(RoleArn=roles[role], RoleSessionName="probe")

    cases = {
        "s3:GetObject on a granted key": lambda: as_user("s3", "s3-objects").get_object(Bucket="probe", Key="mine/a.json"),
        "s3:GetObject on another key": lambda: as_user("s3", "s3-objects").get_object(Bucket="probe", Key="theirs/a.json"),
        "s3:PutObject on another key": lambda: as_user("s3", "s3-objects").put_object(Bucket="probe", Key="theirs/b.json", Body=b"{}"),
        "s3:PutObject with If-Match on a granted key": lambda: as_user("s3", "s3-objects").put_object(Bucket="probe", Key="mine/a.json", Body=b"{}", IfMatch='"never"'),
        "s3:PutObject with If-Match on another key": lambda: as_user("s3", "s3-objects").put_object(Bucket="probe", Key="theirs/a.json", Body=b"{}", IfMatch='"never"'),
        "s3:DeleteObject on a granted key": lambda: as_user("s3", "s3-objects").delete_object(Bucket="probe", Key="mine/gone.json"),
        "s3:DeleteObjects (batch) of granted keys": lambda: deleted(as_user("s3", "s3-objects").delete_objects(Bucket="probe", Delete={"Objects": [{"Key": "mine/gone.json"}]})),
        "s3:ListBucket allowed on the bucket ARN": lambda: as_user("s3", "s3-list-bucket").list_objects_v2(Bucket="probe", Prefix="theirs"),
        "s3:ListBucket allowed on *": lambda: as_user("s3", "s3-list-any").list_objects_v2(Bucket="probe", Prefix="theirs"),
        "s3:ListBucket with a / in the prefix": lambda: as_user("s3", "s3-list-any").list_objects_v2(Bucket="probe", Prefix="theirs/"),
        "s3:ListBucket inside the s3:prefix condition": lambda: as_user("s3", "s3-list-prefix").list_objects_v2(Bucket="probe", Prefix="mine"),
        "s3:ListBucket outside the s3:prefix condition": lambda: as_user("s3", "s3-list-prefix").list_objects_v2(Bucket="probe", Prefix="theirs"),
        "dynamodb:PutItem allowed on the table ARN": put("ddb-table", "mine"),
        "dynamodb:PutItem allowed on *": put("ddb-any", "mine"),
        "dynamodb:PutItem outside dynamodb:LeadingKeys": put("ddb-leading-keys", "theirs"),
        "dynamodb:PutItem not allowed": put("nothing", "mine"),
        "kms:Decrypt allowed on the key ARN": lambda: as_user("kms", "kms-key").decrypt(CiphertextBlob=blob),
        "kms:Decrypt allowed on *": lambda: as_user("kms", "kms-any").decrypt(CiphertextBlob=blob),
        "kms:Decrypt not allowed": lambda: as_user("kms", "nothing").decrypt(CiphertextBlob=blob),
        "sts:AssumeRole on the granted role": assume("sts-role", "mine"),
        "sts:AssumeRole on another role": assume("sts-role", "theirs"),
    }
    return {case: outcome(call) for case, call in cases.items()}


def main():
    command, endpoint = sys.argv[1], sys.argv[2]
    if command == "users":
        print(json.dumps(create_users(endpoint, json.load(sys.stdin))))
    elif command == "enforce":
        enforce(endpoint)
    elif command == "coverage":
        print(json.dumps(coverage(endpoint), indent=1))
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main()
