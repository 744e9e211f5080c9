"""The agents: a watcher claiming beads, the loop that works one with a model, its tools, and
what the model is shown.

``agent``       working one bead: the first prompt, the tool loop, the commit and the result
``askcrew``     ``ask_crew``: a bead's question put to the Crew, with the crew model when there is one
``briefing``    a bead's first prompt: what a small model needs at turn one
``callargs``    a tool call's arguments: decoded, coerced to the tool's schema, checked
``calls``       one reply's tool calls, run and answered
``cgroups``     a control group per command: its processes and memory capped, all of it ended
``checks``      a bead's tests: its acceptance tests, and no regressions
``changes``     what an answer changed of a module, as code (a near miss shown to a fresh try)
``commands``    commands a bead runs, jailed, timed and cut at their output limit
``copies``      a reply's lines that copy what the prompt listed of a module, left out
``crew``        the Crew: answers about a rig from its own files
``docstrings``  a function sent back without its docstring keeps its old one
``donecheck``   a bead's definition of done, checked after every change and at the end
``edits``       exact search/replace edits
``excerpt``     a long module shown as the functions a bead is about; docstrings lifted out of code
``fileblocks``  files written as a path and a fenced code block
``focus``       what a model is shown of a long Python file: the parts it is about, and an outline
``imports``     imports a model forgot or misplaced, put right
``jail``        the OS sandbox (bubblewrap) for every command that runs a model's code
``jsonfix``     JSON as small models write it, repaired
``liveness``    a watcher's heartbeat and `gt watch --check`
``merge``       a fragment of a Python module laid over the module
``opening``     the start of a reply that adds one function, shown last in the first prompt
``pace``        how long the next model call will take, and a bead's budget
``pairs``       files that two tries got right, put together before a fresh try
``paths``       where a model-written path lands: inside the bead's worktree, or refused
``prompts``     the conversation: a stable head, a tail that only grows
``refinery``    the Refinery's merge queue and review
``repeats``     a model doing the same thing again: told, then stuck
``reports``     what a bug report and a test's failure say about where a fault is
``rig``         rigs: the projects agents work in, and how
``stubs``       placeholder functions (``pass``, ``...``, ``raise NotImplementedError``) found
``suspects``    the lines a bead's failing tests ran, ranked, each asked about alone
``sweep``       a bug fix's suspect lines before its first answer, and a near miss's
``tally``       what one bead's loop used, and its trace
``testoutput``  what a model is shown of a test run
``textcalls``   tool calls a model wrote as text: JSON and XML
``toolcalls``   tool calls parsed strictly, then leniently, never silently dropped
``tools``       the tools, each confined to the bead's worktree
``toolspecs``   the tools as the model is told of them
``tries``       when a failing try starts over, and which files stay at the end
``trynotes``    what a fresh try is told of the tries before it
``wakeup``      a watchdog wake-up when a commit on tasks may have landed
``watcher``     one long-running process per role that claims and works beads: the loop
``worktree``    a bead's private checkout of its rig
``writes``      what a model's write must pass before it lands, and what it is cleaned of
"""
