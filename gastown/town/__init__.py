"""The town: beads as files on the tasks branch, their git history, the protocol that guards
them, the queue, the hooks and the town's configuration."""
