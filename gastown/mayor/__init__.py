"""The Mayor: plans that become convoys, decisions on failed beads, and the ledger of what
happened."""
