"""The real-time layer: the view's table, the fold function and its Kinesis event-source mapping."""

from aws_cdk.assertions import Match

from headcount import names
from infra.parameters import DEFAULT_BATCHING_WINDOW_S

PK_SK = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    "AttributeDefinitions": [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
    ],
    "BillingMode": "PAY_PER_REQUEST",
    "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
}


def test_realtime_table_has_the_local_key_schema_and_ttl(template):
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            **PK_SK,
            "TableName": names.REALTIME_TABLE,
            "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
        },
    )
    template.has_resource(
        "AWS::DynamoDB::Table",
        {"Properties": Match.object_like({"TableName": names.REALTIME_TABLE}), "DeletionPolicy": "Retain"},
    )


def test_fold_function_runs_the_fold_handler_with_powertools_settings(template):
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "FunctionName": names.FOLD_FUNCTION,
            "Handler": "functions.fold.handler.handler",
            "Runtime": "python3.11",
            "TracingConfig": {"Mode": "Active"},
            "Environment": {
                "Variables": Match.object_like(
                    {
                        "POWERTOOLS_SERVICE_NAME": "headcount",
                        "POWERTOOLS_METRICS_NAMESPACE": "Headcount",
                        "HEADCOUNT_REALTIME_TABLE": {"Ref": Match.string_like_regexp("^RealtimeTable")},
                        "HEADCOUNT_TZ": "UTC",
                    }
                )
            },
        },
    )


def test_event_source_mapping_uses_the_shared_settings(template):
    mappings = template.find_resources("AWS::Lambda::EventSourceMapping")
    assert len(mappings) == 1
    props = next(iter(mappings.values()))["Properties"]
    assert props["BatchSize"] == names.FOLD_BATCH_SIZE
    assert (
        props["MaximumBatchingWindowInSeconds"] == DEFAULT_BATCHING_WINDOW_S
    )  # the stack's (headcount:batchingWindowS)
    assert props["StartingPosition"] == names.FOLD_STARTING_POSITION == "TRIM_HORIZON"
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["BisectBatchOnFunctionError"] is names.FOLD_BISECT_ON_ERROR
    assert props["MaximumRecordAgeInSeconds"] == names.FOLD_MAX_RECORD_AGE_S
    assert props["ParallelizationFactor"] == names.FOLD_PARALLELIZATION_FACTOR
    # -1 (until the record expires) is Lambda's default when the property is absent
    assert names.FOLD_MAX_RETRY_ATTEMPTS == -1
    assert props.get("MaximumRetryAttempts", -1) == -1
    assert props["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0].startswith("RealtimeOnFailure")


def test_the_fold_gives_a_batch_up_before_its_records_leave_the_stream(template):
    # Given the synthesized stack: the stream's retention and the fold's maximum record age
    (stream,) = template.find_resources("AWS::Kinesis::Stream").values()
    (mapping,) = template.find_resources("AWS::Lambda::EventSourceMapping").values()
    retention_s = stream["Properties"]["RetentionPeriodHours"] * 3600
    max_age_s = mapping["Properties"]["MaximumRecordAgeInSeconds"]
    # Then a batch is given up (its shard range to the on-failure queue) while its records are still in the stream,
    # with time to spare for the on-failure destination and a replay from that range
    assert max_age_s < retention_s
    assert retention_s - max_age_s >= 3600


def test_on_failure_queue_is_encrypted(template):
    template.has_resource_properties(
        "AWS::SQS::Queue", {"QueueName": names.ON_FAILURE_QUEUE, "SqsManagedSseEnabled": True}
    )


def test_fold_may_write_the_realtime_table(template):
    policies = template.find_resources(
        "AWS::IAM::Policy", {"Properties": {"Roles": [{"Ref": Match.string_like_regexp("^RealtimeFoldServiceRole")}]}}
    )
    actions = {
        a for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"] for a in _list(s["Action"])
    }
    assert {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:BatchGetItem", "kinesis:GetRecords"} <= actions


def _list(value):
    return value if isinstance(value, list) else [value]
