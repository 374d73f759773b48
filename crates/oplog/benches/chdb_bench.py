# ClickHouse (chdb, embedded) on the same events: MergeTree ordered by (pc, time),
# LowCardinality strings. Called by benches/oplog.rs with: TSV_PATH DB_DIR QUERIES_JSON
import json, os, resource, subprocess, sys, time
from chdb import session

tsv, db, qfile = sys.argv[1], sys.argv[2], sys.argv[3]
qs = json.load(open(qfile))
s = session.Session(db)
S = "LowCardinality(String)"
cols = [("t", "DateTime64(3, 'UTC')"), ("pc", S), ("user", S), ("kind", S), ("title", "String"), ("process", S), ("sha256", S),
        ("command_line", "String"), ("pid", "UInt32"), ("parent", S), ("dwell_ms", "UInt64"), ("started_at_ms", "Int64"),
        ("path", "String"), ("target_path", "String"), ("size_bytes", "UInt64"), ("device_class", S), ("vendor", S),
        ("product", S), ("serial", S), ("printer", S), ("document", S), ("pages", "UInt32"), ("via", S), ("reason", S)]
s.query("CREATE DATABASE IF NOT EXISTS b")
s.query("DROP TABLE IF EXISTS b.ev")
s.query("CREATE TABLE b.ev (" + ", ".join(f"{n} {t}" for n, t in cols) + ") ENGINE = MergeTree ORDER BY (pc, t)")
structure = ", ".join(f"{n} {t.replace('LowCardinality(String)', 'String').replace(', ' + chr(39) + 'UTC' + chr(39), '')}" for n, t in cols)
t0 = time.time()
s.query(f"INSERT INTO b.ev SELECT * FROM file('{tsv}', 'TSV', '{structure}')")
s.query("OPTIMIZE TABLE b.ev FINAL")
ingest_s = time.time() - t0
rows = int(s.query("SELECT count() FROM b.ev", "CSV").bytes().decode().strip())
disk = int(s.query("SELECT sum(bytes_on_disk) FROM system.parts WHERE database='b' AND table='ev' AND active", "CSV").bytes().decode().strip())

def timed(sql, runs):
    ts = []
    for _ in range(runs):
        a = time.time()
        s.query(sql, "CSV")
        ts.append((time.time() - a) * 1000)
    ts.sort()
    return ts

texts = "concat(title,'|',process,'|',command_line,'|',parent,'|',path,'|',target_path,'|',vendor,'|',product,'|',serial,'|',printer,'|',document,'|',reason)"
out = {"ingest_s": ingest_s, "rows": rows, "disk": disk, "a": [], "b": {}, "c": []}
for pc, f, t in qs["timeline"]:
    out["a"] += timed(f"SELECT * FROM b.ev WHERE pc='{pc}' AND t >= fromUnixTimestamp64Milli({f}) AND t < fromUnixTimestamp64Milli({t}) ORDER BY t", 1)
for w in qs["words"]:
    out["b"][w] = timed(f"SELECT * FROM b.ev WHERE positionCaseInsensitiveUTF8({texts}, '{w}') > 0 ORDER BY t DESC LIMIT 100", 3)
f, t = qs["month"]
out["c"] = timed(f"SELECT toYYYYMMDD(t), kind, count() FROM b.ev WHERE t >= fromUnixTimestamp64Milli({f}) AND t < fromUnixTimestamp64Milli({t}) GROUP BY 1, 2", 5)
out["rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps(out))
