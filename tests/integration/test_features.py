"""Feature parity: stored at ingest = recomputed by backfill = the Python reference.

Random data with same-timestamp ties, several rows of a card in one insert, rows arriving
out of event-time order, and labels (with relabels) arriving between batches.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from psycopg.rows import dict_row

from producer import features as feature_store
from tests.reference_features import LabelEvent, Row, features_for

BASE = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
OFFSETS = [dt.timedelta(minutes=m) for m in (0, 0, 1, 30, 59, 60, 61, 600, 1439, 1440, 1441,
                                             5000, 10079, 10080, 10081, 43199, 43200, 43201,
                                             50000)]
EXACT = {"card_amount_sum_1h", "card_amount_sum_24h", "card_amount_sum_7d",
         "card_amount_sum_30d", "amount_mean_30d", "amount_std_30d"}

row_strategy = st.fixed_dictionaries({
    "card": st.sampled_from(["a", "b", "c"]),
    "merchant": st.sampled_from(["m1", "m2", "m3"]),
    "category": st.sampled_from(["grocery_pos", "misc_net", "travel"]),
    "offset": st.sampled_from(OFFSETS),
    "cents": st.integers(0, 50_000),
    "lat": st.floats(-60, 60), "long": st.floats(-170, 170),
    "has_home": st.booleans(),
})
label_strategy = st.tuples(st.integers(0, 10_000), st.sampled_from([True, False, None]),
                           st.one_of(st.none(), st.sampled_from(OFFSETS)))
plan_strategy = st.lists(
    st.tuples(st.lists(row_strategy, min_size=1, max_size=8),
              st.lists(label_strategy, max_size=3)),
    min_size=1, max_size=6,
)


def reset(conn: psycopg.Connection[Any]) -> int:
    conn.execute("truncate ingest.transactions, features.transaction_features, "
                 "scoring.label_events, scoring.labels, scoring.scores, ml.models cascade")
    conn.execute("update ingest.event_clock set max_transacted_at = '-infinity'")
    model = conn.execute(
        "insert into ml.models (onnx_model, onnx_sha256, feature_names, feature_set_version,"
        " threshold) values ('\\x00', repeat('d', 64), array['x'], 1, 0.5)"
        " returning model_version").fetchone()
    conn.commit()
    assert model is not None
    return int(model[0])


def insert_batch(conn: psycopg.Connection[Any], rows: list[dict[str, Any]], serial: int) -> None:
    values = []
    for n, r in enumerate(rows):
        token = hashlib.sha256(r["card"].encode()).hexdigest()
        values.append((
            f"tx-{serial}-{n}", BASE + r["offset"], token, "0000",
            Decimal(r["cents"]) / 100, r["merchant"], r["category"], r["lat"], r["long"],
            10.0 if r["has_home"] else None, 20.0 if r["has_home"] else None,
            dt.date(1980, 2, 29) if r["has_home"] else None, "f" * 64,
        ))
    with conn.cursor() as cur:  # one statement: one trigger firing for the whole batch
        placeholders = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'csv')"]
                                 * len(values))
        cur.execute(
            "insert into ingest.transactions (trans_num, transacted_at, card_token, card_last4,"
            " amount, merchant, category, merchant_lat, merchant_long, home_lat, home_long,"
            f" cardholder_birth_date, payload_sha256, source) values {placeholders}",
            [v for row in values for v in row],
        )
    conn.commit()


def label(conn: psycopg.Connection[Any], model: int, pick: int, value: bool | None,
          at: dt.timedelta | None) -> None:
    ids = [r[0] for r in conn.execute(
        "select transaction_id from ingest.transactions order by 1")]
    tx = ids[pick % len(ids)]
    conn.execute("insert into scoring.scores (transaction_id, model_version,"
                 " feature_set_version, score, threshold, is_alert) values (%s, %s, 1, 0.5,"
                 " 0.5, true) on conflict do nothing", (tx, model))
    if at is None:  # an analyst: stamped now(), then clamped to the event clock
        conn.execute("update scoring.predictions set true_value = %s where transaction_id = %s",
                     (value, tx))
    else:  # a backtest writing event-time arrival (clamped too)
        conn.execute("update scoring.predictions set true_value = %s, labeled_at = %s"
                     " where transaction_id = %s", (value, BASE + at, tx))
    conn.commit()


def stored_features(conn: psycopg.Connection[Any]) -> dict[int, dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute("select * from features.transaction_features").fetchall()
    conn.commit()
    return {r["transaction_id"]: {k: v for k, v in r.items() if k != "computed_at"}
            for r in rows}


def reference(conn: psycopg.Connection[Any]) -> dict[int, dict[str, Any]]:
    rows = [Row(*r) for r in conn.execute(
        "select transaction_id, card_token, transacted_at, amount, merchant, category,"
        " merchant_lat, merchant_long, home_lat, home_long, cardholder_birth_date"
        " from ingest.transactions order by transaction_id")]
    events = [LabelEvent(*e) for e in conn.execute(
        "select label_event_id, transaction_id, merchant, transacted_at, new_value, labeled_at"
        " from scoring.label_events")]
    conn.commit()
    return {r.transaction_id: features_for(r, rows, events) for r in rows}


def assert_same(stored: dict[str, Any], expected: dict[str, Any]) -> None:
    assert stored.keys() == expected.keys()
    for key, want in expected.items():
        got = stored[key]
        if isinstance(want, float) and got is not None and key not in EXACT:
            assert math.isclose(got, want, rel_tol=1e-9, abs_tol=2e-6), (key, got, want)
        else:
            assert got == want, (key, got, want)


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(plan=plan_strategy)
def test_incremental_equals_backfill_equals_reference(db_url: str, plan) -> None:
    with psycopg.connect(db_url) as conn:
        model = reset(conn)
        for serial, (batch, labels) in enumerate(plan):
            insert_batch(conn, batch, serial)
            for pick, value, at in labels:
                label(conn, model, pick, value, at)
        incremental = stored_features(conn)
        result = feature_store.backfill(conn, chunk=7)
        assert result.different_ids == [] and result.inserted == 0
        conn.execute("truncate features.transaction_features")
        conn.commit()
        feature_store.backfill(conn, chunk=5)
        assert stored_features(conn) == incremental
        expected = reference(conn)
    assert incremental.keys() == expected.keys()
    for transaction_id, values in expected.items():
        assert_same(incremental[transaction_id], values)


def test_labels_never_arrive_before_ingested_event_time(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        model = reset(conn)
        insert_batch(conn, [{"card": "a", "merchant": "m1", "category": "travel",
                             "offset": dt.timedelta(days=3), "cents": 100, "lat": 1.0,
                             "long": 1.0, "has_home": True}], 0)
        label(conn, model, 0, True, dt.timedelta(days=1))  # backdated: clamped
        labeled_at = conn.execute("select labeled_at from scoring.label_events").fetchone()
    assert labeled_at == (BASE + dt.timedelta(days=3),)


def test_concurrent_inserts_commit_in_id_order_so_backfill_matches(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        reset(conn)
    holder = psycopg.connect(db_url)
    insert = ("insert into ingest.transactions (trans_num, transacted_at, card_token,"
              " card_last4, amount, merchant, category, merchant_lat, merchant_long,"
              " payload_sha256, source) values (%s, %s, repeat('a', 64), '0000', 1, 'm', 'c',"
              " 0, 0, repeat('f', 64), 'csv')")
    holder.execute(insert, ("held", BASE))  # transaction left open: holds the ingest lock
    done = threading.Event()

    def later() -> None:
        with psycopg.connect(db_url) as conn:
            conn.execute(insert, ("later", BASE + dt.timedelta(minutes=1)))
        done.set()

    thread = threading.Thread(target=later)
    thread.start()
    assert not done.wait(1.0), "a second insert must wait for the open one"
    holder.commit()
    thread.join(10)
    holder.close()
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "select t.trans_num, f.card_tx_count_1h from ingest.transactions t"
            " join features.transaction_features f using (transaction_id) order by 1").fetchall()
        assert feature_store.backfill(conn).different_ids == []
    assert rows == [("held", 0), ("later", 1)]


def test_produce_then_features_hold_real_values(db_url: str, tmp_path: Path) -> None:
    env = {"DATABASE_URL": db_url, "PGFRAUD_TOKEN_KEY": "k" * 32, "PATH": "/usr/bin:/bin"}
    subprocess.run([str(Path(sys.executable).with_name("pgfraud")), "produce", "--start",
                    "2026-01-01", "--span", "3d", "--cards", "100", "--merchants", "40"],
                   env=env, check=True, capture_output=True, timeout=300)
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        counts = conn.execute(
            "select (select count(*) from ingest.transactions) as transactions,"
            " (select count(*) from features.transaction_features) as features,"
            " (select count(*) from features.transaction_features"
            "   where card_tx_count_24h > 0 and km_from_home is not null) as with_history"
        ).fetchone()
    assert counts is not None and counts["transactions"] > 500
    assert counts["features"] == counts["transactions"]
    assert counts["with_history"] > counts["transactions"] // 2


@pytest.mark.parametrize("isolation", ["repeatable read", "serializable"])
def test_ingest_refuses_snapshot_isolation(db_url: str, isolation: str) -> None:
    with psycopg.connect(db_url) as conn:
        conn.execute(f"set transaction isolation level {isolation}")
        with pytest.raises(psycopg.errors.RaiseException, match="READ COMMITTED"):
            conn.execute("insert into ingest.transactions (trans_num, transacted_at,"
                         " card_token, card_last4, amount, merchant, category, merchant_lat,"
                         " merchant_long, payload_sha256, source) values ('x', now(),"
                         " repeat('a', 64), '0000', 1, 'm', 'c', 0, 0, repeat('f', 64), 'csv')")


amounts_strategy = st.lists(st.integers(0, 10**12 - 1), min_size=1, max_size=12)


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cents=amounts_strategy, split=st.integers(0, 12))
# sqrt() rounds this root up at the last digit stddev_samp keeps: the exact check steps it
# down (found by this test).
@example(cents=[0, 0, 0, 1776, 1776, 2165, 835797], split=0)
def test_card_window_moments_match_stddev_samp_to_the_digit(db_url: str, cents: list[int],
                                                             split: int) -> None:
    """Sums, mean, standard deviation and z-score from the card windows' running sums are
    compute_range's (numeric stddev_samp), to the digit, for any amounts numeric(12, 2)
    holds; the windows carried over from an earlier batch or built in this one."""
    rows = [{"card": "a", "merchant": "m1", "category": "travel",
             "offset": dt.timedelta(minutes=n), "cents": c, "lat": 1.0, "long": 2.0,
             "has_home": True} for n, c in enumerate(cents)]
    with psycopg.connect(db_url) as conn:
        reset(conn)
        for serial, part in enumerate((rows[:split], rows[split:])):
            if part:
                insert_batch(conn, part, serial)
        result = feature_store.backfill(conn)
    assert result.different_ids == [] and result.identical == len(cents)


def test_card_windows_are_rebuilt_after_rows_stored_without_the_trigger(db_url: str) -> None:
    """A bulk load with the feature trigger disabled leaves the card windows behind the
    table; the next batch rebuilds them instead of reading them stale."""
    rows = [{"card": "abc"[n % 3], "merchant": f"m{n % 2}", "category": "travel",
             "offset": dt.timedelta(minutes=37 * n), "cents": 1000 + 7 * n, "lat": 1.0,
             "long": 2.0, "has_home": True} for n in range(30)]
    with psycopg.connect(db_url) as conn:
        reset(conn)
        insert_batch(conn, rows[:10], 0)
        conn.execute("alter table ingest.transactions"
                     " disable trigger transactions_compute_features")
        insert_batch(conn, rows[10:20], 1)
        conn.execute("alter table ingest.transactions"
                     " enable trigger transactions_compute_features")
        conn.commit()
        insert_batch(conn, rows[20:], 2)
        through = conn.execute(
            "select through_id = (select max(transaction_id) from ingest.transactions)"
            " from features.card_windows_through").fetchone()
        assert through == (True,)
        result = feature_store.backfill(conn)
    assert result.inserted == 10 and result.different_ids == []
    assert result.identical == 20


# Days apart, so labels stamped at the event clock after one batch arrived before the next
# batch's rows (the merchant is settled: counts by binary search), unless a label is
# stamped later (unsettled: read row by row); together the batches span more than the
# 30-day window, with rows on its edges.
merchant_plan = st.lists(
    st.tuples(
        st.lists(st.fixed_dictionaries({
            "merchant": st.sampled_from(["m1", "m2"]),
            "minutes": st.sampled_from([0, 0, 1, 59, 60, 61, 1440, 2880, 4320]),
            "card": st.sampled_from(["a", "b"]),
        }), min_size=1, max_size=6),
        st.lists(st.tuples(st.integers(0, 1_000), st.sampled_from([True, False, None]),
                           st.sampled_from([None, None, None, 3, 7, 45])),
                 max_size=4),
    ),
    min_size=2, max_size=9,
)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(plan=merchant_plan)
@example(plan=[  # relabels of a settled merchant, a row 30 days and 7 days later
    ([{"merchant": "m1", "minutes": 0, "card": "a"}, {"merchant": "m1", "minutes": 1, "card": "b"}],
     [(0, True, None), (1, False, None), (0, False, None), (0, True, None)]),
    ([{"merchant": "m1", "minutes": 0, "card": "a"}], [(1, None, None)]),
    ([{"merchant": "m1", "minutes": 0, "card": "a"}], []),
    ([{"merchant": "m1", "minutes": 1, "card": "b"}], [(2, True, 45)]),
    ([{"merchant": "m1", "minutes": 0, "card": "b"}], []),
    ([{"merchant": "m1", "minutes": 0, "card": "b"}], []),
    ([{"merchant": "m1", "minutes": 1, "card": "a"}], []),
])
def test_merchant_label_counts_settled_or_not_equal_the_reference(db_url: str, plan) -> None:
    """compute_batch counts a merchant's labels by binary search when every label its
    batch rows could see arrived before them, and row by row otherwise: both equal
    compute_range and the Python reference, relabels and removed labels included."""
    with psycopg.connect(db_url) as conn:
        model = reset(conn)
        for serial, (rows, labels) in enumerate(plan):
            batch = [{"card": r["card"], "merchant": r["merchant"], "category": "travel",
                      "offset": dt.timedelta(days=5 * serial, minutes=r["minutes"]),
                      "cents": 100 + n, "lat": 1.0, "long": 2.0, "has_home": True}
                     for n, r in enumerate(rows)]
            insert_batch(conn, batch, serial)
            for pick, value, days_later in labels:
                # None: stamped now(), clamped to the event clock (settled for the next
                # batch); a number: a backtest's arrival that many days past the batch.
                at = (None if days_later is None
                      else dt.timedelta(days=5 * serial + days_later))
                label(conn, model, pick, value, at)
        incremental = stored_features(conn)
        result = feature_store.backfill(conn, chunk=3)
        assert result.different_ids == [] and result.inserted == 0
        expected = reference(conn)
    for transaction_id, values in expected.items():
        assert_same(incremental[transaction_id], values)


# Merchant label tiles (features.merchant_label_days): batches on a few days (several on
# one day, and batches across midnight, too), rows at times of day on either side of
# midnight and of noon, so that the 7- and 30-day windows of later rows start exactly on,
# just before and just after earlier rows, and a window's first and last days are partial
# days read from the label history while the days between come from the tiles. Labels
# arrive between batches, stamped at the event clock (the merchant is tiled for a later
# batch) or later (not tiled until then); a label stamped at the clock after a
# later-stamped one is the older of the two: the tiles follow labeled_at, not the order
# events were written.
MICROSECOND = dt.timedelta(microseconds=1)
TILE_DAYS = [0, 1, 6, 7, 8, 22, 23, 29, 30, 31, 37, 38, 45, 52, 53, 60, 61]
TIMES_OF_DAY = [dt.timedelta(0), MICROSECOND, dt.timedelta(days=1) - MICROSECOND,
                dt.timedelta(hours=12), dt.timedelta(hours=12) + MICROSECOND,
                dt.timedelta(hours=12) - MICROSECOND]
tile_plan = st.lists(
    st.tuples(
        st.sampled_from(TILE_DAYS),
        st.lists(st.fixed_dictionaries({
            "merchant": st.sampled_from(["m1", "m2"]),
            "time": st.sampled_from(TIMES_OF_DAY + [d + dt.timedelta(days=1)
                                                    for d in TIMES_OF_DAY]),
            "card": st.sampled_from(["a", "b"]),
        }), min_size=1, max_size=5),
        st.lists(st.tuples(st.integers(0, 1_000), st.sampled_from([True, False, None]),
                           st.sampled_from([None, None, None, 1, 40])),
                 max_size=5),
    ),
    min_size=2, max_size=12,
)
MIDNIGHT, NOON, LAST = dt.timedelta(0), dt.timedelta(hours=12), dt.timedelta(days=1) - MICROSECOND


def _m1(*times: dt.timedelta) -> list[dict[str, Any]]:
    return [{"merchant": "m1", "time": t, "card": "ab"[n % 2]} for n, t in enumerate(times)]


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(plan=tile_plan)
@example(plan=[  # labelled rows at and around midnight 7 and 30 days before later rows
    (0, _m1(LAST), [(0, True, None)]),
    (1, _m1(MIDNIGHT, MICROSECOND), [(1, True, None), (2, False, None)]),
    (7, _m1(LAST - MICROSECOND), []),
    (7, _m1(LAST), []),
    (8, _m1(MIDNIGHT, MICROSECOND), []),
    (30, _m1(LAST - MICROSECOND, LAST, LAST + MICROSECOND), []),
    (31, _m1(MIDNIGHT, MICROSECOND, NOON), []),
])
@example(plan=[  # labels of the same day's earlier rows, seen by its later batches
    (22, _m1(MIDNIGHT, MICROSECOND), [(0, True, None), (1, False, None)]),
    (22, _m1(NOON), [(2, True, None)]),
    (22, _m1(LAST), []),
    (29, _m1(MIDNIGHT, NOON, LAST), []),
])
@example(plan=[  # one batch across midnight: its edge days hold a tile's first row
    (0, _m1(LAST), [(0, True, None)]),
    (1, _m1(MIDNIGHT), [(1, True, None)]),
    (7, _m1(NOON, LAST + MICROSECOND), []),
    (30, _m1(NOON), [(2, False, None), (3, True, None)]),
    (31, _m1(NOON), []),
    (37, _m1(LAST, LAST + MICROSECOND), []),
])
@example(plan=[  # a batch across midnight after labels of its first day's earlier rows:
    (22, _m1(MIDNIGHT, NOON), [(0, True, None), (1, False, None)]),  # that day has a tile
    (22, _m1(LAST, LAST + MICROSECOND), []),
])
def test_merchant_label_tiles_equal_the_reference(db_url: str, plan) -> None:
    """compute_batch counting tiled merchants (whole days from features.merchant_label_days,
    partial days at the window's ends from the label history) equals compute_range and the
    Python reference to the microsecond edges of both windows, and the tiles kept as events
    arrive equal the tiles of the whole history."""
    with psycopg.connect(db_url) as conn:
        model = reset(conn)
        for serial, (day, rows, labels) in enumerate(sorted(plan, key=lambda b: b[0])):
            start = dt.timedelta(days=day)
            batch = [{"card": r["card"], "merchant": r["merchant"], "category": "travel",
                      "offset": start + r["time"], "cents": 100 + n, "lat": 1.0,
                      "long": 2.0, "has_home": True}
                     for n, r in enumerate(sorted(rows, key=lambda r: r["time"]))]
            insert_batch(conn, batch, serial)
            for pick, value, days_later in labels:
                at = None if days_later is None else start + dt.timedelta(days=days_later)
                label(conn, model, pick, value, at)
        tiles = conn.execute(
            "select (select coalesce(array_agg((merchant, day, frauds, labelled)::text"
            "                                  order by merchant, day), '{}')"
            "        from features.merchant_label_days where frauds <> 0 or labelled <> 0),"
            "       (select coalesce(array_agg((merchant, day, frauds, labelled)::text"
            "                                  order by merchant, day), '{}')"
            "        from (select merchant, (transacted_at at time zone 'UTC')::date as day,"
            "                     count(*) filter (where new_value) as frauds,"
            "                     count(*) filter (where new_value is not null) as labelled"
            "              from (select distinct on (transaction_id) merchant, transacted_at,"
            "                           new_value"
            "                    from scoring.label_events"
            "                    order by transaction_id, labeled_at desc, label_event_id desc)"
            "                   as latest"
            "              group by 1, 2) as t"
            "        where frauds <> 0 or labelled <> 0)").fetchone()
        assert tiles is not None
        kept, built = tiles
        conn.commit()
        incremental = stored_features(conn)
        result = feature_store.backfill(conn, chunk=3)
        assert result.different_ids == [] and result.inserted == 0
        expected = reference(conn)
    assert kept == built
    for transaction_id, values in expected.items():
        assert_same(incremental[transaction_id], values)
