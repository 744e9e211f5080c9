"""The machine: the models and the servers that run them, what fits in VRAM and RAM now, and
what the work costs.

``changes``    an event when the budget may have changed (a waiting bead sleeps on it)
``cost``       cloud dollars, local energy, and the same work priced as pure cloud
``governor``   what may run on this machine now (VRAM, RAM, cores)
``hardware``   the one door to the hardware: NVML and psutil
``loops``      a reply that repeats itself, cut off as it streams
``machine``    the machine's one owner in a process: models for beads, admitted by the governor
``providers``  the one door to the models (the openai client)
``pull``       `gt models pull`: fetch, verify and assemble a known model
``runner``     local model servers: start, check, restart, stop
``switcher``   which model works a bead, and how many of a size at once
"""
