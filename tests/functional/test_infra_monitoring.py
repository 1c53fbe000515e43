"""The fleet's workbook and alert rules, read from infra/'s Bicep: wired from main.bicep onto the
service's workspace; every query is KQL that Kusto's own language service parses and binds against
the workspace tables (AppTraces, AppMetrics) and reads the metrics of the contract and the log
events the service writes; each alert rule carries its threshold parameter; the action group exists
only when someone is to be mailed."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from runner_fleet.telemetry.metrics import INSTRUMENTS
from runner_fleet.usecases.reconcile.observed import reason_code
from tests.functional.bicep import INFRA, Opaque, Template

REPO = INFRA.parent
WORKSPACE = (
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-rf-service/providers/"
    "Microsoft.OperationalInsights/workspaces/log-rf"
)
MODULE = {"prefix": "rf", "location": "westeurope", "tags": {}, "workspaceId": WORKSPACE}
# What main.bicep needs to be evaluated (as in test_infra_network.py).
MAIN = {
    "prefix": "rf",
    "location": "westeurope",
    "clusterVnetId": "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-aks/providers/"
    "Microsoft.Network/virtualNetworks/vnet-aks",
    "apiServerPrivateAddress": "10.10.0.4",
}
PAGER = "/subscriptions/s/resourceGroups/rg/providers/microsoft.insights/actionGroups/pager"
LANGUAGE_SERVICE = REPO / "node_modules" / "@kusto" / "language-service-next"
# The workspace tables as documented (learn.microsoft.com/azure/azure-monitor/reference/tables/
# apptraces and .../appmetrics), in the schema notation of Kusto's TableSymbol.
_APP_COLUMNS = (
    "AppRoleInstance:string, AppRoleName:string, AppVersion:string, _BilledSize:real, ClientBrowser:string, "
    "ClientCity:string, ClientCountryOrRegion:string, ClientIP:string, ClientModel:string, ClientOS:string, "
    "ClientStateOrProvince:string, ClientType:string, IKey:string, _IsBillable:string, ItemCount:int, "
    "OperationId:string, OperationName:string, ParentId:string, Properties:dynamic, ResourceGUID:string, "
    "_ResourceId:string, SDKVersion:string, SessionId:string, SourceSystem:string, _SubscriptionId:string, "
    "SyntheticSource:string, TenantId:string, TimeGenerated:datetime, Type:string, UserAccountId:string, "
    "UserAuthenticatedId:string, UserId:string"
)
TABLES = {
    "AppTraces": f"({_APP_COLUMNS}, Measurements:dynamic, Message:string, ReferencedItemId:string, "
    "ReferencedType:string, SeverityLevel:int)",
    "AppMetrics": f"({_APP_COLUMNS}, Max:real, Min:real, Name:string, Sum:real)",
}
# A workbook query's bin is the time range picker's; any bin size stands for it here.
_GRAIN = "{TimeRange:grain}"


def monitoring(**params: Any) -> Template:
    return Template("modules/monitoring.bicep", MODULE | params)


def queries() -> dict[str, str]:
    found: dict[str, str] = monitoring().variable("queries")
    return found


def workbook() -> dict[str, Any]:
    data = monitoring().config("workbook")["properties"]["serializedData"]
    assert isinstance(data, str), f"serializedData is not computed: {data!r}"
    parsed: dict[str, Any] = json.loads(data)
    return parsed


def workbook_queries() -> dict[str, str]:
    return {item["name"]: item["content"]["query"] for item in workbook()["items"] if item["type"] == 3}


def rules(**params: Any) -> dict[str, dict[str, Any]]:
    """The alert rules by name, as deployed with these module parameters."""
    return {rule["name"]: rule for rule in monitoring(**params).configs("alerts")}


def criterion(rule: dict[str, Any]) -> dict[str, Any]:
    [only] = rule["properties"]["criteria"]["allOf"]
    found: dict[str, Any] = only
    return found


@cache
def analysed(texts: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    """Kusto's diagnostics and result columns for each query (tests/functional/kql_diagnostics.js)."""
    node = shutil.which("node")
    assert node, "node is not installed (scripts/bootstrap installs it)"
    assert LANGUAGE_SERVICE.is_dir(), "the Kusto language service is not installed: run scripts/bootstrap"
    request = {"tables": TABLES, "queries": {name: text.replace(_GRAIN, "1h") for name, text in texts}}
    done = subprocess.run(
        [node, str(Path(__file__).with_name("kql_diagnostics.js")), str(LANGUAGE_SERVICE)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def analyse(named: dict[str, str]) -> dict[str, Any]:
    return analysed(tuple(sorted(named.items())))


# --- wiring ---------------------------------------------------------------------------------------
def test_main_deploys_the_monitoring_module_on_the_services_workspace() -> None:
    """main.bicep deploys monitoring.bicep in the service resource group, on service.bicep's workspace."""
    main = Template("main.bicep", MAIN)
    assert main.deployed("monitoring")
    module = main.config("monitoring")
    assert module["scope"] == "serviceGroup"
    assert isinstance(module["params"]["workspaceId"], Opaque)
    assert module["params"]["workspaceId"].text() == "service.outputs.workspaceId"
    assert Template("modules/service.bicep").output("workspaceId").text() == "workspace.id"
    assert not Template("main.bicep", MAIN | {"enableMonitoring": False}).deployed("monitoring")


def test_main_passes_each_alert_parameter_to_the_module() -> None:
    """The alert thresholds and receivers of main.bicep (and its .bicepparam) reach the module as given."""
    given = {
        "alertEmailAddresses": ["oncall@example.com"],
        "alertActionGroupIds": [PAGER],
        "alertWaitP95Seconds": 240,
        "alertForgeApiRemaining": 800,
        "alertLeakedVmsPerHour": 5,
        "alertPreflightFailingMinutes": 20,
    }
    passed = Template("main.bicep", MAIN | given).config("monitoring")["params"]
    assert {
        "alertEmailAddresses": passed["alertEmailAddresses"],
        "alertActionGroupIds": passed["alertActionGroupIds"],
        "alertWaitP95Seconds": passed["waitP95ThresholdSeconds"],
        "alertForgeApiRemaining": passed["forgeApiRemainingThreshold"],
        "alertLeakedVmsPerHour": passed["leakedVmsPerHourThreshold"],
        "alertPreflightFailingMinutes": passed["preflightFailingMinutes"],
    } == given
    example = (INFRA / "main.bicepparam").read_text()
    for name in [*given, "enableMonitoring"]:
        assert re.search(rf"^param {name} = ", example, re.M), f"main.bicepparam does not show {name}"


# --- the workbook ---------------------------------------------------------------------------------
def test_the_workbook_is_json_with_a_query_for_every_metric_of_the_contract() -> None:
    """serializedData parses as a Notebook/1.0 workbook whose queries name every instrument of the meter."""
    data = workbook()
    assert data["version"] == "Notebook/1.0"
    assert data["fallbackResourceIds"] == [WORKSPACE]
    text = "\n".join(workbook_queries().values())
    missing = [spec.name for spec in INSTRUMENTS if f'"{spec.name}"' not in text]
    assert not missing, f"metrics no workbook query reads: {missing}"


def test_every_metric_a_query_reads_is_one_the_service_records() -> None:
    """No workbook tile or alert rule reads a metric name the meter does not have (a misspelt or
    renamed instrument would leave it silently empty)."""
    every = [*queries().values(), *workbook_queries().values()]
    named = {name for text in every for name in re.findall(r'"(runner_fleet\.[a-z_.]+)"', text)}
    assert {"runner_fleet.jobs.waited_with_capacity", "runner_fleet.preflight.status"} <= named
    assert named <= {spec.name for spec in INSTRUMENTS}, sorted(named - {spec.name for spec in INSTRUMENTS})


def test_every_workbook_query_runs_on_the_workspace_over_the_chosen_time_range() -> None:
    """Each query item reads the workspace and follows the workbook's one parameter, TimeRange."""
    items = workbook()["items"]
    [parameters] = [item for item in items if item["type"] == 9]
    assert [p["name"] for p in parameters["content"]["parameters"]] == ["TimeRange"]
    queried = [item for item in items if item["type"] == 3]
    assert len(queried) >= 10
    names = [item["name"] for item in items]
    assert len(names) == len(set(names))
    for item in queried:
        content = item["content"]
        assert content["version"] == "KqlItem/1.0"
        assert content["resourceType"] == "microsoft.operationalinsights/workspaces"
        assert content["crossComponentResources"] == [WORKSPACE]
        assert content["timeContextFromParameter"] == "TimeRange"
        assert content["title"] and content["visualization"]


def test_the_workbook_shows_what_the_issue_asks_for() -> None:
    """Waits by pool (p50/p95), runners by state, failures by code, cost by pool, preflight per pool and
    check, queue depth and webhooks rejected: each has its item."""
    shown = workbook_queries()
    expect = {
        "waits-over-time": ("percentile(wait_s, 50)", "percentile(wait_s, 95)", '"job.running"'),
        "runners-by-state": ('"runner_fleet.runners"', "state"),
        "refusals-by-code": ('"runner_fleet.vm.create.refusals"', "code"),
        "provision-failures": ('"provision.failed"',),
        "cost-by-pool": ('"runner_fleet.vm.cost"', "by pool"),
        "preflight-status": ('"runner_fleet.preflight.status"', "by pool, check"),
        "queue-depth": ('"runner_fleet.queue.depth"',),
        "webhooks-rejected": ('"runner_fleet.webhooks.rejected"',),
    }
    for name, words in expect.items():
        assert name in shown, f"no workbook item {name}"
        assert all(word in shown[name] for word in words), f"{name}: {shown[name]}"


# --- KQL ------------------------------------------------------------------------------------------
def test_every_query_is_kql_that_binds_to_the_workspace_tables() -> None:
    """Kusto's parser and binder find no error in any query, workbook's or alert rule's, against the
    documented AppTraces and AppMetrics columns."""
    every = queries() | {f"workbook:{name}": text for name, text in workbook_queries().items()}
    problems = {name: found["diagnostics"] for name, found in analyse(every).items() if found["diagnostics"]}
    assert not problems, json.dumps(problems, indent=2)


def test_the_kql_check_finds_a_column_the_tables_do_not_have() -> None:
    """The check is not vacuous: a misspelt column and a missing operator are reported."""
    found = analyse({"column": "AppMetrics | where Nmae == 'x'", "syntax": "AppTraces | whre Message"})
    assert [d["code"] for d in found["column"]["diagnostics"]] == ["KS142"]
    assert found["syntax"]["diagnostics"]


def test_each_alert_query_returns_its_rules_measure_dimensions_and_time() -> None:
    """The rule aggregates a numeric column of the query's result per dimension column, over TimeGenerated."""
    deployed = rules()
    found = analyse({name: criterion(rule)["query"] for name, rule in deployed.items()})
    for name, rule in deployed.items():
        columns = found[name]["columns"]
        condition = criterion(rule)
        assert columns.get("TimeGenerated") == "datetime", name
        assert columns.get(condition["metricMeasureColumn"]) in {"int", "long", "real"}, (name, columns)
        for dimension in condition["dimensions"]:
            assert columns.get(dimension["name"]) == "string", (name, dimension, columns)


# --- the events and reasons the queries rely on ---------------------------------------------------
_EVENT = re.compile(r'(?:tostring\(e\.event\)|event) (?:==|in) \(?("[a-z_.]+"(?:, "[a-z_.]+")*)\)?')


def test_the_log_events_the_queries_read_are_ones_the_service_logs() -> None:
    """Every event name a query compares with is logged somewhere in runner_fleet (preflight.* through
    the gate's `event` prefix)."""
    source = "\n".join(path.read_text() for path in (REPO / "runner_fleet").rglob("*.py"))
    named = {
        event.strip('"')
        for text in queries().values()
        for match in _EVENT.finditer(text)
        for event in match.group(1).split(", ")
    }
    assert {"job.running", "queue.poisoned", "provision.failed", "reconcile.acted", "preflight.failed"} <= (
        named
    )
    for event in sorted(named):
        prefix, _, suffix = event.partition(".")
        logged = f'"{event}"' in source or (
            f'event = "{prefix}"' in source and f'f"{{self.event}}.{suffix}"' in source
        )
        assert logged, f"no code logs {event}"


def _leak_reasons(query: str) -> set[str]:
    """The reason codes a query lists as leaked VMs: `reason in ("...", ...)`."""
    listed = re.search(r'reason in \(("[a-z-]+"(?:, "[a-z-]+")*)\)', query)
    assert listed, query
    return {reason.strip('"') for reason in listed.group(1).split(", ")}


def test_leaked_vms_are_the_reconcilers_deletions_for_a_release_that_never_came() -> None:
    """The leaked-VM reasons are reason codes the reconciler reports, the same in the alert and the
    workbook, and the log query's reason texts map to those codes."""
    found = queries()
    alert, table = _leak_reasons(found["alertLeakedVms"]), _leak_reasons(found["reconcileActions"])
    assert alert == table == {"registration-gone", "runner-exited", "max-lifetime", "probe-expired"}
    texts = re.findall(r'reason startswith "([^"]+)"', found["leakedVms"])
    assert sorted(map(reason_code, texts)) == ["max-lifetime", "registration-gone", "runner-exited"]
    probe = "probe VM past its expires-at (its doctor --probe did not delete it)"
    assert reason_code(probe) == "probe-expired"


# --- the alert rules ------------------------------------------------------------------------------
class Expect(NamedTuple):
    aggregation: str
    operator: str
    threshold: int
    periods: int
    dimensions: list[str]


@pytest.mark.parametrize(
    ("rule", "params", "expect"),
    [
        ("alert-rf-poisoned-messages", {}, Expect("Total", "GreaterThan", 0, 1, ["queue"])),
        (
            "alert-rf-job-wait-p95",
            {"waitP95ThresholdSeconds": 240},
            Expect("Maximum", "GreaterThan", 240, 1, ["pool"]),
        ),
        (
            "alert-rf-preflight-failing",
            {"preflightFailingMinutes": 20},
            Expect("Minimum", "GreaterThanOrEqual", 2, 4, ["pool", "check"]),
        ),
        ("alert-rf-leaked-vms", {"leakedVmsPerHourThreshold": 5}, Expect("Total", "GreaterThan", 5, 1, [])),
        ("alert-rf-waited-with-capacity", {}, Expect("Total", "GreaterThan", 0, 1, ["pool"])),
        (
            "alert-rf-forge-api-budget",
            {"forgeApiRemainingThreshold": 800},
            Expect("Minimum", "LessThan", 800, 1, ["forge"]),
        ),
    ],
)
def test_each_alert_rule_fires_on_its_threshold_parameter(
    rule: str, params: dict[str, int], expect: Expect
) -> None:
    """Each rule compares its aggregate per dimension with the threshold the deployment gives."""
    deployed = rules(**params)[rule]
    properties, condition = deployed["properties"], criterion(deployed)
    assert deployed["kind"] == "LogAlert" and properties["enabled"] is True
    assert properties["scopes"] == [WORKSPACE]
    found = (condition["timeAggregation"], condition["operator"], condition["threshold"])
    assert found == (expect.aggregation, expect.operator, expect.threshold)
    periods = condition["failingPeriods"]
    assert periods["numberOfEvaluationPeriods"] == periods["minFailingPeriodsToAlert"] == expect.periods
    assert [d["name"] for d in condition["dimensions"]] == expect.dimensions
    assert all(d["operator"] == "Include" and d["values"] == ["*"] for d in condition["dimensions"])


def test_the_alert_rules_are_the_six_the_fleet_needs_with_their_defaults() -> None:
    """Poisoned messages, p95 wait (300 s), a failing preflight (15 min), leaked VMs (over 2 an hour),
    forge API budget (under 500), jobs waiting while their pool has room (any, over 15 minutes):
    nothing else, nothing more sensitive by default."""
    deployed = rules()
    assert sorted(deployed) == [
        "alert-rf-forge-api-budget",
        "alert-rf-job-wait-p95",
        "alert-rf-leaked-vms",
        "alert-rf-poisoned-messages",
        "alert-rf-preflight-failing",
        "alert-rf-waited-with-capacity",
    ]
    assert criterion(deployed["alert-rf-job-wait-p95"])["threshold"] == 300
    preflight = deployed["alert-rf-preflight-failing"]
    assert criterion(preflight)["failingPeriods"]["numberOfEvaluationPeriods"] == 3
    assert preflight["properties"]["windowSize"] == "PT5M"
    assert criterion(deployed["alert-rf-leaked-vms"])["threshold"] == 2
    assert criterion(deployed["alert-rf-forge-api-budget"])["threshold"] == 500


# --- who is told ----------------------------------------------------------------------------------
def test_no_action_group_without_receivers() -> None:
    """No addresses and no action group IDs: nothing is made, the rules notify no one (portal only)."""
    assert not monitoring().deployed("actionGroup")
    assert all(rule["properties"]["actions"]["actionGroups"] == [] for rule in rules().values())


def test_an_action_group_mails_the_addresses_given_and_every_rule_notifies_it() -> None:
    """Each address is an email receiver (common alert schema); existing action groups are notified too."""
    addresses = ["oncall@example.com", "platform@example.com"]
    existing = PAGER
    template = monitoring(alertEmailAddresses=addresses, alertActionGroupIds=[existing])
    assert template.deployed("actionGroup")
    receivers = template.config("actionGroup")["properties"]["emailReceivers"]
    assert [(r["emailAddress"], r["useCommonAlertSchema"]) for r in receivers] == [
        (address, True) for address in addresses
    ]
    for rule in template.configs("alerts"):
        [own, other] = rule["properties"]["actions"]["actionGroups"]
        assert isinstance(own, Opaque) and own.text() == "actionGroup.id"
        assert other == existing
    only_existing = monitoring(alertActionGroupIds=[existing])
    assert not only_existing.deployed("actionGroup")
    for rule in only_existing.configs("alerts"):
        assert rule["properties"]["actions"]["actionGroups"] == [existing]
