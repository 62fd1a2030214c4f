#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes docs/grafana-dashboard.json: the Grafana dashboard for pdns-distribute, built only on
metric names the daemons really export (tests/packaging/run.sh checks every name against the
sources). Usage: packaging/grafana/make-dashboard.py > docs/grafana-dashboard.json"""

import json

DS = {"type": "prometheus", "uid": "${datasource}"}
SEL = 'instance=~"$instance"'

panels = []
next_id = 1
y = 0


def row(title):
    global next_id, y
    panels.append({"type": "row", "title": title, "id": next_id, "collapsed": False,
                   "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
    next_id += 1
    y += 1


def panel(title, exprs, x, w=8, h=8, unit="short", kind="timeseries", description="",
          thresholds=None):
    global next_id
    targets = [{"datasource": DS, "expr": e, "legendFormat": legend, "refId": chr(65 + i)}
               for i, (e, legend) in enumerate(exprs)]
    p = {"type": kind, "title": title, "id": next_id, "datasource": DS, "targets": targets,
         "description": description, "gridPos": {"h": h, "w": w, "x": x, "y": y},
         "fieldConfig": {"defaults": {"unit": unit}, "overrides": []}, "options": {}}
    if kind == "timeseries":
        p["options"] = {"legend": {"displayMode": "table", "placement": "bottom",
                                   "calcs": ["lastNotNull", "max"]},
                        "tooltip": {"mode": "multi", "sort": "desc"}}
    if thresholds:
        p["fieldConfig"]["defaults"]["thresholds"] = {
            "mode": "absolute",
            "steps": [{"color": c, "value": v} for v, c in thresholds]}
        p["fieldConfig"]["defaults"]["color"] = {"mode": "thresholds"}
    next_id += 1
    panels.append(p)


def advance(h=8):
    global y
    y += h


def rate(metric, by, extra=""):
    sel = SEL + ("," + extra if extra else "")
    return f"sum by ({by}) (rate({metric}{{{sel}}}[$__rate_interval]))"


def quantile(q, metric, by):
    return (f"histogram_quantile({q}, sum by (le, {by}) "
            f"(rate({metric}_bucket{{{SEL}}}[$__rate_interval])))")


OK_RED = [(None, "green"), (1, "red")]

row("Overview")
panel("Parked zones (all secondaries)",
      [(f"sum(pdns_distribute_syncer_parked_zones{{{SEL}}})", "parked")], 0, w=6, h=5,
      kind="stat", thresholds=OK_RED,
      description="Zones a syncer could not apply and retries with backoff. Anything above 0 "
                  "needs a look: pdns-distribute operations.md, 'A zone is parked'.")
panel("Refused zone data (1h)",
      [(f"sum(increase(pdns_distribute_syncer_refused_total{{{SEL}}}[1h]))", "refused")],
      6, w=6, h=5, kind="stat", thresholds=OK_RED,
      description="Zone-data replies that failed verification (signature, key, digest). "
                  "Expected 0; see operations.md, 'Refused zone data'.")
panel("API proxy retry queue",
      [(f"sum(pdns_distribute_api_proxy_retry_queue_depth{{{SEL}}})", "queued")], 12, w=6, h=5,
      kind="stat", thresholds=[(None, "green"), (1, "orange"), (1000, "red")],
      description="Zone events waiting for NATS. Grows while NATS is unreachable.")
panel("Health checker NATS connection",
      [(f"min(pdns_distribute_health_checker_nats_connected{{{SEL}}})", "connected")],
      18, w=6, h=5, kind="stat", thresholds=[(None, "red"), (1, "green")],
      description="1 while the health-checker is connected to NATS.")
advance(5)

row("API proxy (primary)")
panel("Requests by status code",
      [(rate("pdns_distribute_api_proxy_requests_total", "code"), "{{code}}")], 0, unit="reqps")
panel("Zone events produced / published",
      [(rate("pdns_distribute_api_proxy_events_total", "op"), "produced {{op}}"),
       (rate("pdns_distribute_api_proxy_published_total", "instance"), "acked {{instance}}")],
      8, unit="ops")
panel("Publish failures, drops, upstream errors",
      [(rate("pdns_distribute_api_proxy_publish_failures_total", "instance"),
        "publish failures {{instance}}"),
       (rate("pdns_distribute_api_proxy_dropped_total", "instance"), "dropped {{instance}}"),
       (rate("pdns_distribute_api_proxy_upstream_errors_total", "instance"),
        "upstream errors {{instance}}"),
       (rate("pdns_distribute_api_proxy_unresolved_total", "instance"),
        "zone unresolved {{instance}}")], 16, unit="ops")
advance()

row("Zone provider (primary)")
panel("Requests by manifest status",
      [(rate("pdns_distribute_zone_provider_requests_total", "status"), "{{status}}"),
       (rate("pdns_distribute_zone_provider_bad_requests_total", "instance"), "bad requests"),
       (rate("pdns_distribute_zone_provider_cache_hits_total", "instance"), "cache hits")],
      0, unit="reqps")
panel("AXFR from the primary (latency)",
      [(quantile(0.5, "pdns_distribute_zone_provider_axfr_seconds", "instance"),
        "p50 {{instance}}"),
       (quantile(0.99, "pdns_distribute_zone_provider_axfr_seconds", "instance"),
        "p99 {{instance}}")], 8, unit="s")
panel("Chunks (large zones)",
      [(rate("pdns_distribute_zone_provider_chunks_served_total", "instance"), "served"),
       (rate("pdns_distribute_zone_provider_chunk_misses_total", "instance"), "misses")],
      16, unit="ops")
advance()

row("Secondary syncers")
panel("Zone events by outcome",
      [(rate("pdns_distribute_syncer_zone_results_total", "outcome"), "{{outcome}}")], 0,
      unit="ops")
panel("Apply latency (event taken up to served)",
      [(quantile(0.5, "pdns_distribute_syncer_apply_seconds", "instance"), "p50 {{instance}}"),
       (quantile(0.99, "pdns_distribute_syncer_apply_seconds", "instance"), "p99 {{instance}}")],
      8, unit="s")
panel("Managed and parked zones per secondary",
      [(f"sum by (instance) (pdns_distribute_syncer_managed_zones{{{SEL}}})",
        "managed {{instance}}"),
       (f"sum by (instance) (pdns_distribute_syncer_parked_zones{{{SEL}}})",
        "parked {{instance}}")], 16)
advance()
panel("Refused zone data by reason",
      [(rate("pdns_distribute_syncer_refused_total", "instance, reason"),
        "{{instance}} {{reason}}")], 0, unit="ops",
      description="Verification failures: bad_signature, unknown_key, expired_key, wrong_zone, "
                  "malformed, body_mismatch, too_large.")
panel("Local AXFR listener",
      [(rate("pdns_distribute_syncer_listener_transfers_total", "instance, result"),
        "{{instance}} {{result}}"),
       (rate("pdns_distribute_syncer_listener_refused_total", "instance"),
        "{{instance}} refused"),
       (rate("pdns_distribute_syncer_listener_malformed_total", "instance"),
        "{{instance}} malformed")], 8, unit="ops")
panel("Stream errors",
      [(rate("pdns_distribute_syncer_fetch_errors_total", "instance"),
        "{{instance}} fetch errors"),
       (rate("pdns_distribute_syncer_malformed_events_total", "instance"),
        "{{instance}} malformed events")], 16, unit="ops")
advance()

row("Fleet (health-checker)")
panel("Zones out of sync per secondary",
      [(f"max by (node) (pdns_distribute_health_checker_node_out_of_sync_zones{{{SEL}}})",
        "{{node}}")], 0,
      description="Zones a secondary serves differently from the primary (verify).")
panel("Oldest difference per secondary",
      [(f"max by (node) (pdns_distribute_health_checker_node_lag_seconds{{{SEL}}})",
        "{{node}}")], 8, unit="s")
panel("Propagation: API answer to a secondary serving it",
      [(quantile(0.5, "pdns_distribute_health_checker_propagation_seconds", "instance"),
        "p50"),
       (quantile(0.99, "pdns_distribute_health_checker_propagation_seconds", "instance"),
        "p99")], 16, unit="s")
advance()
panel("Secondaries sending heartbeats",
      [(f"sum(pdns_distribute_health_checker_node_active{{{SEL}}})", "active"),
       (f"count(pdns_distribute_health_checker_node_active{{{SEL}}})", "known")], 0)
panel("Resyncs, reconcile and freshness publishes",
      [(rate("pdns_distribute_health_checker_resyncs_total", "instance"), "resyncs"),
       (rate("pdns_distribute_health_checker_reconcile_published_total", "op"),
        "reconcile {{op}}"),
       (rate("pdns_distribute_health_checker_freshness_published_total", "instance"),
        "freshness")], 8, unit="ops")
panel("Leaders and held deletions",
      [(f"sum(pdns_distribute_health_checker_leader{{{SEL}}})", "leaders (want 1)"),
       (f"sum(pdns_distribute_health_checker_held_deletions{{{SEL}}})", "held deletions")],
      16)
advance()

dashboard = {
    "title": "pdns-distribute",
    "uid": "pdns-distribute",
    "description": "PowerDNS primary to secondaries over NATS JetStream: api-proxy, zone-provider, "
                   "secondary-syncers, health-checker.",
    "tags": ["pdns-distribute", "powerdns", "dns", "nats"],
    "timezone": "utc",
    "schemaVersion": 38,
    "version": 1,
    "editable": True,
    "refresh": "30s",
    "time": {"from": "now-6h", "to": "now"},
    "__inputs": [{"name": "DS_PROMETHEUS", "label": "Prometheus", "type": "datasource",
                  "pluginId": "prometheus", "pluginName": "Prometheus"}],
    "templating": {"list": [
        {"name": "datasource", "label": "Data source", "type": "datasource",
         "query": "prometheus", "current": {}, "hide": 0},
        {"name": "instance", "label": "Instance", "type": "query", "datasource": DS,
         "query": {"query": 'label_values({__name__=~"pdns_distribute_.+"}, instance)',
                   "refId": "instance"},
         "definition": 'label_values({__name__=~"pdns_distribute_.+"}, instance)',
         "includeAll": True, "multi": True, "allValue": ".*", "refresh": 2, "current": {},
         "hide": 0},
    ]},
    "annotations": {"list": []},
    "panels": panels,
}
print(json.dumps(dashboard, indent=2))
