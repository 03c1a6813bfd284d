"""What the commands share with a terminal: progress bars (:mod:`~dynconv.console.progress`) and
Ctrl-C seen for what it is (:mod:`~dynconv.console.interrupts`). Imports nothing of dynconv."""
