"""boto3 helpers for the streaming tests against moto in server mode.

  s3.py setup ENDPOINT         creates IAM user `rolebook` allowed s3:*, its
                               access key and bucket `audit` (the server's
                               first four, unauthenticated, requests); prints
                               {"access_key_id", "secret_access_key"}
  s3.py list ENDPOINT KEY SECRET
                               prints {key: {"size", "sha256", "etag"}} of
                               every object in `audit`, read with signed
                               requests
"""
import hashlib
import json
import sys

import boto3


def client(service, endpoint, key, secret):
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=key, aws_secret_access_key=secret)


def setup(endpoint):
    iam = client("iam", endpoint, "AKIASETUPSETUPSETUP", "setup")
    iam.create_user(UserName="rolebook")
    policy = {"Version": "2012-10-17",
              "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    iam.put_user_policy(UserName="rolebook", PolicyName="s3",
                        PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="rolebook")["AccessKey"]
    client("s3", endpoint, "AKIASETUPSETUPSETUP", "setup").create_bucket(Bucket="audit")
    return {"access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"]}


def list_objects(endpoint, key, secret):
    s3 = client("s3", endpoint, key, secret)
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket="audit"):
        for obj in page.get("Contents", []):
            body = s3.get_object(Bucket="audit", Key=obj["Key"])["Body"].read()
            out[obj["Key"]] = {"size": obj["Size"], "etag": obj["ETag"],
                               "sha256": hashlib.sha256(body).hexdigest()}
    return out


if __name__ == "__main__":
    if sys.argv[1] == "setup":
        json.dump(setup(sys.argv[2]), sys.stdout)
    elif sys.argv[1] == "list":
        json.dump(list_objects(*sys.argv[2:5]), sys.stdout)
    else:
        sys.exit("unknown command " + sys.argv[1])
