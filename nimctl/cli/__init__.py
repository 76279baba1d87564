"""The shell: the only code that knows typer, terminals and exit codes. Takes argv; gives exit
codes and text or JSON on stdout/stderr by calling the engine stages and rendering what they return."""
