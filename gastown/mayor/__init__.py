"""The Mayor: plans that become convoys, decisions on stuck and failed beads, the ledger of
what happened, and the seed's metrics.

``decisions``  stuck work decided on: retry, split, needs-human
``metrics``    what the seed's dashboards show, from the history alone
``planner``    a feature becomes a plan document and a convoy of beads
``reconcile``  the ledger: the history read incrementally into each bead's timeline
``splitter``   a bead too large for the small models, split
"""
