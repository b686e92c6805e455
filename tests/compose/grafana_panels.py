"""Every dashboard panel's and annotation's SQL, run as Grafana's data source would run
it: piped into ``docker compose run grafana-login python -`` by test_stack.py, so it runs
inside the compose network, in the pgfraud image, with the variables the ``grafana``
service gets and the password from the same secret file (trimmed, as Grafana's
``$__file{}`` trims it). Prints JSON: rows and columns per panel, and what a query outside
the marts got."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import psycopg

from pgfraud.monitoring.panels import BOARDS, expand

PASSWORD_FILE = Path("/run/secrets/grafana_db_password")


def main() -> None:
    host, port = os.environ["PGFRAUD_GRAFANA_DB_HOST"].rsplit(":", 1)
    # Event time runs ahead of the wall clock in the stack: a range wide enough for all.
    start = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    end = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
    rows: dict[str, int] = {}
    columns: dict[str, list[str]] = {}
    with psycopg.connect(host=host, port=int(port), dbname=os.environ["PGFRAUD_GRAFANA_DB_NAME"],
                         user=os.environ["PGFRAUD_GRAFANA_DB_USER"],
                         password=PASSWORD_FILE.read_text().strip(),
                         autocommit=True) as conn:
        user = conn.execute("select current_user").fetchone()
        for board in BOARDS:
            for panel in board.panels:
                cursor = conn.execute(*expand(panel.sql, start, end))
                rows[panel.key] = len(cursor.fetchall())
                columns[panel.key] = [column.name for column in cursor.description or ()]
            for annotation in board.annotations:
                query = expand(annotation.sql, start, end)
                rows[f"annotation:{annotation.name}"] = len(conn.execute(*query).fetchall())
        try:
            conn.execute("select count(*) from ingest.transactions")
            outside = "allowed"
        except psycopg.errors.InsufficientPrivilege:
            outside = "permission denied"
    print(json.dumps({"user": user[0] if user else None, "rows": rows, "columns": columns,
                      "outside": outside}))


if __name__ == "__main__":
    main()
