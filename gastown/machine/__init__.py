"""The machine: models and the servers that run them, what fits in VRAM and RAM, and what
the work costs."""
