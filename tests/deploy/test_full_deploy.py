"""A fresh deploy creates every resource with the properties the issue asks for."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from deploy_helpers import ConfigWriter, StackOpener, aws_client
from moto.awslambda.models import lambda_backends

from mailflow_cli.deploy import deploy_stack
from mailflow_cli.naming import SES_PERMISSION_SID, SHARED_RULE_SET, is_owned

ACCOUNT = "123456789012"
REGION = "eu-west-1"
BUCKET = f"mailflow-dev-{ACCOUNT}-{REGION}"
FUNCTION = "mailflow-dev-handler"


client = aws_client


def deploy_example(
    write_config: ConfigWriter, open_recorded: StackOpener, **overrides: Any
) -> dict[str, Any]:
    path = write_config(**overrides)
    ctx, _ = open_recorded(path)
    return deploy_stack(ctx).to_json()


def test_outputs_name_every_queue_function_bucket_and_table(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    outputs = deploy_example(write_config, open_recorded)
    assert set(outputs["appQueueUrls"]) == {"app1", "app2"}
    assert outputs["appQueueUrls"]["app1"].endswith("/mailflow-dev-app-app1")
    assert outputs["defaultQueueUrl"].endswith("/mailflow-dev-default")
    assert outputs["outboundQueueUrl"].endswith("/mailflow-dev-outbound")
    assert set(outputs["deadLetterQueueUrls"]) == {"apps", "outbound", "inbound", "events"}
    assert outputs["sesEventsQueueUrl"].endswith("/mailflow-dev-ses-events")
    assert outputs["sesEventsTopicArn"].endswith(":mailflow-dev-ses-events")
    assert outputs["lambdaFunctionArn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{FUNCTION}"
    assert outputs["rawEmailsBucketName"] == BUCKET
    assert outputs["idempotencyTableName"] == "mailflow-dev-idempotency"
    assert outputs["receiptRuleSet"] == SHARED_RULE_SET
    assert (outputs["region"], outputs["environment"]) == (REGION, "dev")


def test_bucket_is_private_encrypted_expiring_and_writable_by_ses_only_under_conditions(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    deploy_example(write_config, open_recorded, storage={"rawRetentionDays": 3})
    s3 = client("s3")
    block = s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    assert all(
        block[flag]
        for flag in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
    )
    encryption = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert encryption["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    rules = {rule["ID"]: rule for rule in s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]}
    assert rules["expire-raw"]["Filter"]["Prefix"] == "raw/"
    assert rules["expire-raw"]["Expiration"]["Days"] == 3
    assert rules["expire-attachments"]["Expiration"]["Days"] == 30
    assert {"expire-quarantine", "expire-outbound", "abort-incomplete-uploads"} <= set(rules)
    # One bucket-wide rule (empty prefix) aborts incomplete uploads; the per-prefix rules only expire.
    assert rules["abort-incomplete-uploads"]["Filter"]["Prefix"] == ""
    assert rules["abort-incomplete-uploads"]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 1
    assert [rule_id for rule_id, rule in rules.items() if "AbortIncompleteMultipartUpload" in rule] == [
        "abort-incomplete-uploads"
    ]
    policy = json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"])
    statements = {statement["Sid"]: statement for statement in policy["Statement"]}
    deny = statements["DenyInsecureTransport"]
    assert (deny["Effect"], deny["Condition"]) == ("Deny", {"Bool": {"aws:SecureTransport": "false"}})
    ses = statements["AllowSesToStoreRawMail"]
    assert ses["Principal"] == {"Service": "ses.amazonaws.com"}
    assert ses["Action"] == "s3:PutObject"
    assert ses["Resource"] == f"arn:aws:s3:::{BUCKET}/raw/*"
    assert ses["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
    assert ses["Condition"]["ArnLike"]["aws:SourceArn"].endswith(
        f"receipt-rule-set/{SHARED_RULE_SET}:receipt-rule/mailflow-dev-inbound"
    )
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=BUCKET)["TagSet"]}
    assert is_owned(tags, "dev")


def test_queues_are_encrypted_long_polled_and_redrive_to_their_dead_letter_queue(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    deploy_example(write_config, open_recorded, queues={"maxReceiveCount": 4, "maxMessageBytes": 262144})
    sqs = client("sqs")

    def attributes(name: str) -> dict[str, str]:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        return dict(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"])

    dlq_arn = {name: attributes(f"mailflow-dev-{name}")["QueueArn"] for name in ("apps-dlq", "outbound-dlq")}
    for name, dlq, receives in [
        ("app-app1", "apps-dlq", 4),
        ("app-app2", "apps-dlq", 4),
        ("default", "apps-dlq", 4),
        ("outbound", "outbound-dlq", 3),
    ]:
        found = attributes(f"mailflow-dev-{name}")
        assert found["SqsManagedSseEnabled"] == "true"
        assert found["ReceiveMessageWaitTimeSeconds"] == "20"
        assert found["MaximumMessageSize"] == "262144"
        redrive = json.loads(found["RedrivePolicy"])
        assert redrive["deadLetterTargetArn"] == dlq_arn[dlq]
        assert int(redrive["maxReceiveCount"]) == receives
    assert int(attributes("mailflow-dev-outbound")["VisibilityTimeout"]) >= 6 * 60
    assert "RedrivePolicy" not in attributes("mailflow-dev-inbound-dlq")
    url = sqs.get_queue_url(QueueName="mailflow-dev-app-app1")["QueueUrl"]
    assert is_owned(sqs.list_queue_tags(QueueUrl=url)["Tags"], "dev")


def test_role_policy_is_least_privilege(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    deploy_example(write_config, open_recorded)
    iam = client("iam")
    role = iam.get_role(RoleName="mailflow-dev-handler")["Role"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "lambda.amazonaws.com"
    }
    assert iam.list_role_policies(RoleName="mailflow-dev-handler")["PolicyNames"] == [
        "mailflow-dev-handler-policy"
    ]
    assert iam.list_attached_role_policies(RoleName="mailflow-dev-handler")["AttachedPolicies"] == []
    document = iam.get_role_policy(RoleName="mailflow-dev-handler", PolicyName="mailflow-dev-handler-policy")
    statements = document["PolicyDocument"]["Statement"]
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        assert all("*" not in action for action in actions), statement
        assert "*" not in resources, statement
    by_sid = {statement["Sid"]: statement for statement in statements}
    # the SES sandbox also checks the recipient's identity: any identity, but only From the senders
    send = by_sid["SendMailAsConfiguredSenders"]
    assert send["Action"] == ["ses:SendEmail", "ses:SendRawEmail"]
    # a send that names the configuration set is authorised against it too (contract E)
    assert send["Resource"] == [
        f"arn:aws:ses:{REGION}:{ACCOUNT}:identity/*",
        f"arn:aws:ses:{REGION}:{ACCOUNT}:configuration-set/mailflow-dev",
    ]
    assert send["Condition"] == {"StringLike": {"ses:FromAddress": ["_*@example.com"]}}
    read = by_sid["ReadMail"]["Resource"]
    assert not any("/claims/" in arn for arn in read), read
    assert by_sid["ListMailPrefixes"] == {
        "Sid": "ListMailPrefixes",
        "Effect": "Allow",
        "Action": "s3:ListBucket",
        "Resource": f"arn:aws:s3:::{BUCKET}",
        "Condition": {"StringLike": {"s3:prefix": ["raw/*", "outbound/*"]}},
    }
    assert sorted(by_sid["ConsumeOwnQueues"]["Action"]) == [
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:ReceiveMessage",
    ]
    assert (
        by_sid["WriteOwnLogs"]["Resource"]
        == f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{FUNCTION}:*"
    )
    queue = f"arn:aws:sqs:{REGION}:{ACCOUNT}:mailflow-dev-"
    assert sorted(by_sid["ConsumeOwnQueues"]["Resource"]) == [f"{queue}outbound", f"{queue}ses-events"]
    # contract C1 and finding 18: the app queues, the default queue and the DLQs it writes; not its own
    # input, nor the events DLQ (only SQS's redrive writes it)
    assert sorted(by_sid["DeliverToStackQueues"]["Resource"]) == [
        f"{queue}app-*",
        f"{queue}apps-dlq",
        f"{queue}default",
        f"{queue}inbound-dlq",
        f"{queue}outbound-dlq",
    ]
    assert by_sid["TagRawMail"]["Action"] == ["s3:GetObjectTagging", "s3:PutObjectTagging"]
    assert by_sid["TagRawMail"]["Resource"] == f"arn:aws:s3:::{BUCKET}/raw/*"
    assert sorted(by_sid["WriteDerivedObjects"]["Resource"]) == [
        f"arn:aws:s3:::{BUCKET}/{prefix}/*"
        for prefix in ("attachments", "claims", "quarantine", "raw-copies")
    ]
    assert not any(action.startswith("logs:CreateLogGroup") for s in statements for action in s["Action"])


def test_function_configuration_environment_and_code(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    deploy_example(write_config, open_recorded, **{"lambda": {"memoryMb": 1024, "reservedConcurrency": 7}})
    found = client("lambda").get_function(FunctionName=FUNCTION)
    configuration = found["Configuration"]
    assert configuration["Runtime"] == "python3.12"
    assert configuration["Architectures"] == ["arm64"]
    assert configuration["MemorySize"] == 1024
    assert configuration["Handler"] == "mailflow_handler.handler"
    assert configuration["Role"].endswith(":role/mailflow-dev-handler")
    assert configuration["DeadLetterConfig"]["TargetArn"].endswith(":mailflow-dev-inbound-dlq")
    assert found["Concurrency"]["ReservedConcurrentExecutions"] == 7
    assert is_owned(found["Tags"], "dev")
    variables = configuration["Environment"]["Variables"]
    assert len(json.dumps(variables)) < 4096
    assert not any("app1" in value or "app2" in value for value in variables.values())
    code = lambda_backends[ACCOUNT][REGION].get_function(FUNCTION).code_bytes
    with zipfile.ZipFile(io.BytesIO(code)) as archive:
        names = archive.namelist()
        document = json.loads(archive.read("mailflow_config.json"))
    assert "mailflow_handler/__init__.py" in names
    assert set(document["apps"]) == {"app1", "app2"}
    assert document["apps"]["app1"]["queue"] == "mailflow-dev-app-app1"
    logs = client("logs").describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{FUNCTION}")["logGroups"]
    assert [(group["logGroupName"], group["retentionInDays"]) for group in logs] == [
        (f"/aws/lambda/{FUNCTION}", 30)
    ]


def test_event_source_mappings_and_ses_permission(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    deploy_example(write_config, open_recorded, outbound={"batchSize": 5, "maxConcurrency": 3})
    lambda_ = client("lambda")
    mappings = {
        m["EventSourceArn"].rsplit(":", 1)[-1]: m
        for m in lambda_.list_event_source_mappings(FunctionName=FUNCTION)["EventSourceMappings"]
    }
    assert sorted(mappings) == ["mailflow-dev-outbound", "mailflow-dev-ses-events"]
    mapping = mappings["mailflow-dev-outbound"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BatchSize"] == 5
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 3}
    events = mappings["mailflow-dev-ses-events"]  # contract E: ReportBatchItemFailures, its own settings
    assert events["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert (events["BatchSize"], events["ScalingConfig"]) == (10, {"MaximumConcurrency": 2})
    statement = json.loads(lambda_.get_policy(FunctionName=FUNCTION)["Policy"])["Statement"]
    assert [s["Sid"] for s in statement] == [SES_PERMISSION_SID]
    condition = statement[0]["Condition"]
    assert statement[0]["Principal"] == {"Service": "ses.amazonaws.com"}
    assert condition["StringEquals"]["AWS:SourceAccount"] == ACCOUNT
    assert condition["ArnLike"]["AWS:SourceArn"].endswith(":receipt-rule/mailflow-dev-inbound")


def test_receipt_rule_stores_then_invokes_with_scanning_and_tls(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    deploy_example(write_config, open_recorded, domains=["example.com", "Example.ORG"])
    ses = client("ses")
    assert ses.describe_active_receipt_rule_set()["Metadata"]["Name"] == SHARED_RULE_SET
    rule = ses.describe_receipt_rule(RuleSetName=SHARED_RULE_SET, RuleName="mailflow-dev-inbound")["Rule"]
    assert rule["Enabled"]
    assert rule["ScanEnabled"]
    assert rule["TlsPolicy"] == "Require"
    assert sorted(rule["Recipients"]) == ["example.com", "example.org"]
    assert [next(iter(action)) for action in rule["Actions"]] == ["S3Action", "LambdaAction"]
    assert rule["Actions"][0]["S3Action"] == {"BucketName": BUCKET, "ObjectKeyPrefix": "raw/"}
    assert rule["Actions"][1]["LambdaAction"]["InvocationType"] == "Event"


def test_table_has_ttl_and_tags(aws: None, write_config: ConfigWriter, open_recorded: StackOpener) -> None:
    deploy_example(write_config, open_recorded)
    dynamodb = client("dynamodb")
    table = dynamodb.describe_table(TableName="mailflow-dev-idempotency")["Table"]
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    ttl = dynamodb.describe_time_to_live(TableName="mailflow-dev-idempotency")["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expiration"}
    tags = {
        t["Key"]: t["Value"] for t in dynamodb.list_tags_of_resource(ResourceArn=table["TableArn"])["Tags"]
    }
    assert is_owned(tags, "dev")


def test_alarms_notify_the_topic_when_an_email_is_set(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    deploy_example(
        write_config,
        open_recorded,
        alarms={"email": "ops@example.com", "oldestMessageAgeSeconds": 600, "appQueueAge": True},
        **{"lambda": {"reservedConcurrency": 3}},
    )
    topic_arn = f"arn:aws:sns:{REGION}:{ACCOUNT}:mailflow-dev-alarms"
    subscriptions = client("sns").list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions] == [("email", "ops@example.com")]
    alarms = {
        a["AlarmName"]: a
        for a in client("cloudwatch").describe_alarms(AlarmNamePrefix="mailflow-dev-")["MetricAlarms"]
    }
    assert set(alarms) == {
        "mailflow-dev-handler-errors",
        "mailflow-dev-handler-throttles",
        "mailflow-dev-dead-letters",
        "mailflow-dev-ses-bounce-rate",
        "mailflow-dev-ses-complaint-rate",
        "mailflow-dev-app-app1-oldest-message",
        "mailflow-dev-app-app2-oldest-message",
    }
    assert all(alarm["AlarmActions"] == [topic_arn] == alarm["OKActions"] for alarm in alarms.values())
    oldest = alarms["mailflow-dev-app-app1-oldest-message"]
    assert (oldest["MetricName"], oldest["Threshold"]) == ("ApproximateAgeOfOldestMessage", 600.0)
    assert oldest["Dimensions"] == [{"Name": "QueueName", "Value": "mailflow-dev-app-app1"}]


def test_one_alarm_watches_every_dead_letter_queue(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    """CloudWatch bills an alarm per metric it reads: one alarm over the four DLQs costs what four alarms
    would, and fires on any of them."""
    deploy_example(write_config, open_recorded)
    [alarm] = client("cloudwatch").describe_alarms(AlarmNames=["mailflow-dev-dead-letters"])["MetricAlarms"]
    assert (alarm["Threshold"], alarm["ComparisonOperator"], alarm["TreatMissingData"]) == (
        0.0,
        "GreaterThanThreshold",
        "notBreaching",
    )
    [watched] = [m for m in alarm["Metrics"] if m["ReturnData"]]
    assert watched["Expression"] == "MAX([apps, outbound, inbound, ses_events])"
    read = {
        m["Id"]: (m["MetricStat"]["Metric"]["MetricName"], m["MetricStat"]["Metric"]["Dimensions"])
        for m in alarm["Metrics"]
        if not m["ReturnData"]
    }
    assert read == {
        name.replace("-", "_"): (
            "ApproximateNumberOfMessagesVisible",
            [{"Name": "QueueName", "Value": f"mailflow-dev-{name}-dlq"}],
        )
        for name in ("apps", "outbound", "inbound", "ses-events")
    }


def test_reputation_alarms_fire_at_the_alarm_thresholds(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    deploy_example(
        write_config, open_recorded, alarms={"reputation": {"bounceAlarm": 3, "complaintAlarm": 0.07}}
    )
    alarms = {
        a["AlarmName"]: a
        for a in client("cloudwatch").describe_alarms(AlarmNamePrefix="mailflow-dev-ses-")["MetricAlarms"]
    }
    bounce, complaint = alarms["mailflow-dev-ses-bounce-rate"], alarms["mailflow-dev-ses-complaint-rate"]
    # AWS/SES publishes the account's rates as fractions, without dimensions, only once it has data
    assert (bounce["Namespace"], bounce["MetricName"], bounce["Dimensions"]) == (
        "AWS/SES",
        "Reputation.BounceRate",
        [],
    )
    assert (bounce["Threshold"], complaint["Threshold"]) == (0.03, 0.0007)
    assert complaint["MetricName"] == "Reputation.ComplaintRate"
    for alarm in (bounce, complaint):
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert alarm["TreatMissingData"] == "notBreaching"


def test_without_alarm_email_there_is_no_alarm_topic(
    aws: None, write_config: ConfigWriter, open_recorded: StackOpener
) -> None:
    deploy_example(write_config, open_recorded)
    topics = [topic["TopicArn"] for topic in client("sns").list_topics()["Topics"]]
    assert topics == [f"arn:aws:sns:{REGION}:{ACCOUNT}:mailflow-dev-ses-events"]
    alarms = client("cloudwatch").describe_alarms(AlarmNamePrefix="mailflow-dev-")["MetricAlarms"]
    assert alarms
    assert all(alarm["AlarmActions"] == [] for alarm in alarms)
