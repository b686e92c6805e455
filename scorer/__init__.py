"""pgfraud: real-time card-fraud scoring where PostgreSQL is the system.

The ``scorer`` package is the Python runtime: settings, connections, the embedded
PostgreSQL launcher, migrations and the ``pgfraud`` command line. Traffic generation
lives in the sibling ``producer`` package.
"""

from __future__ import annotations

__version__ = "0.1.0"
