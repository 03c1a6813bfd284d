"""``python -m dynconv`` is the ``dynconv`` command."""
import sys


def _forget_interrupt() -> None:
    # CPython (3.11, 3.12) remembers a KeyboardInterrupt that escaped any exec() of a string
    # (SciPy's imports run one), and `python -m` then kills itself with SIGINT at exit even
    # though the interrupt was handled; running a string through exec() resets that flag.
    exec("pass", {})


if __name__ == "__main__":
    try:  # Ctrl-C while the command line module is imported: still exit 130, no traceback
        from dynconv.cli import main
    except KeyboardInterrupt:
        sys.stderr.write("dynconv: interrupted\n")
        sys.exit(130)
    code = main()
    if code == 130:
        _forget_interrupt()
    sys.exit(code)
