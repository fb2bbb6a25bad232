"""The ``sidecar-impact`` command: a thin layer over :mod:`analyzer.api`.

Exit codes: 0 success; 1 findings at or above ``--fail-on``; 2 bad input or usage (a malformed
snapshot, flag or object); 3 a data source unreachable or failing; 4 another run holds the lock; 5 a
process of the run died. Errors print one ``error: ...`` line on stderr.
"""

from __future__ import annotations

from analyzer.runtime.allocator import keep_arrow_pages

keep_arrow_pages()  # the command owns its process: Arrow keeps freed pages, set before anything loads pyarrow

import json
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated

import typer

from analyzer import __version__, api
from analyzer.errors import NothingToAnalyse, SidecarImpactError, clip
from analyzer.model.rules import load_rules
from analyzer.prices import Prices, load_prices
from analyzer.render import metrics, outputs, registry, run_state
from analyzer.render import runs as run_folders
from analyzer.simulate.vpa_config import load_recommender_flags
from analyzer.synth.scenarios import CATALOGUE
from analyzer.units import parse_duration, parse_quantity

app = typer.Typer(
    name="sidecar-impact",
    help="Measure how sidecar containers skew Kubernetes HPA and VPA decisions, and what that costs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"sidecar-impact {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", help="Print the version and exit.", callback=_print_version, is_eager=True),
    ] = False,
) -> None:
    """Measure how sidecar containers skew Kubernetes HPA and VPA decisions, and what that costs."""


SnapshotOpt = Annotated[
    Path,
    typer.Option(
        "--snapshot", "-s", help="Snapshot directory to analyze (default: the bundled sample).", show_default=False
    ),
]
OutOpt = Annotated[
    Path, typer.Option("--out", "-O", help="Directory the report files are written to (default: ./reports).")
]
FormatsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--format",
        "-o",
        help=f"Report format, repeat for several: {', '.join(registry.available())}. The formats given "
        "replace the default (html and json); series is the HPAs' replica series as Parquet, pods every "
        "pod's containers and their classification as Parquet (report.json leaves them out), fixes the "
        "recommended patches with fixes/apply.sh.",
    ),
]
FailOnOpt = Annotated[
    str,
    typer.Option(
        "--fail-on",
        help="Exit with code 1 when a finding has this severity or worse: high, medium, low or none.",
    ),
]
RunsOpt = Annotated[
    bool,
    typer.Option("--runs", help="Write into OUT/<cluster>/<UTC timestamp>/ and point OUT/<cluster>/latest at it."),
]
KeepOpt = Annotated[int, typer.Option(help="With --runs: keep the newest N runs, delete older ones (0: all).", min=0)]
KeepBytesOpt = Annotated[
    str,
    typer.Option(
        "--keep-bytes",
        help="With --runs: also delete the oldest runs until all take at most this much (e.g. 2Gi; 0: no limit).",
    ),
]
MetricsFileOpt = Annotated[
    Path | None,
    typer.Option("--metrics-file", help="Write headline figures as Prometheus text (node-exporter textfile)."),
]
PushgatewayOpt = Annotated[
    str | None, typer.Option("--pushgateway", help="Push headline figures to this Prometheus Pushgateway URL.")
]
MinSeverityOpt = Annotated[
    str, typer.Option("--min-severity", help="Leave findings below this severity out of the report.")
]
TopOpt = Annotated[int, typer.Option("--top", help="Plot the N HPAs, workloads and VPAs that matter most.", min=0)]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")]
LogFormatOpt = Annotated[
    str, typer.Option("--log-format", help="text, or json: one JSON line with the summary and the files.")
]


@app.command()
def report(
    snapshot: SnapshotOpt = api.SAMPLE_DATA,
    out: OutOpt = api.REPORTS,
    formats: FormatsOpt = None,
    rules: Annotated[
        Path | None,
        typer.Option("--rules", help="YAML rule file forcing containers to app or sidecar (docs/model.md)."),
    ] = None,
    group_by_label: Annotated[
        list[str] | None,
        typer.Option("--group-by-label", help="Also roll sidecar cost up by this workload label (e.g. team)."),
    ] = None,
    fail_on: FailOnOpt = "none",
    runs: RunsOpt = False,
    keep: KeepOpt = 0,
    keep_bytes: KeepBytesOpt = "0",
    metrics_file: MetricsFileOpt = None,
    pushgateway: PushgatewayOpt = None,
    namespace: Annotated[
        list[str] | None, typer.Option("--namespace", "-n", help="Analyze only this namespace; repeat for several.")
    ] = None,
    selector: Annotated[
        str | None,
        typer.Option("--selector", "-l", help="Analyze only pods matching this label selector (e.g. team=shop)."),
    ] = None,
    min_severity: MinSeverityOpt = "low",
    cpu_price: Annotated[
        float | None, typer.Option("--cpu-price", help="Dollars per vCPU-hour (default: OpenCost's 0.031611).", min=0)
    ] = None,
    memory_price: Annotated[
        float | None, typer.Option("--memory-price", help="Dollars per GiB-hour (default: OpenCost's 0.004237).", min=0)
    ] = None,
    price_file: Annotated[
        Path | None, typer.Option("--price-file", help="YAML/JSON with cpu_core_hour and memory_gib_hour.")
    ] = None,
    vpa_recommender_config: Annotated[
        Path | None,
        typer.Option(
            "--vpa-recommender-config",
            help="YAML of VPA recommender flags by their upstream names (target-cpu-percentile: 0.8, ...); "
            "unset ones keep upstream's defaults (docs/vpa.md).",
        ),
    ] = None,
    shard: Annotated[
        str | None,
        typer.Option(
            "--shard",
            help="Analyze shard INDEX/COUNT of the namespaces (a stable hash) and write a partial result to "
            "OUT/shard-INDEX-of-COUNT/ for `merge`; /COUNT takes INDEX from $JOB_COMPLETION_INDEX.",
        ),
    ] = None,
    partition_samples: Annotated[
        int,
        typer.Option(
            "--partition-samples",
            help="Analyse a larger snapshot this many usage samples at a time (namespaces, a larger one cut "
            "between its workloads), in bounded memory; the report is the same. 0: all at once.",
            min=0,
        ),
    ] = api.PARTITION_SAMPLES,
    processes: Annotated[
        int | None,
        typer.Option(
            "--processes",
            help="Partitions analysed at once, each by its own process (memory grows with them). Default: one "
            f"per CPU, at most {api.PARTITION_PROCESSES}.",
            min=1,
        ),
    ] = None,
    top: TopOpt = 5,
    quiet: QuietOpt = False,
    log_format: LogFormatOpt = "text",
) -> None:
    """Analyze a snapshot and write the report (HTML and JSON by default), then print a summary.

    Exit codes: 0 done (no finding at or above --fail-on), 1 findings at or above --fail-on,
    2 bad input or usage, 3 a data source unreachable or failing, 4 another run holds the lock,
    5 a process of the run died (killed, out of memory).
    """
    started = time.monotonic()
    delivery = _Delivery.checked(out, formats, fail_on, runs, keep, keep_bytes, metrics_file, pushgateway,
                                 min_severity, top, quiet, log_format)  # fmt: skip
    part = api.Shard.parse(shard) if shard is not None else None
    if part is not None:
        delivery.check_shardable()
    prices = (load_prices(price_file) if price_file is not None else Prices()).overridden(cpu_price, memory_price)
    rule_set = load_rules(rules) if rules is not None else ()
    vpa_flags = load_recommender_flags(vpa_recommender_config) if vpa_recommender_config is not None else None
    if runs:
        cluster = api.SnapshotFiles(snapshot).metadata.cluster
        run_folders.check_cluster_dir(run_folders.cluster_dir(out, cluster))
    from analyzer import terminal

    terminal.setup_logging(log_format, quiet)
    analysis = None
    try:
        with terminal.progress_reporter(quiet or log_format == "json") as progress:
            analysis = api.analyze_dir(
                snapshot, namespace or None, selector, part, partition_samples, progress=progress, rules=rule_set,
                group_by=group_by_label or (), prices=prices, vpa_flags=vpa_flags, processes=processes,
            )  # fmt: skip
    except NothingToAnalyse:
        if part is None:
            raise
    if part is not None:
        settings = api.shard_settings(rule_set, group_by_label or (), prices, vpa_flags, namespace or (), selector)
        written = api.write_partial(analysis, out, part, settings)
        delivery.say_partial(part, written, analysis)
        return
    assert analysis is not None
    delivery.deliver(analysis, started)


@app.command()
def merge(
    parts: Annotated[
        list[Path],
        typer.Argument(help="Partial results of `report --shard`: shard folders, or folders holding them."),
    ],
    out: OutOpt = api.REPORTS,
    formats: FormatsOpt = None,
    fail_on: FailOnOpt = "none",
    runs: RunsOpt = False,
    keep: KeepOpt = 0,
    keep_bytes: KeepBytesOpt = "0",
    metrics_file: MetricsFileOpt = None,
    pushgateway: PushgatewayOpt = None,
    min_severity: MinSeverityOpt = "low",
    top: TopOpt = 5,
    quiet: QuietOpt = False,
    log_format: LogFormatOpt = "text",
) -> None:
    """Merge every shard's partial result into one report, the same as an unsharded `report`.

    Refuses an incomplete set (a shard missing or given twice) and parts of different runs.
    Exit codes as for `report`.
    """
    started = time.monotonic()
    delivery = _Delivery.checked(out, formats, fail_on, runs, keep, keep_bytes, metrics_file, pushgateway,
                                 min_severity, top, quiet, log_format)  # fmt: skip
    analysis, _ = api.merge_partials(parts)
    if runs:
        run_folders.check_cluster_dir(run_folders.cluster_dir(out, analysis.metadata.cluster))
    delivery.deliver(analysis, started)


@dataclass(frozen=True)
class _Delivery:
    """What `report` and `merge` do with a finished analysis: the output options, checked up front."""

    out: Path
    formats: list[str]
    fail_on: str
    runs: bool
    keep: int
    keep_bytes: int
    metrics_file: Path | None
    pushgateway: str | None
    min_severity: str
    top: int
    quiet: bool
    log_format: str
    given: frozenset[str]

    @classmethod
    def checked(
        cls,
        out: Path,
        formats: list[str] | None,
        fail_on: str,
        runs: bool,
        keep: int,
        keep_bytes: str,
        metrics_file: Path | None,
        pushgateway: str | None,
        min_severity: str,
        top: int,
        quiet: bool,
        log_format: str,
    ) -> _Delivery:
        """Refuse bad output options before any work: a bad flag costs seconds, not the whole run."""
        if fail_on not in ("high", "medium", "low", "none"):
            raise SidecarImpactError(f"--fail-on: {clip(fail_on)} is not one of high, medium, low, none")
        if min_severity not in ("high", "medium", "low"):
            raise SidecarImpactError(f"--min-severity: {clip(min_severity)} is not one of high, medium, low")
        if log_format not in ("text", "json"):
            raise SidecarImpactError(f"--log-format: {clip(log_format)} is not one of text, json")
        try:
            byte_budget = int(parse_quantity(keep_bytes))
        except SidecarImpactError as exc:
            raise SidecarImpactError(f"--keep-bytes: {exc}") from None
        if byte_budget < 0:
            raise SidecarImpactError(f"--keep-bytes: {clip(keep_bytes)} is negative")
        for name in formats or ():
            registry.find(name)
        outputs.check_out_dir(out)
        if metrics_file is not None:
            outputs.check_file_target(metrics_file, "--metrics-file")
        given = {
            flag
            for flag, used in (
                ("--format", formats), ("--fail-on", fail_on != "none"), ("--runs", runs), ("--keep", keep),
                ("--keep-bytes", byte_budget), ("--metrics-file", metrics_file), ("--pushgateway", pushgateway),
                ("--min-severity", min_severity != "low"), ("--top", top != 5),
            )
            if used
        }  # fmt: skip
        return cls(out, formats or ["html", "json"], fail_on, runs, keep, byte_budget, metrics_file, pushgateway,
                   min_severity, top, quiet, log_format, frozenset(given))  # fmt: skip

    def check_shardable(self) -> None:
        """A shard writes a partial result only: the report's options belong to `merge`."""
        if self.given:
            flags = ", ".join(sorted(self.given))
            raise SidecarImpactError(
                f"--shard writes a partial result; {flags} belong to `merge`, which writes the report"
            )

    def say_partial(self, shard: api.Shard, written: Path, analysis: api.Analysis | None) -> None:
        """One line (or one JSON object) saying what the shard wrote."""
        held = "no pods in its namespaces" if analysis is None else f"{len(analysis.workloads)} workloads"
        if self.log_format == "json":
            typer.echo(json.dumps({"shard": str(shard), "workloads": 0 if analysis is None else
                                   len(analysis.workloads), "files": [str(written)]}, sort_keys=True))  # fmt: skip
        elif not self.quiet:
            typer.echo(f"shard {shard}: {held}; wrote {written}")

    def deliver(self, analysis: api.Analysis, started: float) -> None:
        """Write the report, the metrics and the summary; exit 1 when findings reach --fail-on."""
        if self.runs:  # compared with the last run: the report, the metrics and the summary line say it
            analysis = replace(analysis, changes=api.since_last_run(analysis, self.out))
        shown = analysis.keeping(self.min_severity)
        paths = (
            api.render_run(
                shown,
                self.out,
                self.formats,
                self.keep,
                top=self.top,
                keep_bytes=self.keep_bytes,
                state=analysis.state(),
            )  # the whole run, whatever --min-severity shows
            if self.runs
            else api.render(shown, self.out, self.formats, self.top)
        )
        if self.metrics_file is not None:
            metrics.write_metrics_file(analysis, self.metrics_file, time.monotonic() - started)
        if self.pushgateway:
            metrics.push_metrics(analysis, self.pushgateway, duration_s=time.monotonic() - started)
        summary = analysis.summary()
        since = None if analysis.changes is None else analysis.changes.headline()
        if self.log_format == "json":
            line = {"summary": summary, "files": [str(p) for p in paths], **({"since": since} if since else {})}
            typer.echo(json.dumps(line, sort_keys=True))
        elif not self.quiet and sys.stdout.isatty():
            _summary_table(analysis, paths)
        elif not self.quiet:
            _summary_lines(summary, paths)
        if since and not self.quiet and self.log_format != "json":
            typer.echo(since)
        if self.fail_on != "none" and len(analysis.at_or_above(self.fail_on)):
            typer.echo(
                f"{len(analysis.at_or_above(self.fail_on))} findings at or above {self.fail_on}: exit 1", err=True
            )
            raise typer.Exit(1)


def _summary_lines(summary: dict[str, int | float], paths: list[Path]) -> None:
    """The headline figures as plain lines (cron logs, pipes)."""
    typer.echo(
        f"{summary['workloads']} workloads, {summary['containers']} containers ({summary['sidecars']} sidecars, "
        f"${summary['sidecar_cost_month']:,.2f}/month, {summary['sidecar_cpu_request_share']:.1%} of "
        f"requested CPU, {summary['sidecar_memory_request_share']:.1%} of memory), "
        f"{summary['hpas']} HPAs ({summary['hpas_stalled']} stalled)"
    )
    typer.echo(
        f"waste: ${summary['waste_cost_month']:,.2f}/month, {summary['waste_replica_hours']:,.1f} replica-hours "
        f"beyond the app's need ({summary['hpas_inflated']} HPAs inflated)"
    )
    typer.echo(
        f"shortfall: {summary['shortfall_replica_hours']:,.1f} replica-hours the app needed and did not get, "
        f"{summary['under_provisioned_hours']:,.1f} h under-provisioned ({summary['hpas_diluted']} HPAs diluted), "
        f"{summary['stalled_hours']:,.1f} h stalled"
    )
    if summary["hpas_uncertain"]:
        typer.echo(
            f"{summary['hpas_uncertain']} HPAs rebuilt from kube-state-metrics are not in these figures: their "
            "metrics cannot be told (collect with the Kubernetes API to measure them)"
        )
    if summary["start_order_pods_failed"]:
        typer.echo(
            f"apps started before their sidecar in {summary['start_order_pods_failed']} new pods: unready "
            f"{summary['start_order_pod_hours']:,.2f} pod-hours after it was up"
        )
    if summary["jobs_held_pod_hours"]:
        unfinished = summary["jobs_unfinished"]
        typer.echo(
            f"Jobs held open by a sidecar: {summary['jobs_held_pod_hours']:,.1f} pod-hours after their app finished, "
            f"${summary['jobs_held_cost_month']:,.2f}/month" + (f", {unfinished} never completed" if unfinished else "")
        )
    if summary["ambiguous_pods"]:
        typer.echo(f"{summary['ambiguous_pods']} pods with an ambiguous app container (see the report; --rules)")
    if summary["multi_app_workloads"]:
        n = summary["multi_app_workloads"]
        typer.echo(
            f"{n} workload{'' if n == 1 else 's'} with several app containers, all counted as the app "
            "(see the report; --rules if one is a sidecar)"
        )
    typer.echo(
        f"findings: {summary['findings_high']} high, {summary['findings_medium']} medium, {summary['findings_low']} low"
    )
    for path in paths:
        typer.echo(f"wrote {path}")


@app.command()
def collect(
    out: Annotated[Path, typer.Option("--out", "-O", help="Directory to write the snapshot to (must not exist).")],
    prometheus_url: Annotated[
        str | None,
        typer.Option("--prometheus-url", help="Prometheus API base URL, with any path prefix (e.g. .../prometheus)."),
    ] = None,
    metrics_server: Annotated[
        bool, typer.Option("--metrics-server", help="Poll metrics.k8s.io instead of Prometheus (see --duration).")
    ] = False,
    since: Annotated[str | None, typer.Option(help="Range ending now (or at --end), e.g. 7d, 12h.")] = None,
    start: Annotated[
        str | None, typer.Option(help="Range start, RFC 3339 or unix seconds (instead of --since).")
    ] = None,
    end: Annotated[str | None, typer.Option(help="Range end, RFC 3339 or unix seconds (default: now).")] = None,
    step: Annotated[str, typer.Option(help="Sample step, a Prometheus duration.")] = "60s",
    scrape_interval: Annotated[
        str | None, typer.Option("--scrape-interval", help="cAdvisor scrape interval (default: measured).")
    ] = None,
    token_file: Annotated[
        Path | None, typer.Option("--token-file", help="File holding a bearer token for Prometheus.")
    ] = None,
    token_env: Annotated[
        bool,
        typer.Option("--token-from-env", help="Read the bearer token from $PROMETHEUS_TOKEN (never from a flag)."),
    ] = False,
    basic_auth_user: Annotated[str | None, typer.Option("--basic-auth-user", help="Basic auth user name.")] = None,
    basic_auth_password_file: Annotated[
        Path | None, typer.Option("--basic-auth-password-file", help="File holding the basic auth password.")
    ] = None,
    header: Annotated[
        list[str] | None, typer.Option("--header", help="Extra HTTP header 'Name: value' (e.g. X-Scope-OrgID); repeat.")
    ] = None,
    ca_file: Annotated[Path | None, typer.Option("--ca-file", help="CA bundle to verify Prometheus's TLS.")] = None,
    insecure_skip_tls_verify: Annotated[
        bool, typer.Option("--insecure-skip-tls-verify", help="Do not verify Prometheus's TLS certificate.")
    ] = False,
    cluster_label: Annotated[
        str | None, typer.Option("--cluster-label", help="Label telling clusters apart on a shared Prometheus.")
    ] = None,
    cluster_value: Annotated[str | None, typer.Option("--cluster-value", help="Value of --cluster-label.")] = None,
    timeout: Annotated[str, typer.Option(help="Per-request timeout.")] = "60s",
    retries: Annotated[int, typer.Option(help="Retries on 5xx and 429, timeouts and refused connections.", min=0)] = 3,
    concurrency: Annotated[int, typer.Option(help="Requests in flight at once.", min=1, max=32)] = 4,
    gzip: Annotated[
        bool,
        typer.Option(
            "--gzip",
            help="Ask Prometheus for gzip-compressed answers: about a quarter of the bytes, for several "
            "times its CPU (off: compressing is most of what a collection costs the server).",
        ),
    ] = False,
    kubeconfig: Annotated[
        Path | None, typer.Option("--kubeconfig", help="Kubeconfig file (default ~/.kube/config).")
    ] = None,
    context: Annotated[str | None, typer.Option("--context", help="Kubeconfig context.")] = None,
    in_cluster: Annotated[bool, typer.Option("--in-cluster", help="Use the pod's service account.")] = False,
    objects: Annotated[
        Path | None, typer.Option("--objects", help="Object files (kubectl get -o json/yaml) instead of the API.")
    ] = None,
    no_api: Annotated[
        bool, typer.Option("--no-api", help="Do not read the Kubernetes API; objects from kube-state-metrics only.")
    ] = False,
    namespace: Annotated[
        list[str] | None, typer.Option("--namespace", "-n", help="Collect only this namespace; repeat for several.")
    ] = None,
    selector: Annotated[
        str | None, typer.Option("--selector", "-l", help="Pod label selector (needs the API).")
    ] = None,
    duration: Annotated[str, typer.Option(help="With --metrics-server: how long to poll.")] = "1h",
    interval: Annotated[str, typer.Option(help="With --metrics-server: time between polls.")] = "60s",
    cluster: Annotated[str | None, typer.Option("--cluster", help="Cluster name for reports.")] = None,
    shard: Annotated[
        str | None,
        typer.Option(
            "--shard",
            help="With --prometheus-url: collect only shard INDEX/COUNT of the namespaces, the same hash as "
            "`report --shard` (/COUNT: INDEX from $JOB_COMPLETION_INDEX).",
        ),
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace OUT if it exists.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")] = False,
    log_format: Annotated[str, typer.Option("--log-format", help="text, or json (one object per line).")] = "text",
) -> None:
    """Collect usage and objects from a live cluster into a snapshot directory (written atomically).

    Prometheus (cAdvisor + kube-state-metrics) with the Kubernetes API by default; --metrics-server
    polls the Metrics API instead. Exit codes: 0 written, 2 bad input or usage, 3 a source
    unreachable or failing (nothing is left at OUT).
    """
    from analyzer import terminal

    if log_format not in ("text", "json"):
        raise SidecarImpactError(f"--log-format: {clip(log_format)} is not one of text, json")
    terminal.setup_logging(log_format, quiet)
    with terminal.progress_reporter(quiet) as progress:
        done = api.collect(
            out, prometheus_url=prometheus_url, metrics_server=metrics_server, since=since, start=start, end=end,
            step=step, scrape_interval=scrape_interval, token_file=token_file, token_from_env=token_env,
            basic_auth_user=basic_auth_user, basic_auth_password_file=basic_auth_password_file, headers=header or (),
            ca_file=ca_file, insecure_skip_tls_verify=insecure_skip_tls_verify, cluster_label=cluster_label,
            cluster_value=cluster_value, timeout=timeout, retries=retries, concurrency=concurrency, gzip=gzip,
            kubeconfig=kubeconfig, context=context, in_cluster=in_cluster, objects=objects, no_api=no_api,
            namespaces=namespace or (), selector=selector, duration=duration, interval=interval, cluster=cluster,
            shard=api.Shard.parse(shard) if shard is not None else None, overwrite=overwrite, progress=progress,
        )  # fmt: skip
    summary = {"snapshot": str(done.path), "pods": done.pods, "samples": done.samples, "requests": done.requests,
               "notes": done.notes}  # fmt: skip
    if log_format == "json":
        typer.echo(json.dumps(summary, sort_keys=True))
    elif not quiet:
        for note in done.notes:
            typer.echo(f"note: {note}", err=True)
        requests = ", ".join(f"{n} {k}" for k, n in done.requests.items())
        typer.echo(f"wrote {done.path}: {done.pods} pods, {done.samples} usage samples ({requests} requests)")


@app.command()
def diff(
    before: Annotated[Path, typer.Argument(help="The earlier run: a run folder, its report.json or its state file.")],
    now: Annotated[Path, typer.Argument(help="The later run, the same way.")],
    output: Annotated[
        str, typer.Option("--output", help="text (the headline and what changed), or json (report.json's changes).")
    ] = "text",
) -> None:
    """Compare two runs of a cluster: findings new, resolved and changed in severity, the HPAs whose skew moved,
    the workloads and sidecars that appeared or went.

    Exit codes: 0 done, 2 bad input or usage.
    """
    if output not in ("text", "json"):
        raise SidecarImpactError(f"--output: {clip(output)} is not one of text, json")
    changes = api.diff(before, now)
    if output == "json":
        typer.echo(json.dumps(run_state.changes_document(changes), indent=2, sort_keys=True))
        return
    typer.echo(changes.headline())
    for r in changes.findings[changes.findings["status"] != "persisting"].itertuples(index=False):
        severity = r.severity_now or r.severity_before
        typer.echo(f"  {r.status:<8} {severity:<6} {r.kind} {r.namespace}/{r.object}")
    f = changes.findings
    for r in f[(f["status"] == "persisting") & (f["severity_before"] != f["severity_now"])].itertuples(index=False):
        typer.echo(f"  severity {r.severity_before} -> {r.severity_now}: {r.kind} {r.namespace}/{r.object}")
    for r in changes.workloads.itertuples(index=False):
        what = f"{r.namespace}/{r.workload}" + (f" sidecar {r.container}" if r.container else "")
        typer.echo(f"  {r.status:<8} {r.workload_kind.lower()} {what}")


@app.command()
def sample(
    out: Annotated[Path, typer.Option("--out", "-O", help="Directory to write the synthetic snapshot to.")],
    workloads: Annotated[
        int, typer.Option(help="Number of workloads, one per catalogue scenario (repeated beyond them).", min=1)
    ] = len(CATALOGUE),
    days: Annotated[float, typer.Option(help="Days of data to simulate.", min=0.01, max=60)] = 3.0,
    step: Annotated[str, typer.Option(help="Sample step, a multiple of 15s (e.g. 60s, 2m).")] = "60s",
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same snapshot.")] = 7,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace OUT if it exists.")] = False,
    catalogue: Annotated[
        str,
        typer.Option(help="Scenarios: 'default' (sidecars that skew the autoscalers), 'failures' (sidecars that "
                     "start late, crash or are OOM-killed, and a healthy control), 'lifecycle' (CronJobs whose "
                     "sidecars hold their pods open after the app, and controls) or 'sources' (linkerd-proxy "
                     "requests set by a namespace annotation, per-workload overrides and the injector's default)."),
    ] = "default",
) -> None:
    """Write a synthetic cluster snapshot (every scenario of the catalogue) with its ground truth."""
    path, counts = api.sample(out, workloads, days, parse_duration(step), seed, overwrite, catalogue=catalogue)
    typer.echo(f"wrote {path}: {counts['pods']} pods, {counts['samples']} usage samples, seed {seed}")


@app.command()
def serve(
    reports: Annotated[Path, typer.Option("--reports", help="The reports folder to serve (what --out wrote).")] = Path(
        "reports"
    ),
    port: Annotated[int, typer.Option("--port", help="TCP port.", min=1, max=65535)] = 8080,
    host: Annotated[str, typer.Option("--host", help="Address to listen on (0.0.0.0 in a pod).")] = "127.0.0.1",
    connections: Annotated[
        int, typer.Option("--connections", help="Connections served at once; more wait their turn.", min=1, max=1024)
    ] = 16,
) -> None:
    """Serve the reports folder read-only over HTTP: each cluster's run list, the latest report, every run's files."""
    from analyzer.serve import make_server

    try:
        server = make_server(reports, host, port, connections)
    except OSError as exc:
        raise SidecarImpactError(f"--host {host} --port {port}: cannot listen ({exc.strerror or exc})") from None
    typer.echo(f"serving {reports.resolve()} on http://{host}:{server.server_address[1]}/ (Ctrl-C stops)", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def _summary_table(analysis: api.Analysis, paths: list[Path]) -> None:
    """On a terminal: the headline figures and the worst findings as a table (rich); cron logs get plain lines."""
    from rich.console import Console
    from rich.table import Table

    s = analysis.summary()
    table = Table(title=f"sidecar impact: {analysis.metadata.cluster}", show_header=False)
    for label, value in (
        ("workloads / sidecar containers", f"{s['workloads']} / {s['sidecars']}"),
        ("sidecar cost", f"${s['sidecar_cost_month']:,.2f}/month"),
        (
            "sidecars' share of requests",
            f"CPU {s['sidecar_cpu_request_share']:.1%}, memory {s['sidecar_memory_request_share']:.1%}",
        ),
        ("HPAs skewed / stalled", f"{s['hpas_skewed']} / {s['hpas_stalled']} of {s['hpas']}"),
        (
            "waste (replicas beyond need)",
            f"${s['waste_cost_month']:,.2f}/month, {s['waste_replica_hours']:,.1f} replica-h",
        ),
        (
            "shortfall (capacity missing)",
            f"{s['shortfall_replica_hours']:,.1f} replica-h, {s['under_provisioned_hours']:,.1f} h under-provisioned",
        ),
        *([("HPAs not measured", f"{s['hpas_uncertain']} rebuilt from kube-state-metrics: collect with the API")]
          if s["hpas_uncertain"] else []),
        ("VPA hazards", str(s["vpa_hazards"])),
        *([("apps started before their sidecar", f"{s['start_order_pods_failed']} new pods, "
            f"{s['start_order_pod_hours']:,.2f} pod-h unready")] if s["start_order_pods_failed"] else []),
        *([("Jobs held open by a sidecar", f"{s['jobs_held_pod_hours']:,.1f} pod-h, ${s['jobs_held_cost_month']:,.2f}"
            f"/month, {s['jobs_unfinished']} never completed")] if s["jobs_held_pod_hours"] else []),
        ("findings high / medium / low", f"{s['findings_high']} / {s['findings_medium']} / {s['findings_low']}"),
    ):
        table.add_row(label, value)
    console = Console()
    console.print(table)
    worst = analysis.findings.head(5)
    if len(worst):
        findings = Table("severity", "kind", "object", "message", title="worst findings")
        for r in worst.itertuples(index=False):
            findings.add_row(r.severity, r.kind, f"{r.namespace}/{r.object}", r.message)
        console.print(findings)
    for path in paths:
        console.print(f"wrote {path}")


def main() -> None:
    """Console entry point: usage errors and library errors become one ``error:`` line and their exit code."""
    try:
        code = app(standalone_mode=False)
    except typer.TyperException as exc:  # click's usage errors (typer vendors click)
        ctx = getattr(exc, "ctx", None)
        where = ctx.command_path if ctx is not None else "sidecar-impact"
        message = " ".join(exc.format_message().split())  # type: ignore[attr-defined]
        if message:  # empty when the help was shown for a bare command
            typer.echo(f"error: {where}: {message} (see {where} --help)", err=True)
        sys.exit(getattr(exc, "exit_code", 2))
    except typer.Abort:
        typer.echo("error: interrupted", err=True)
        sys.exit(130)
    except SidecarImpactError as exc:
        typer.echo(f"error: {' '.join(str(exc).split())}", err=True)
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)
