"""The kernel every stage stands on: settings, connections and scratch databases, the
embedded PostgreSQL and its binaries, migrations, named queries, errors, role and
channel names, signal handling, durations. It imports no stage."""
