"""``python -m gastown`` is ``gt``.

``python -m gastown hook NAME`` (what the installed git hooks run on every push) goes
straight to the hook code without loading the CLI framework: hooks must be quick.
"""

import sys

if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "hook":
        import gc
        import os

        gc.disable()  # a hook lives for one push: collecting cycles costs it more than it frees
        from gastown.town.hooks import main as hook_main

        code = hook_main(sys.argv[2:])
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)  # the interpreter's teardown is ~7 ms of a hook's ~50, and frees nothing git needs
    from gastown.cli import run

    run()
