"""The agents: a watcher claiming beads, the loop that works one with a model, its tools
and what the model is shown."""
