"""Stage 4, apply: takes a plan and a locked state; gives journaled side effects on the providers
(create, wait, submit, remove), recovery of interrupted runs, and destroy."""
