"""contrib/: the Grafana dashboard and the Prometheus rules use only what colonyd exports.

Three checks, from cheap to real:
1. every `colonyd_*` name in the dashboard and the rules is on a real scrape of `/metrics`
   (histograms by their `_bucket`/`_sum`/`_count` series), every exported metric is on the
   dashboard and in README's metrics table;
2. `promtool check rules` and `promtool test rules` (the alert unit tests in
   contrib/prometheus/colonyd-rules.test.yml);
3. a real Prometheus scrapes a real colonyd under load with the rules loaded: every dashboard
   query evaluates without error and returns series, every rule evaluates with health "ok".

2 and 3 need Prometheus (`PROMTOOL_BIN`/`PROMETHEUS_BIN` or on PATH; `.ci/run` takes them
from Debian's `prometheus` package). Without them they skip, unless REQUIRE_PROMETHEUS=1 (CI).
"""
import json
import os
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from conftest import metrics_workload
from harness import Colonyd, free_port_socket, wait_for

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DASHBOARD = os.path.join(ROOT, "contrib", "grafana", "colonyd.json")
RULES = os.path.join(ROOT, "contrib", "prometheus", "colonyd-rules.yml")
RULE_TESTS = os.path.join(ROOT, "contrib", "prometheus", "colonyd-rules.test.yml")
NAME = re.compile(r"\bcolonyd_[a-z0-9_]+\b")


def tool(name):
    path = os.environ.get(name.upper() + "_BIN") or shutil.which(name)
    if path:
        return path
    if os.environ.get("REQUIRE_PROMETHEUS") == "1":
        pytest.fail(f"{name} not found (set {name.upper()}_BIN)")
    pytest.skip(f"{name} not installed (set {name.upper()}_BIN, or install Debian's prometheus)")


def dashboard_queries():
    """(kind, text) of every query in the dashboard: panel targets, variables, annotations."""
    d = json.load(open(DASHBOARD))
    out = []
    for p in d["panels"]:
        for t in p.get("targets", []):
            out.append(("panel " + p["title"], t["expr"]))
    for v in d["templating"]["list"]:
        if v["type"] == "query":
            out.append(("variable " + v["name"], v["query"]["query"]))
    for a in d["annotations"]["list"]:
        out.append(("annotation " + a["name"], a["expr"]))
    return out


def start_server(tmp_path):
    s = Colonyd(tmp_path, extra_args=["--metrics-listen", "127.0.0.1:0"]).start()
    m = wait_for(lambda: re.search(r"metrics on (http://\S+)", s.log()))
    return s, m.group(1)


def exported(text):
    """Metric names on a scrape, with each histogram's series names."""
    names = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M):
        names.add(name)
        if kind == "histogram":
            names.update({name + "_bucket", name + "_sum", name + "_count"})
    return names


def test_dashboard_and_rules_use_only_exported_metrics_and_show_all_of_them(tmp_path):
    s, url = start_server(tmp_path)
    try:
        metrics_workload(s)
        text = urllib.request.urlopen(url).read().decode()
    finally:
        s.kill()
    names = exported(text)
    families = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
    assert len(families) >= 29, families
    # every sample line belongs to a declared family
    for line in text.splitlines():
        if line and not line.startswith("#"):
            assert re.match(r"[a-z_]+", line).group(0) in names, line
    used_dashboard = {n for _, q in dashboard_queries() for n in NAME.findall(q)}
    used_rules = set(NAME.findall(open(RULES).read()))
    assert used_dashboard - names == set(), "dashboard uses names colonyd does not export"
    assert used_rules - names == set(), "rules use names colonyd does not export"
    assert len(used_rules) >= 10
    # the dashboard shows every family (histograms through their buckets)
    shown = {re.sub(r"_(bucket|sum|count)$", "", n) if n not in families else n
             for n in used_dashboard}
    assert families - shown == set(), "exported but not on the dashboard"
    # and README's metrics table lists every family
    readme = open(os.path.join(ROOT, "README.md")).read()
    table = set(re.findall(r"^\| `(colonyd_[a-z0-9_]+)`", readme, re.M))
    assert families - table == set(), "exported but not in README's metrics table"
    assert table - families == set(), "in README's metrics table but not exported"


def test_promtool_checks_the_rules_and_their_unit_tests():
    promtool = tool("promtool")
    r = subprocess.run([promtool, "check", "rules", RULES], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"SUCCESS: (\d+) rules found", r.stdout), r.stdout
    r = subprocess.run([promtool, "test", "rules", RULE_TESTS], capture_output=True, text=True,
                       cwd=os.path.dirname(RULE_TESTS))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout, r.stdout


def prom_get(base, path, **params):
    q = urllib.parse.urlencode(params)
    with urllib.request.urlopen(f"{base}{path}?{q}", timeout=10) as r:
        body = json.loads(r.read())
    assert body["status"] == "success", body
    return body["data"]


def test_a_real_prometheus_evaluates_every_dashboard_query_and_rule(tmp_path):
    prometheus = tool("prometheus")
    s, url = start_server(tmp_path / "colonyd")
    prom = None
    try:
        colony = metrics_workload(s)
        target = urllib.parse.urlparse(url).netloc
        cfg = tmp_path / "prometheus.yml"
        cfg.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            f"rule_files: [{json.dumps(RULES)}]\n"
            "scrape_configs:\n  - job_name: colonyd\n"
            f"    static_configs: [{{targets: [{json.dumps(target)}]}}]\n")
        sock = free_port_socket()
        port = sock.getsockname()[1]
        sock.close()
        base = f"http://127.0.0.1:{port}"
        log = open(tmp_path / "prometheus.log", "wb")
        prom = subprocess.Popen(
            [prometheus, f"--config.file={cfg}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=log)

        def scraped():
            try:
                r = prom_get(base, "/api/v1/query", query='count_over_time(up{job="colonyd"}[1m])')
            except OSError:
                return False
            return bool(r["result"]) and float(r["result"][0]["value"][1]) >= 6

        # keep traffic flowing while Prometheus collects a few samples
        deadline = time.time() + 60
        while not scraped():
            assert time.time() < deadline, open(tmp_path / "prometheus.log").read()[-3000:]
            assert prom.poll() is None, open(tmp_path / "prometheus.log").read()[-3000:]
            s.rpc({"msgtype": "getprocessesmsg", "colonyname": "dev", "count": 10, "state": 0},
                  colony.user_prv)
            time.sleep(0.5)

        up = prom_get(base, "/api/v1/query", query='up{job="colonyd"}')["result"]
        assert [r["value"][1] for r in up] == ["1"], up
        for where, q in dashboard_queries():
            m = re.fullmatch(r"label_values\((.*), (\w+)\)", q)
            if m:
                # a Grafana variable: the series must exist and carry the label
                q = m.group(1).replace("$instance", ".*")
                res = prom_get(base, "/api/v1/series", **{"match[]": q})
                assert res and all(m.group(2) in r for r in res), (where, q, res)
                continue
            q = (q.replace("$__rate_interval", "15s").replace("$instance", ".*")
                 .replace("$colony", ".*"))
            res = prom_get(base, "/api/v1/query", query=q)["result"]
            if where.startswith("annotation"):
                continue  # a filter: empty unless colonyd restarted; it must only evaluate
            assert res, f"{where}: {q} returned no series"
        # every rule was evaluated, without error
        def evaluated():
            groups = prom_get(base, "/api/v1/rules")["groups"]
            rules = [r for g in groups for r in g["rules"]]
            return rules if rules and all(not r["lastEvaluation"].startswith("0001")
                                          for r in rules) else None
        rules = wait_for(evaluated, timeout=30)
        assert len(rules) == len(re.findall(r"^\s+- alert:", open(RULES).read(), re.M))
        bad = [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"]
        assert bad == [], bad
        # on a healthy server under light load, nothing fires
        firing = [a for a in prom_get(base, "/api/v1/alerts")["alerts"] if a["state"] == "firing"]
        assert firing == [], firing
    finally:
        if prom is not None:
            prom.terminate()
            prom.wait(timeout=30)
        s.kill()
