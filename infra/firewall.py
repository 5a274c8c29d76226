"""The API stage's web ACL (AWS WAF): what a flood from one address or a known-bad request meets before API Gateway
spends a throttle token, an authorizer call or an invocation on it (headcount/access.py)."""

from __future__ import annotations

from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from headcount.names import StackNames

RATE_RULE = "rate-per-address"
RATE_WINDOW_S = 300  # the rate-based rule counts each address' requests over the last 5 minutes
# AWS' managed rule groups (no charge beyond the rule's): addresses Amazon's threat intelligence flags, and request
# patterns of known exploits (Log4j lookups, Java deserialization, …). Not the common rule set: its
# SizeRestrictions_BODY blocks a body over 8 KB, and POST /v1/events takes up to 1 MiB.
MANAGED_RULE_GROUPS = ("AWSManagedRulesAmazonIpReputationList", "AWSManagedRulesKnownBadInputsRuleSet")


def _visibility(metric_name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=metric_name, sampled_requests_enabled=True
    )


class Firewall(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stack_names: StackNames,
        stage: apigw.Stage,
        requests_per_5_minutes: int,
    ) -> None:
        super().__init__(scope, construct_id)

        rate_rule = wafv2.CfnWebACL.RuleProperty(
            name=RATE_RULE,
            priority=0,
            action=wafv2.CfnWebACL.RuleActionProperty(block={}),  # API Gateway answers WAF_FILTERED (its envelope)
            statement=wafv2.CfnWebACL.StatementProperty(
                rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                    aggregate_key_type="IP", limit=requests_per_5_minutes, evaluation_window_sec=RATE_WINDOW_S
                )
            ),
            visibility_config=_visibility(RATE_RULE),
        )
        managed_rules = [
            wafv2.CfnWebACL.RuleProperty(
                name=group,
                priority=priority,
                override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),  # the group's own actions
                statement=wafv2.CfnWebACL.StatementProperty(
                    managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                        vendor_name="AWS", name=group
                    )
                ),
                visibility_config=_visibility(group),
            )
            for priority, group in enumerate(MANAGED_RULE_GROUPS, start=1)
        ]
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            name=stack_names.web_acl,
            # (WAF's charset for a description: no quotes)
            description="headcount API - a rate limit per address, AWS IP reputation list, known bad inputs",
            scope="REGIONAL",  # an API Gateway stage's
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=_visibility(stack_names.web_acl),
            rules=[rate_rule, *managed_rules],
        )
        self.association = wafv2.CfnWebACLAssociation(
            self, "Association", resource_arn=stage.stage_arn, web_acl_arn=self.web_acl.attr_arn
        )
