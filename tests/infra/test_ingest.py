"""The ingest layer: the stream, the lake bucket and the raw archive."""

from aws_cdk.assertions import Match

from headcount import names
from infra.parameters import DEFAULT_SHARDS


def test_stream_is_provisioned_encrypted_with_the_shared_name(template):
    # Given the synthesized stack / Then the stream is the one the local runtime creates, with the stack's shard count
    assert DEFAULT_SHARDS == 1  # the cheap default: 1,000 records/s, ten times the reference load
    template.has_resource_properties(
        "AWS::Kinesis::Stream",
        {
            "Name": names.STREAM,
            "ShardCount": DEFAULT_SHARDS,
            "StreamModeDetails": {"StreamMode": "PROVISIONED"},
            "StreamEncryption": {"EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"},
            "RetentionPeriodHours": names.STREAM_RETENTION_HOURS,
        },
    )


def test_firehose_archives_the_stream_to_raw_partitions_as_gzip_lines(template):
    template.has_resource_properties(
        "AWS::KinesisFirehose::DeliveryStream",
        {
            "DeliveryStreamType": "KinesisStreamAsSource",
            "KinesisStreamSourceConfiguration": {
                "KinesisStreamARN": {"Fn::GetAtt": [Match.string_like_regexp("^IngestEvents"), "Arn"]}
            },
            "ExtendedS3DestinationConfiguration": Match.object_like(
                {
                    "Prefix": "raw/dt=!{timestamp:yyyy-MM-dd}/hr=!{timestamp:HH}/",
                    "ErrorOutputPrefix": Match.string_like_regexp(r"^archive-errors/!\{firehose:error-output-type\}/"),
                    "CompressionFormat": "GZIP",
                    "BufferingHints": {"IntervalInSeconds": 300, "SizeInMBs": 64},
                    "ProcessingConfiguration": {
                        "Enabled": True,
                        "Processors": [Match.object_like({"Type": "AppendDelimiterToRecord"})],
                    },
                }
            ),
        },
    )


def test_lake_bucket_is_private_versioned_logged_and_ssl_only(template):
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "VersioningConfiguration": {"Status": "Enabled"},
            "LoggingConfiguration": Match.object_like({"LogFilePrefix": "lake/"}),
            "PublicAccessBlockConfiguration": Match.object_like(
                {"BlockPublicAcls": True, "RestrictPublicBuckets": True}
            ),
            "BucketEncryption": Match.any_value(),
        },
    )
    # Every bucket of the stack refuses plain HTTP
    policies = template.find_resources("AWS::S3::BucketPolicy")
    assert len(policies) == len(template.find_resources("AWS::S3::Bucket")) == 2
    for policy in policies.values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(
            s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
            for s in statements
        )
