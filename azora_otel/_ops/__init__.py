"""The ops tools behind the ``azora-otel`` command, apart from the runtime.

``check-config`` validates an environment, ``render`` writes the alert rules and
the Grafana dashboard from the targets table, ``budget`` checks the table against
live data. They import the runtime (its settings, metric names, quantile
estimator); the runtime never imports them, so a service under the distro loads
none of this (``tests/test_architecture.py``).
"""
