"""The offline platforms: the Lepton workspace emulator and the mock OpenAI-compatible server, with
the OpenAI payloads they share. Used by tests, rehearsals and the local quick start; never by a
real deployment."""
