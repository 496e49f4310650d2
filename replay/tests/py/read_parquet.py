"""Reads rolebook's Parquet exports with pyarrow, an independent reader.

  read_parquet.py FILE      -> {"schema", "num_rows", "row_groups",
                                "compression", "created_by", "rows"}
  read_parquet.py --dataset DIR
                            -> {"rows": n, "partitions": [[org, date], ...]}
                               (the directory read as a hive-partitioned
                               dataset; the digests beside the objects
                               are skipped as not Parquet)

Timestamps are printed as microseconds since the epoch (and their type in
the schema), metadata parsed as JSON.
"""
import json
import sys

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq


def read_file(path):
    f = pq.ParquetFile(path)
    table = f.read()
    meta = f.metadata
    schema = [
        {"name": field.name, "type": str(field.type), "nullable": field.nullable}
        for field in table.schema
    ]
    codecs = sorted(
        {
            meta.row_group(g).column(c).compression
            for g in range(meta.num_row_groups)
            for c in range(meta.num_columns)
        }
    )
    cols = table.to_pydict()
    micros = table.column("occurred_at").cast(pa.int64()).to_pylist()
    rows = []
    for i in range(table.num_rows):
        row = {name: cols[name][i] for name in table.column_names}
        row["occurred_at"] = micros[i]
        row["metadata"] = json.loads(row["metadata"])
        rows.append(row)
    return {
        "schema": schema,
        "num_rows": meta.num_rows,
        "row_groups": meta.num_row_groups,
        "compression": codecs,
        "created_by": meta.created_by,
        "rows": rows,
    }


def read_dataset(path):
    dataset = ds.dataset(path, format="parquet", partitioning="hive",
                         exclude_invalid_files=True)
    table = dataset.to_table(columns=["position", "org", "date"])
    parts = sorted({(str(o), str(d)) for o, d in
                    zip(table.column("org").to_pylist(), table.column("date").to_pylist())})
    return {"rows": table.num_rows, "partitions": [list(p) for p in parts]}


if __name__ == "__main__":
    if sys.argv[1] == "--dataset":
        out = read_dataset(sys.argv[2])
    else:
        out = read_file(sys.argv[1])
    json.dump(out, sys.stdout, default=str)
