"""``gt serve``: a read-only web page of the town, live, and its Prometheus ``/metrics``.

Inside, imports flow one way (checked by import-linter)::

    server      binds the socket, runs uvicorn (the only module that knows it)
    app         Starlette routes, Jinja2 pages, the token guard, the event stream
    exposition  /metrics through prometheus_client     live  the tip watch (wakeup)
    reading     the town as the pages read it: one lock, answers cached per tip
    graph       a convoy's DAG as inline SVG (pure)
"""
