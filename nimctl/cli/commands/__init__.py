"""One module per command (or command group): its flags and help, and the calls that do its work.
``nimctl.cli.app`` registers them; each imports what is heavy inside the command's body."""
