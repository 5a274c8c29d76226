"""What more than one construct uses: the repo's root, the views' table shape, ARNs, and cdk-nag acknowledgments (cdk-nag 3
uses CDK's own Validations), each with the reason it is acceptable."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from aws_cdk import Acknowledgment, DefaultStackSynthesizer, RemovalPolicy, Stack, Token, Validations
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct, IConstruct

from headcount.core.erasure import ErasurePolicy

REPO_ROOT = Path(__file__).resolve().parent.parent

PARTITION = "<AWS::Partition>"  # how cdk-nag spells the partition in a finding's id


def acknowledge(scope: IConstruct, reasons: Mapping[str, str]) -> None:
    """Acknowledge AwsSolutions findings on `scope` and its children. Keys are rule ids without the pack prefix,
    with the finding where a rule has several (`IAM5[Resource::*]`); CDK's own warnings as `Annotation::<id>`."""
    Validations.of(scope).acknowledge(
        *(
            Acknowledgment(id=rule if rule.startswith("Annotation::") else f"AwsSolutions-{rule}", reason=reason)
            for rule, reason in reasons.items()
        )
    )


def managed_policy(name: str) -> str:
    """The IAM4 finding id of an AWS managed policy."""
    return f"IAM4[Policy::arn:{PARTITION}:iam::aws:policy/{name}]"


def arn_of(construct: IConstruct) -> str:
    """How cdk-nag names `Fn::GetAtt [<logical id>, Arn]` of an L2 construct's CloudFormation resource in a finding."""
    cfn = construct.node.default_child
    stack = Stack.of(construct)
    return f"<{stack.resolve(stack.get_logical_id(cfn))}.Arn>"


def environment_as_nag_names_it(stack: Stack) -> tuple[str, str, str]:
    """Partition, region and account as cdk-nag writes them in a finding's ARN: literally when the stack's environment
    is known, as placeholders when it is not."""

    def literal_or(value: str, placeholder: str) -> str:
        resolved = stack.resolve(value)
        return resolved if isinstance(resolved, str) and not Token.is_unresolved(value) else placeholder

    return (
        literal_or(stack.partition, PARTITION),
        literal_or(stack.region, "<AWS::Region>"),
        literal_or(stack.account, "<AWS::AccountId>"),
    )


def bootstrap_assets_objects(stack: Stack) -> str:
    """How cdk-nag names the objects of the CDK bootstrap assets bucket (what an asset's grant_read allows)."""
    partition, region, account = environment_as_nag_names_it(stack)
    qualifier = DefaultStackSynthesizer.DEFAULT_QUALIFIER
    return f"arn:{partition}:s3:::cdk-{qualifier}-assets-{account}-{region}/*"


def log_groups(stack: Stack, pattern: str) -> str:
    """How cdk-nag names the ARN of these log groups (`Stack.format_arn` of service logs, resource log-group)."""
    partition, region, account = environment_as_nag_names_it(stack)
    return f"arn:{partition}:logs:{region}:{account}:log-group:{pattern}"


RECOVERY_PERIOD_DAYS = ErasurePolicy.deadline_days


def pk_sk_table(
    scope: Construct, construct_id: str, table_name: str, ttl_attribute: str | None = None
) -> dynamodb.Table:
    """The key schema of both views (headcount/local/resources.py): pk and sk strings, on demand, recoverable."""
    return dynamodb.Table(
        scope,
        construct_id,
        table_name=table_name,
        partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
        sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        # Backups cannot be edited: a player an erasure deleted stays restorable for the recovery period, so it is
        # the erasure's deadline (7 days, docs/operations.md "Erasure"), not the 35-day default
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True, recovery_period_in_days=RECOVERY_PERIOD_DAYS
        ),
        time_to_live_attribute=ttl_attribute,
        removal_policy=RemovalPolicy.RETAIN,
    )
