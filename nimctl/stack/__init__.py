"""Stage 2, the stack: takes a composed, validated config; gives typed desired resources (endpoints,
jobs) and the exact platform specs they will be created with."""
