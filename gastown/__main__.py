"""``python -m gastown`` is ``gt``.

``python -m gastown hook NAME`` (what the installed git hooks run on every push) goes
straight to the hook code without loading the CLI framework: hooks must be quick.
"""

import sys

if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "hook":
        from gastown.town.hooks import main as hook_main

        sys.exit(hook_main(sys.argv[2:]))
    from gastown.cli import run

    run()
