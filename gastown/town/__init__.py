"""The town: beads as files on the tasks branch, their git history, the protocol that guards
them, the queue, the hooks, the town's configuration, and the door to the rigs' git.

``admission``  what may land on the tasks branch: the protocol's rules, shared by every door
``bead``       the bead: a frozen task value with an explicit JSON codec
``beadtext``   a bead's fields as a person types them (`field=value`, `gt-x:type`)
``cache``      the town's one cache (SQLite): the index and the ledger, rebuilt when lost
``catalog``    the known local models and where their GGUFs come from
``claims``     claims through a remote: a proposal per bead, folded into tasks
``config``     town.toml as one frozen dataclass tree
``convoy``     convoys: the beads that ship one feature together
``dag``        dependencies between beads: readiness and cycles
``events``     commit messages on the tasks branch: the event log and its trailers
``founding``   `gt init`: make or adopt a repository, give it a tasks branch
``git``        the one door to the town's git
``history``    the tasks branch's history as events: one reader, one record type
``hooks``      the git hooks: what they check, and how they are installed
``ids``        bead ids, and where a bead's file lives
``index``      the derived index of the beads, cached for the next process
``queue``      the queue's operations: add, ready, claim, renew, release, complete, fail
``quickcheck`` the hook's quick path: pushes that only rewrite existing beads, plain git
``refs``       the names of the refs a town uses (imports nothing: the hook reads them)
``resources``  where the files shipped beside the package live
``riggit``     the door to a rig's git: worktrees, CAS advances, pushes read back
``roster``     the town's models and which role gets which, their keys held to town.schema.json
``schema``     the one door to JSON Schema
``secrets``    secrets known by value: what is redacted, what children never get
``store``      the bead store: the tasks branch read through the index, written by CAS or push
``times``      timestamps as beads writes them
``tokens``     one rough count of tokens for text no server has counted
``town``       a town: the repository whose tasks branch holds the beads
``townfile``   town.toml's text, and the [limits] a push is held to (what the hook reads)
"""
