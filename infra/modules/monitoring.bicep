// Seeing the fleet: one Azure Monitor workbook and the alert rules, on the Log Analytics workspace
// that Application Insights (service.bicep) writes to. Every query is in `queries` below, the one
// place the workbook and the alert rules take them from.
//
// Where the data is (workspace-based Application Insights):
// - Metrics (meter `runner_fleet`, the contract in runner_fleet/telemetry/metrics.py) go through
//   the Azure Monitor OpenTelemetry distro to custom metrics: table AppMetrics (`customMetrics` in
//   Application Insights' own schema), one row per instrument, attribute set and export (every
//   60 s), with Name (the instrument's name), Sum, ItemCount, Min, Max and the attributes in
//   Properties (learn.microsoft.com/azure/azure-monitor/reference/tables/appmetrics;
//   learn.microsoft.com/azure/azure-monitor/app/opentelemetry-add-modify, "Add custom metrics").
//   The exporter sends counters and histograms as deltas (so sum(Sum) over a window is what
//   happened in it) and gauges as their last value (Sum, ItemCount 1); a histogram arrives
//   pre-aggregated per export: Sum, ItemCount, Min, Max, no buckets
//   (azure-monitor-opentelemetry-exporter, export/metrics/_exporter.py). Percentiles therefore
//   cannot come from metrics: means come from sum(Sum) / sum(ItemCount), percentiles from the logs.
// - Logs: every step logs one JSON event (runner_fleet/logs.py) with `event`, `forge`, `pool`,
//   `job_id`, `runner` and its own fields; the Functions host forwards it to table AppTraces
//   (`traces`), the JSON in Message (learn.microsoft.com/azure/azure-monitor/reference/tables/apptraces).
//   Job waits for p50/p95 are the `wait_s` field (seconds, queued to running) of `job.running`.
//   Queries first keep rows whose Message has a word of the event's name (the term index makes
//   that cheap), then compare the parsed event exactly.
//
// Workbook queries use `{TimeRange:grain}` (the workbook's time range picker chooses the bin); to
// run one in Log Analytics, put a bin size such as 15m in its place. Alert queries are plain KQL:
// the rule applies its window to TimeGenerated and aggregates `metricMeasureColumn` per dimension.
// tests/functional/test_infra_monitoring.py parses and binds every query with Kusto's own language
// service against the documented columns of AppTraces and AppMetrics.
param location string
param prefix string
param tags object

@description('Resource ID of the Log Analytics workspace Application Insights writes to.')
param workspaceId string

@description('Email addresses to notify; with none, no action group is made and alerts show in Azure Monitor only.')
param alertEmailAddresses array = []

@description('Resource IDs of existing action groups to notify as well (an on-call rotation, a chat webhook).')
param alertActionGroupIds array = []

@description('Alert when a pool\'s p95 job wait (queued to running) over the last 30 minutes is above this many seconds.')
@minValue(1)
param waitP95ThresholdSeconds int = 300

@description('Alert when a forge\'s API requests left in its rate-limit window (the lowest of its credentials) fall below this.')
@minValue(1)
param forgeApiRemainingThreshold int = 500

@description('Alert when the reconciler deletes more than this many leaked VMs in an hour.')
@minValue(0)
param leakedVmsPerHourThreshold int = 2

@description('Alert when a pool\'s preflight check has reported fail for this many minutes in a row.')
@allowed([
  5
  10
  15
  20
  25
  30
])
param preflightFailingMinutes int = 15

// The wait of each job that started on one of our runners: the `wait_s` field of `job.running`
// (seconds from queued to running), once per job (a redelivered webhook logs a start again).
// GitHub's `job.running` is logged for other runners' jobs too, with no pool.
var jobWaits = '''
AppTraces
| where Message has "running"
| extend e = parse_json(Message)
| where tostring(e.event) == "job.running"
| extend forge = tostring(e.forge), job_id = tostring(e.job_id), pool = tostring(e.pool), wait_s = todouble(e.wait_s)
| where isnotempty(pool) and isnotnull(wait_s)
| summarize arg_min(TimeGenerated, pool, wait_s) by forge, job_id
'''
var waitPercentilesOverTime = '''
| summarize p50 = percentile(wait_s, 50), p95 = percentile(wait_s, 95) by TimeGenerated = bin(TimeGenerated, {TimeRange:grain}), pool
| extend pairs = bag_pack("p50", p50, "p95", p95)
| mv-expand kind=array pairs
| project TimeGenerated, series = strcat(pool, " ", tostring(pairs[0])), wait_s = todouble(pairs[1])
'''
var waitsPerPoolWithMeans = '''
| summarize jobs = count(), p50_s = percentile(wait_s, 50), p95_s = percentile(wait_s, 95), max_s = max(wait_s) by pool
| join kind=fullouter (
    AppMetrics
    | where Name == "runner_fleet.job.wait" and ItemCount > 0
    | summarize mean_s = round(sum(Sum) / sum(ItemCount), 1) by pool = tostring(Properties.pool)
  ) on pool
| project pool = coalesce(pool, pool1), jobs, p50_s, p95_s, max_s, mean_s_from_metrics = mean_s
| order by p95_s desc
'''

// (A comment inside an object stays within four lines: checkov's Bicep parser fails on five.)
var queries = {
  // ---- alert rules -------------------------------------------------------------------------
  // Any message that failed every attempt and went to a poison queue: the poison-queue triggers
  // (functions/queues.py) log `queue.poisoned` for each (runner_fleet/workers.py).
  alertPoisonedMessages: '''
AppTraces
| where Message has "poisoned"
| extend e = parse_json(Message)
| where tostring(e.event) == "queue.poisoned"
| project TimeGenerated, queue = tostring(e.queue), pool = tostring(e.pool), forge = tostring(e.forge), poisoned = 1
'''
  // Per pool over the rule's window: p95 of the waits of the jobs that started.
  alertWaitP95: '${jobWaits}| summarize p95_wait_s = percentile(wait_s, 95), jobs = count(), TimeGenerated = max(TimeGenerated) by pool'
  // Each report of the preflight gauge (0 pass, 1 warn, 2 fail) per pool and check; the rule
  // takes the lowest per 5-minute window, so a window fails only if every report in it was a fail.
  alertPreflightFailing: '''
AppMetrics
| where Name == "runner_fleet.preflight.status"
| project TimeGenerated, pool = tostring(Properties.pool), check = tostring(Properties.check), status = Sum
'''
  // Leaked VMs: deletions whose reason (reason_code, reconcile/observed.py) says the release should
  // have made them: the job ended or the probe finished yet the VM was there, or it outlived its
  // max lifetime while not idle. Also in reconcileActions and, as texts, in leakedVms. (Boot
  // timeouts and failed creates are failures: see the refusals.)
  alertLeakedVms: '''
AppMetrics
| where Name == "runner_fleet.reconcile.actions"
| extend action = tostring(Properties.action), reason = tostring(Properties.reason)
| where action == "delete" and reason in ("registration-gone", "runner-exited", "max-lifetime", "probe-expired")
| project TimeGenerated, reason, deleted = Sum
'''
  // Jobs that waited longer than WAITED_WITH_CAPACITY_S while their pool had room: what a full
  // outage shows (no job starts at all, so the p95 rule has no waits to read).
  alertWaitedWithCapacity: '''
AppMetrics
| where Name == "runner_fleet.jobs.waited_with_capacity"
| project TimeGenerated, pool = tostring(Properties.pool), waited = Sum
'''
  alertForgeApiRemaining: '''
AppMetrics
| where Name == "runner_fleet.forge.api.remaining"
| project TimeGenerated, forge = tostring(Properties.forge), remaining = Sum
'''
  // ---- workbook: jobs and waits ------------------------------------------------------------
  jobsOverTime: '''
AppMetrics
| where Name in ("runner_fleet.jobs.queued", "runner_fleet.jobs.started", "runner_fleet.jobs.completed")
| summarize jobs = sum(Sum) by TimeGenerated = bin(TimeGenerated, {TimeRange:grain}), counter = tostring(split(Name, ".")[2])
'''
  jobsByPool: '''
AppMetrics
| where Name in ("runner_fleet.jobs.started", "runner_fleet.jobs.completed", "runner_fleet.jobs.waited_with_capacity")
| extend pool = tostring(Properties.pool)
| summarize started = sumif(Sum, Name == "runner_fleet.jobs.started"),
    on_warm_runner = sumif(Sum, Name == "runner_fleet.jobs.started" and tostring(Properties.warm) == "true"),
    succeeded = sumif(Sum, Name == "runner_fleet.jobs.completed" and tostring(Properties.outcome) == "success"),
    not_succeeded = sumif(Sum, Name == "runner_fleet.jobs.completed" and tostring(Properties.outcome) != "success"),
    waited_with_capacity = sumif(Sum, Name == "runner_fleet.jobs.waited_with_capacity")
    by pool
| extend warm_share_pct = iff(started > 0, round(100.0 * on_warm_runner / started, 1), real(null))
| order by started desc
'''
  // p50 and p95 per pool as one series each (a time chart splits by the string column).
  waitsOverTime: '${jobWaits}${waitPercentilesOverTime}'
  // Percentiles from the events; the mean from the runner_fleet.job.wait histogram as a cross-check.
  waitsByPool: '${jobWaits}${waitsPerPoolWithMeans}'
  startupPhases: '''
AppMetrics
| where Name == "runner_fleet.job.startup" and ItemCount > 0
| summarize mean_s = round(sum(Sum) / sum(ItemCount), 2), max_s = max(Max) by phase = tostring(Properties.phase)
| extend step = case(phase == "webhook-to-queue", 1, phase == "queue-to-create", 2, phase == "create-to-running", 3, phase == "running-to-online", 4, phase == "online-to-started", 5, 9)
| order by step asc
| project phase, mean_s, max_s
'''
  // ---- workbook: runners -------------------------------------------------------------------
  runnersByState: '''
AppMetrics
| where Name == "runner_fleet.runners"
| extend pool = tostring(Properties.pool), state = tostring(Properties.state)
| summarize runners = avg(Sum) by TimeGenerated = bin(TimeGenerated, {TimeRange:grain}), pool, state
| summarize runners = sum(runners) by TimeGenerated, state
'''
  // The last report of each pool (a state with no runner is not reported at all).
  runnersNow: '''
let gauges = AppMetrics
| where Name in ("runner_fleet.runners", "runner_fleet.warm.target", "runner_fleet.warm.ready")
| extend pool = tostring(Properties.pool), series = iff(Name == "runner_fleet.runners", tostring(Properties.state), strcat("warm ", tostring(split(Name, ".")[2])));
gauges
| summarize last_report = max(TimeGenerated) by pool
| join kind=inner gauges on pool
| where TimeGenerated > last_report - 2m
| summarize value = round(avg(Sum), 1) by pool, series
| evaluate pivot(series, sum(value), pool)
'''
  // ---- workbook: failures ------------------------------------------------------------------
  refusalsByCode: '''
AppMetrics
| where Name == "runner_fleet.vm.create.refusals"
| summarize refusals = sum(Sum) by pool = tostring(Properties.pool), code = tostring(Properties.code)
| order by refusals desc
'''
  // A provision step that raised (retried, then poisoned): Azure's code in parentheses on the
  // exception's last line, else the exception's class.
  provisionFailures: '''
AppTraces
| where Message has "failed"
| extend e = parse_json(Message)
| where tostring(e.event) == "provision.failed"
| extend lines = split(trim_end(@"\s+", tostring(e.exception)), "\n")
| extend last_line = tostring(lines[array_length(lines) - 1])
| extend error = coalesce(extract(@"\((\w+)\)", 1, last_line), extract(@"^([\w.]+)", 1, last_line), "unknown")
| summarize failures = count(), jobs = dcount(tostring(e.job_id)), last_seen = max(TimeGenerated) by pool = tostring(e.pool), error
| order by failures desc
'''
  reconcileActions: '''
AppMetrics
| where Name == "runner_fleet.reconcile.actions"
| extend action = tostring(Properties.action), reason = tostring(Properties.reason)
| summarize actions = sum(Sum) by action, reason
| extend leaked_vm = action == "delete" and reason in ("registration-gone", "runner-exited", "max-lifetime", "probe-expired")
| order by actions desc
'''
  // Which VMs the reconciler deleted as leaked (reconcile.acted carries the reason's full text).
  leakedVms: '''
AppTraces
| where Message has "reconcile"
| extend e = parse_json(Message)
| extend event = tostring(e.event), reason = tostring(e.reason)
| where (event == "reconcile.acted" and tostring(e.action) == "delete" and tobool(e.vm_deleted)
        and (reason startswith "runner registration is gone" or reason startswith "runner exited" or reason startswith "past the pool's max lifetime"))
    or event == "reconcile.probe_deleted"
| project TimeGenerated, pool = tostring(e.pool), vm = coalesce(tostring(e.runner), tostring(e.vm)), reason = iff(event == "reconcile.probe_deleted", "probe VM past its expires-at", reason)
| order by TimeGenerated desc
| take 100
'''
  // ---- workbook: cost ----------------------------------------------------------------------
  costByPool: '''
AppMetrics
| where Name in ("runner_fleet.vm.cost", "runner_fleet.vm.time", "runner_fleet.jobs.completed")
| extend pool = tostring(Properties.pool)
| summarize cost_usd = round(sumif(Sum, Name == "runner_fleet.vm.cost"), 2),
    vm_hours = round(sumif(Sum, Name == "runner_fleet.vm.time") / 3600, 2),
    spot_vm_hours = round(sumif(Sum, Name == "runner_fleet.vm.time" and tostring(Properties.spot) == "true") / 3600, 2),
    jobs = sumif(Sum, Name == "runner_fleet.jobs.completed")
    by pool
| extend cost_per_job_usd = iff(jobs > 0, round(cost_usd / jobs, 3), real(null))
| order by cost_usd desc
'''
  costOverTime: '''
AppMetrics
| where Name == "runner_fleet.vm.cost"
| summarize cost_usd = sum(Sum) by TimeGenerated = bin(TimeGenerated, {TimeRange:grain}), pool = tostring(Properties.pool)
'''
  // ---- workbook: preflight and the forges --------------------------------------------------
  preflightStatus: '''
AppMetrics
| where Name == "runner_fleet.preflight.status"
| extend pool = tostring(Properties.pool), check = tostring(Properties.check)
| summarize arg_max(TimeGenerated, Sum), worst = max(Sum), fail_reports = countif(Sum >= 2) by pool, check
| extend status = case(Sum >= 2, "fail", Sum >= 1, "warn", "pass"), worst_in_range = case(worst >= 2, "fail", worst >= 1, "warn", "pass")
| project pool, check, status, worst_in_range, fail_reports, last_report = TimeGenerated
| order by pool asc, check asc
'''
  preflightEvents: '''
AppTraces
| where Message has "preflight"
| extend e = parse_json(Message)
| extend event = tostring(e.event)
| where event in ("preflight.failed", "preflight.warnings", "preflight.passed", "preflight.error")
| project TimeGenerated, pool = tostring(e.pool), event, failing = tostring(e.failing), fixes = tostring(e.fixes), warnings = tostring(e.warnings)
| order by TimeGenerated desc
| take 100
'''
  forgeApiRemaining: '''
AppMetrics
| where Name == "runner_fleet.forge.api.remaining"
| summarize remaining = min(Sum) by TimeGenerated = bin(TimeGenerated, {TimeRange:grain}), forge = tostring(Properties.forge)
'''
  // ---- workbook: queues and webhooks -------------------------------------------------------
  queueDepth: '''
AppMetrics
| where Name == "runner_fleet.queue.depth"
| summarize messages = max(Sum) by TimeGenerated = bin(TimeGenerated, {TimeRange:grain}), queue = tostring(Properties.queue)
'''
  webhooksRejected: '''
AppMetrics
| where Name == "runner_fleet.webhooks.rejected"
| summarize webhooks = sum(Sum) by TimeGenerated = bin(TimeGenerated, {TimeRange:grain}), series = strcat(tostring(Properties.forge), ": ", tostring(Properties.reason))
'''
  webhooksByForge: '''
AppMetrics
| where Name in ("runner_fleet.webhooks.accepted", "runner_fleet.webhooks.rejected")
| summarize accepted = sumif(Sum, Name == "runner_fleet.webhooks.accepted"), rejected = sumif(Sum, Name == "runner_fleet.webhooks.rejected") by forge = tostring(Properties.forge)
| extend rejected_pct = iff(accepted + rejected > 0, round(100.0 * rejected / (accepted + rejected), 2), real(null))
'''
}

// ---- the alert rules --------------------------------------------------------------------------
// Each rule runs its query over `window` every `frequency`, aggregates `measure` per combination of
// its dimensions, and fires when that value compares to the threshold for `periods` windows in a
// row (learn.microsoft.com/azure/azure-monitor/alerts/alerts-create-log-alert-rule).
var everyValue = [
  '*'
]
var alertRules = [
  {
    name: 'poisoned-messages'
    displayName: 'messages moved to a poison queue'
    description: 'A provision or release message failed every attempt and was moved to its poison queue (event queue.poisoned). The reconciler recovers the job; read the provision.failed events before it for the cause.'
    severity: 1
    query: queries.alertPoisonedMessages
    aggregation: 'Total'
    measure: 'poisoned'
    dimensions: [
      {
        name: 'queue'
        operator: 'Include'
        values: everyValue
      }
    ]
    operator: 'GreaterThan'
    threshold: 0
    window: 'PT5M'
    frequency: 'PT5M'
    periods: 1
  }
  {
    name: 'job-wait-p95'
    displayName: 'p95 job wait above ${waitP95ThresholdSeconds} s'
    description: 'The 95th percentile of the time jobs of a pool waited from queued to running (wait_s of the job.running events) over the last 30 minutes is above ${waitP95ThresholdSeconds} s. Look at the pool in the workbook: refusals, preflight, runners by state.'
    severity: 2
    query: queries.alertWaitP95
    aggregation: 'Maximum'
    measure: 'p95_wait_s'
    dimensions: [
      {
        name: 'pool'
        operator: 'Include'
        values: everyValue
      }
    ]
    operator: 'GreaterThan'
    threshold: waitP95ThresholdSeconds
    window: 'PT30M'
    frequency: 'PT10M'
    periods: 1
  }
  {
    name: 'preflight-failing'
    displayName: 'a pool failing its preflight for ${preflightFailingMinutes} minutes'
    description: 'Every report of runner_fleet.preflight.status for a pool and check has been 2 (fail) for ${preflightFailingMinutes} minutes: the pool provisions nothing. Run `runner-fleet doctor --pool <pool>`; the preflight.failed event names the fix.'
    severity: 1
    query: queries.alertPreflightFailing
    aggregation: 'Minimum'
    measure: 'status'
    dimensions: [
      {
        name: 'pool'
        operator: 'Include'
        values: everyValue
      }
      {
        name: 'check'
        operator: 'Include'
        values: everyValue
      }
    ]
    operator: 'GreaterThanOrEqual'
    threshold: 2
    window: 'PT5M'
    frequency: 'PT5M'
    periods: preflightFailingMinutes / 5
  }
  {
    name: 'leaked-vms'
    displayName: 'more than ${leakedVmsPerHourThreshold} leaked VMs deleted in an hour'
    description: 'The reconciler deleted more than ${leakedVmsPerHourThreshold} VMs in an hour that their release should have deleted (runner_fleet.reconcile.actions, action delete, reasons registration-gone, runner-exited, max-lifetime, probe-expired): completed-job webhooks or releases are being lost. Check the webhook deliveries and the release.failed events.'
    severity: 2
    query: queries.alertLeakedVms
    aggregation: 'Total'
    measure: 'deleted'
    dimensions: []
    operator: 'GreaterThan'
    threshold: leakedVmsPerHourThreshold
    window: 'PT1H'
    frequency: 'PT15M'
    periods: 1
  }
  {
    name: 'waited-with-capacity'
    displayName: 'jobs waiting while their pool has room'
    description: 'Jobs of a pool waited longer than WAITED_WITH_CAPACITY_S (120 s by default) while the pool had fewer runners busy or coming than max_runners (runner_fleet.jobs.waited_with_capacity): runners are not being made or not taking jobs, as in a full outage, where no job starts and the p95 rule has nothing to read. Run `runner-fleet status`; read the provision.failed and preflight.failed events of the pool.'
    severity: 1
    query: queries.alertWaitedWithCapacity
    aggregation: 'Total'
    measure: 'waited'
    dimensions: [
      {
        name: 'pool'
        operator: 'Include'
        values: everyValue
      }
    ]
    operator: 'GreaterThan'
    threshold: 0
    window: 'PT15M'
    frequency: 'PT5M'
    periods: 1
  }
  {
    name: 'forge-api-budget'
    displayName: 'forge API budget below ${forgeApiRemainingThreshold} requests'
    description: 'A forge answered with fewer than ${forgeApiRemainingThreshold} requests left in its rate-limit window (runner_fleet.forge.api.remaining, the lowest of its credentials). Registrations stop when it runs out; the missed-job scan already holds back.'
    severity: 2
    query: queries.alertForgeApiRemaining
    aggregation: 'Minimum'
    measure: 'remaining'
    dimensions: [
      {
        name: 'forge'
        operator: 'Include'
        values: everyValue
      }
    ]
    operator: 'LessThan'
    threshold: forgeApiRemainingThreshold
    window: 'PT5M'
    frequency: 'PT5M'
    periods: 1
  }
]

// Made only when there is someone to mail. Action groups are global resources.
resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(alertEmailAddresses)) {
  name: 'ag-${prefix}-fleet'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: take('rf-${prefix}', 12)
    enabled: true
    emailReceivers: [
      for (address, index) in alertEmailAddresses: {
        name: 'email-${index}'
        emailAddress: address
        useCommonAlertSchema: true
      }
    ]
  }
}

var notified = concat(empty(alertEmailAddresses) ? [] : [actionGroup.id], alertActionGroupIds)

// Without an identity a rule queries with the rights of whoever last deployed it (this
// deployment's principal, which can read the workspace it created).
resource alerts 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = [
  for rule in alertRules: {
    name: 'alert-${prefix}-${rule.name}'
    location: location
    tags: tags
    kind: 'LogAlert'
    properties: {
      displayName: 'runner-fleet (${prefix}): ${rule.displayName}'
      description: rule.description
      severity: rule.severity
      enabled: true
      scopes: [
        workspaceId
      ]
      evaluationFrequency: rule.frequency
      windowSize: rule.window
      autoMitigate: true
      criteria: {
        allOf: [
          {
            query: rule.query
            timeAggregation: rule.aggregation
            metricMeasureColumn: rule.measure
            dimensions: rule.dimensions
            operator: rule.operator
            threshold: rule.threshold
            failingPeriods: {
              numberOfEvaluationPeriods: rule.periods
              minFailingPeriodsToAlert: rule.periods
            }
          }
        ]
      }
      actions: {
        actionGroups: notified
      }
    }
  }
]

// ---- the workbook ------------------------------------------------------------------------------
// Notebook/1.0 items (learn.microsoft.com/azure/azure-monitor/visualize/workbooks-automate): text
// (type 1), parameters (type 9) and log queries (type 3) against the workspace.
var day = 86400000
var kql = {
  version: 'KqlItem/1.0'
  size: 0
  queryType: 0
  resourceType: 'microsoft.operationalinsights/workspaces'
  crossComponentResources: [
    workspaceId
  ]
  timeContextFromParameter: 'TimeRange'
  timeContext: {
    durationMs: day
  }
}
var timeRange = {
  type: 9
  name: 'time-range'
  content: {
    version: 'KqlParameterItem/1.0'
    style: 'pills'
    queryType: 0
    resourceType: 'microsoft.operationalinsights/workspaces'
    parameters: [
      {
        id: '6c1e9f3a-2b7d-4e8a-9f10-3d5c7a2b4e61'
        version: 'KqlParameterItem/1.0'
        name: 'TimeRange'
        label: 'Time range'
        type: 4
        isRequired: true
        value: {
          durationMs: day
        }
        typeSettings: {
          selectableValues: [
            {
              durationMs: 3600000
            }
            {
              durationMs: 14400000
            }
            {
              durationMs: 43200000
            }
            {
              durationMs: day
            }
            {
              durationMs: 259200000
            }
            {
              durationMs: 604800000
            }
            {
              durationMs: 2592000000
            }
          ]
          allowCustom: true
        }
      }
    ]
  }
}
var workbookItems = [
  {
    type: 1
    name: 'title'
    content: {
      json: '## runner-fleet (${prefix})\nJobs, waits, runners, failures, cost, preflight, queues and webhooks, from the service\'s metrics (AppMetrics) and log events (AppTraces). Job waits: p50 and p95 from the `wait_s` of `job.running` events; the mean from the `runner_fleet.job.wait` histogram. Alert rules: `alert-${prefix}-*` in this resource group.'
    }
  }
  timeRange
  {
    type: 1
    name: 'jobs-heading'
    content: {
      json: '### Jobs and waits'
    }
  }
  {
    type: 3
    name: 'waits-over-time'
    customWidth: '50'
    content: union(kql, {
      title: 'Job wait by pool, p50 and p95 (s)'
      query: queries.waitsOverTime
      visualization: 'timechart'
    })
  }
  {
    type: 3
    name: 'jobs-over-time'
    customWidth: '50'
    content: union(kql, {
      title: 'Jobs queued, started, completed'
      query: queries.jobsOverTime
      visualization: 'timechart'
    })
  }
  {
    type: 3
    name: 'waits-by-pool'
    customWidth: '50'
    content: union(kql, {
      title: 'Waits per pool over the time range (s)'
      query: queries.waitsByPool
      visualization: 'table'
    })
  }
  {
    type: 3
    name: 'jobs-by-pool'
    customWidth: '50'
    content: union(kql, {
      title: 'Jobs per pool: on warm runners, outcomes, waited while the pool had room'
      query: queries.jobsByPool
      visualization: 'table'
    })
  }
  {
    type: 3
    name: 'startup-phases'
    content: union(kql, {
      title: 'From webhook to job start: mean and longest time per phase (s)'
      query: queries.startupPhases
      visualization: 'table'
    })
  }
  {
    type: 1
    name: 'runners-heading'
    content: {
      json: '### Runners'
    }
  }
  {
    type: 3
    name: 'runners-by-state'
    customWidth: '50'
    content: union(kql, {
      title: 'Runners by state, all pools'
      query: queries.runnersByState
      visualization: 'areachart'
    })
  }
  {
    type: 3
    name: 'runners-now'
    customWidth: '50'
    content: union(kql, {
      title: 'Per pool at its last report: runners by state, warm target and ready'
      query: queries.runnersNow
      visualization: 'table'
    })
  }
  {
    type: 1
    name: 'failures-heading'
    content: {
      json: '### Failures'
    }
  }
  {
    type: 3
    name: 'refusals-by-code'
    customWidth: '50'
    content: union(kql, {
      title: 'VM creates Azure refused, by code'
      query: queries.refusalsByCode
      visualization: 'table'
    })
  }
  {
    type: 3
    name: 'provision-failures'
    customWidth: '50'
    content: union(kql, {
      title: 'Provision steps that failed (provision.failed), by error'
      query: queries.provisionFailures
      visualization: 'table'
    })
  }
  {
    type: 3
    name: 'reconcile-actions'
    customWidth: '50'
    content: union(kql, {
      title: 'What the reconciler did, and why (leaked_vm: counted by the leaked-VM alert)'
      query: queries.reconcileActions
      visualization: 'table'
    })
  }
  {
    type: 3
    name: 'leaked-vms'
    customWidth: '50'
    content: union(kql, {
      title: 'Leaked VMs the reconciler deleted'
      query: queries.leakedVms
      visualization: 'table'
    })
  }
  {
    type: 1
    name: 'cost-heading'
    content: {
      json: '### Cost (VMs released, at the price table\'s rates, US dollars)'
    }
  }
  {
    type: 3
    name: 'cost-by-pool'
    customWidth: '50'
    content: union(kql, {
      title: 'Cost and VM hours per pool'
      query: queries.costByPool
      visualization: 'table'
    })
  }
  {
    type: 3
    name: 'cost-over-time'
    customWidth: '50'
    content: union(kql, {
      title: 'Cost by pool (USD)'
      query: queries.costOverTime
      visualization: 'barchart'
    })
  }
  {
    type: 1
    name: 'preflight-heading'
    content: {
      json: '### Preflight and the forges'
    }
  }
  {
    type: 3
    name: 'preflight-status'
    customWidth: '50'
    content: union(kql, {
      title: 'Preflight per pool and check (last report, worst in the range)'
      query: queries.preflightStatus
      visualization: 'table'
    })
  }
  {
    type: 3
    name: 'forge-api-remaining'
    customWidth: '50'
    content: union(kql, {
      title: 'Forge API requests left in the rate-limit window (lowest)'
      query: queries.forgeApiRemaining
      visualization: 'timechart'
    })
  }
  {
    type: 3
    name: 'preflight-events'
    content: union(kql, {
      title: 'Preflight verdicts as logged (each change of a pool\'s problems)'
      query: queries.preflightEvents
      visualization: 'table'
    })
  }
  {
    type: 1
    name: 'queues-heading'
    content: {
      json: '### Queues and webhooks'
    }
  }
  {
    type: 3
    name: 'queue-depth'
    customWidth: '33'
    content: union(kql, {
      title: 'Messages waiting per queue'
      query: queries.queueDepth
      visualization: 'timechart'
    })
  }
  {
    type: 3
    name: 'webhooks-rejected'
    customWidth: '33'
    content: union(kql, {
      title: 'Webhooks rejected, by forge and reason'
      query: queries.webhooksRejected
      visualization: 'timechart'
    })
  }
  {
    type: 3
    name: 'webhooks-by-forge'
    customWidth: '33'
    content: union(kql, {
      title: 'Webhooks accepted and rejected per forge'
      query: queries.webhooksByForge
      visualization: 'table'
    })
  }
]
var workbookContent = {
  version: 'Notebook/1.0'
  items: workbookItems
  fallbackResourceIds: [
    workspaceId
  ]
}

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, prefix, 'runner-fleet-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'runner-fleet (${prefix})'
    category: 'workbook'
    sourceId: workspaceId
    version: 'Notebook/1.0'
    serializedData: string(workbookContent)
  }
}

output workbookId string = workbook.id
output workbookName string = workbook.name
output actionGroupId string = empty(alertEmailAddresses) ? '' : actionGroup.id
