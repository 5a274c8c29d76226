"""The headcount stack: one construct per layer, wired together. Names come from headcount/names.py, shared with the
local runtime; what a deploy may change is a context parameter, read and checked at synth (infra/parameters.py)."""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, CfnOutput, Stack
from constructs import Construct

from headcount.core.erasure import ErasurePolicy
from headcount.logic.business import today_so_far_metrics
from headcount.views.catalog_file import load_catalog
from infra.alarms import Alarms
from infra.batch import Batch
from infra.business import Business
from infra.dashboard import Dashboard
from infra.erasure import Erasure
from infra.ingest import Ingest
from infra.notifications import Notifications
from infra.parameters import read_parameters
from infra.realtime import Realtime
from infra.serving import Serving


class HeadcountStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.parameters = params = read_parameters(self.node)
        stack_names = params.stack_names  # every physical name, from headcount:prefix

        self.ingest = Ingest(self, "Ingest", stack_names=stack_names, shards=params.shards)
        self.realtime = Realtime(
            self,
            "Realtime",
            stack_names=stack_names,
            stream=self.ingest.stream,
            tz=params.tz,
            batching_window_s=params.batching_window_s,
            reserved_concurrency=params.fold_reservation,
            tracing=params.tracing,
        )
        self.batch = Batch(
            self,
            "Batch",
            stack_names=stack_names,
            lake=self.ingest.lake,
            tz=params.tz,
            extra_zones=params.extra_zones,
            nightly_at=params.nightly_at,
            athena_scan_limit_bytes=params.athena_scan_limit_bytes,
            erasure=ErasurePolicy(params.erasure_every_days, params.erasure_max_pending),
        )
        self.serving = Serving(
            self,
            "Serving",
            stack_names=stack_names,
            realtime_table=self.realtime.table,
            batch_table=self.batch.table,
            stream=self.ingest.stream,
            tz=params.tz,
            extra_zones=params.extra_zones,
            throttle_rate=params.throttle_rate,
            throttle_burst=params.throttle_burst,
            ingest_rate=params.ingest_rate,
            ingest_burst=params.ingest_burst,
            ingest_quota_per_day=params.ingest_quota_per_day,
            federation=params.federation,
            tracing=params.tracing,
        )
        self.alarms = Alarms(
            self,
            "Alarms",
            stack_names=stack_names,
            fold=self.realtime.function,
            on_failure_queue=self.realtime.on_failure_queue,
            api=self.serving.api,
            job=self.batch.job,
            archive=self.ingest.archive,
            tables=[self.realtime.table, self.batch.table],
            alarm_email=params.alarm_email,
        )
        self.business = Business(
            self,
            "Business",
            stack_names=stack_names,
            kpis=[m.name for m in today_so_far_metrics(load_catalog())],  # the catalog the function ships with
            realtime_table=self.realtime.table,
            batch_table=self.batch.table,
            stream=self.ingest.stream,
            topic=self.alarms.topic,
            tz=params.tz,
            band_width=params.anomaly_band_width,
            tracing=params.tracing,
        )
        # Digests and alerts: sent by the business function, managed (and tested) through the serve function's admin
        # routes; the messages link to the dashboard, the API's root (from the API's id: no cycle through its stage)
        self.notifications = Notifications(
            self,
            "Notifications",
            stack_names=stack_names,
            business=self.business.function,
            serve=self.serving.function,
            alarms=self.alarms,
            dashboard_url=self.serving.app_url,
            email_from=params.email_from,
        )
        # Erasure of players on request: taken by the serve function's admin routes (which drop blocked players' events
        # at ingest too), watched by the business function, done by the nightly job
        self.erasure = Erasure(
            self,
            "Erasure",
            stack_names=stack_names,
            serve=self.serving.function,
            business=self.business.function,
            job_role=self.batch.role,
            realtime_table=self.realtime.table,
            alarms=self.alarms,
        )
        self.dashboard = Dashboard(
            self,
            "Dashboard",
            stack_names=stack_names,
            stream=self.ingest.stream,
            shards=params.shards,
            fold=self.realtime.function,
            tables={"real-time": self.realtime.table, "batch": self.batch.table},
            archive=self.ingest.archive,
            api=self.serving.api,
            alarms=self.alarms,
            business=self.business,
        )

        users = self.serving.users
        CfnOutput(
            self,
            "ApiUrl",
            description="The API, and the dashboard at its root (…/prod/); the API's page at …/prod/v1/docs",
            value=self.serving.api.url,
        )
        CfnOutput(
            self, "UserPoolId", description="People sign in here (groups viewer, admin)", value=users.pool.user_pool_id
        )
        CfnOutput(
            self,
            "DashboardClientId",
            description="The dashboard's app client (no secret)",
            value=users.dashboard_client.user_pool_client_id,
        )
        CfnOutput(
            self,
            "ToolsClientId",
            description="Tools' app client: client credentials, scope headcount/read (secret: describe-user-pool-client)",
            value=users.tools_client.user_pool_client_id,
        )
        CfnOutput(
            self,
            "TokenEndpoint",
            description="Where tools trade their client id and secret for an access token",
            value=users.token_endpoint,
        )
        CfnOutput(
            self,
            "DashboardUrl",
            description="The CloudWatch dashboard of the pipeline",
            value=self._console_url(stack_names.dashboard),
        )
        CfnOutput(
            self, "AlarmTopicArn", description="Alarms go here: subscribe to it", value=self.alarms.topic.topic_arn
        )
        CfnOutput(
            self,
            "LakeBucketName",
            description="raw/ (every event), counts/ (nightly)",
            value=self.ingest.lake.bucket_name,
        )

        CfnOutput(
            self,
            "NotificationsTableName",
            description="Channels, subscriptions, alert rules and deliveries (the admin routes manage them)",
            value=self.notifications.table.table_name,
        )
        CfnOutput(
            self,
            "DeliveryDeadLettersUrl",
            description="Deliveries that failed after their retries (alarm: deliveries-dead-lettered)",
            value=self.notifications.dead_letters.queue_url,
        )
        CfnOutput(
            self,
            "ErasuresTableName",
            description="Requests to forget players, their receipts, and the blocked players (headcount forget)",
            value=self.erasure.table.table_name,
        )

    @staticmethod
    def _console_url(dashboard: str) -> str:
        return (
            f"https://{Aws.REGION}.console.aws.amazon.com/cloudwatch/home?region={Aws.REGION}"
            f"#dashboards/dashboard/{dashboard}"
        )
