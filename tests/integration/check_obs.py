#!/usr/bin/python3
"""Checks sluice's observability output against the Prometheus text format
and against the README (called by tests/integration/test_obs.c).

  check_obs.py metrics FILE README
      FILE is a /metrics body. It must parse with prometheus_client's own
      parser (Debian python3-prometheus-client); every family must have a
      HELP text and a TYPE of counter, gauge or histogram; every histogram
      series must have cumulative buckets in increasing `le` order ending in
      +Inf, a _count equal to the +Inf bucket and a _sum; every family must
      be listed in README's metrics tables.

  check_obs.py json FILE README
      FILE is a /stats.json body. Every field README documents (the block
      between the "stats.json fields" markers) must be present with its
      type, and every field present must be documented.

Prints what is wrong and exits 1, or exits 0.
"""
import json
import math
import re
import sys

from prometheus_client.parser import text_string_to_metric_families


def fail(msgs):
    for m in msgs[:40]:
        print(m)
    if len(msgs) > 40:
        print(f"... and {len(msgs) - 40} more")
    sys.exit(1)


def readme_families(readme):
    """Metric names in the first column of the Observability section's tables."""
    sec = readme.split("\n## Observability", 1)[1].split("\n## ", 1)[0]
    names = set()
    for line in sec.splitlines():
        if not line.startswith("| `"):
            continue
        first = line.split("|")[1]
        for n in re.findall(r"`([a-z0-9_]+)`", first):
            names.add("sluice_" + n)
    return names


def check_hist(fam, errs):
    series = {}
    for s in fam.samples:
        labels = {k: v for k, v in s.labels.items() if k != "le"}
        key = tuple(sorted(labels.items()))
        h = series.setdefault(key, {"buckets": [], "count": None, "sum": None})
        if s.name == fam.name + "_bucket":
            h["buckets"].append((float(s.labels["le"]), s.value))
        elif s.name == fam.name + "_count":
            h["count"] = s.value
        elif s.name == fam.name + "_sum":
            h["sum"] = s.value
        else:
            errs.append(f"{fam.name}: unexpected sample {s.name}")
    for key, h in series.items():
        b = h["buckets"]
        where = f"{fam.name}{dict(key)}"
        if not b:
            errs.append(f"{where}: no buckets")
            continue
        les = [x[0] for x in b]
        if les != sorted(les) or len(set(les)) != len(les):
            errs.append(f"{where}: le bounds not increasing: {les}")
        if not math.isinf(les[-1]):
            errs.append(f"{where}: last bucket is le={les[-1]}, not +Inf")
        vals = [x[1] for x in b]
        if any(vals[i] > vals[i + 1] for i in range(len(vals) - 1)):
            errs.append(f"{where}: buckets not cumulative: {vals}")
        if h["count"] is None or h["count"] != vals[-1]:
            errs.append(f"{where}: _count {h['count']} != +Inf bucket {vals[-1]}")
        if h["sum"] is None or h["sum"] < 0:
            errs.append(f"{where}: _sum missing or negative")
    return len(series)


def metrics(path, readme_path):
    text = open(path).read()
    documented = readme_families(open(readme_path).read())
    errs = []
    # the parser drops HELP/TYPE mismatches silently: check the raw lines too
    typed = {}
    helped = set()
    for line in text.splitlines():
        m = re.match(r"# TYPE (\S+) (\S+)$", line)
        if m:
            if m.group(1) in typed:
                errs.append(f"TYPE of {m.group(1)} given twice")
            typed[m.group(1)] = m.group(2)
        m = re.match(r"# HELP (\S+) \S", line)
        if m:
            helped.add(m.group(1))
    fams = list(text_string_to_metric_families(text))
    nhist = 0
    for fam in fams:
        # counters lose their _total in the parser's family name
        raw = fam.name + "_total" if fam.name + "_total" in typed else fam.name
        if fam.type not in ("counter", "gauge", "histogram"):
            errs.append(f"{raw}: type {fam.type}")
        if raw not in typed:
            errs.append(f"{raw}: no # TYPE line")
        if raw not in helped or not fam.documentation:
            errs.append(f"{raw}: no # HELP text")
        if raw not in documented:
            errs.append(f"{raw}: not listed in README's metrics tables")
        if fam.type == "histogram":
            nhist += check_hist(fam, errs)
    seen = {f.name for f in fams}
    for name in typed:
        if name not in seen and name.removesuffix("_total") not in seen:
            errs.append(f"{name}: TYPE line without samples the parser kept")
    if errs:
        fail(errs)
    print(f"{len(fams)} families, {nhist} histogram series")


TYPES = {
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "null": lambda v: v is None,
}


def readme_fields(readme):
    """path -> (types, optional) from the block between the markers."""
    block = readme.split("<!-- stats.json fields -->", 1)[1].split(
        "<!-- end of stats.json fields -->", 1)[0]
    fields = {}
    for line in block.splitlines():
        m = re.match(r"^([a-z0-9_.\[\]]+)(\?)?\s+([a-z|]+)", line)
        if m:
            fields[m.group(1)] = (m.group(3).split("|"), bool(m.group(2)))
    return fields


def walk(v, path, out):
    """Every (path, value) of v; array elements share the path "x[]"."""
    out.append((path, v))
    if isinstance(v, dict):
        for k, x in v.items():
            walk(x, f"{path}.{k}" if path else k, out)
    elif isinstance(v, list):
        for x in v:
            walk(x, path + "[]", out)


def stats_json(path, readme_path):
    doc = json.load(open(path))
    fields = readme_fields(open(readme_path).read())
    errs = []
    if len(fields) < 20:
        fail([f"README documents only {len(fields)} stats.json fields"])
    seen = set()
    items = []
    walk(doc, "", items)
    for p, v in items:
        if not p:
            continue
        if p not in fields:
            errs.append(f"{p}: in /stats.json but not documented in README")
            continue
        types, _ = fields[p]
        if not any(TYPES[t](v) for t in types):
            errs.append(f"{p}: {json.dumps(v)[:60]} is not {'|'.join(types)}")
        seen.add(p)
    # every object must carry each required field documented under its path
    for q, v in items:
        if not isinstance(v, dict):
            continue
        for p, (_, optional) in fields.items():
            if p.endswith("[]"):
                continue  # array elements: typed when present, never required
            parent, _, key = p.rpartition(".")
            if parent == q and not optional and key not in v:
                errs.append(f"{p}: documented in README but missing from an object at {q or 'the top'}")
    if errs:
        fail(errs)
    print(f"{len(seen)} documented fields present")


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("metrics", "json"):
        print(__doc__)
        sys.exit(2)
    (metrics if sys.argv[1] == "metrics" else stats_json)(sys.argv[2], sys.argv[3])
