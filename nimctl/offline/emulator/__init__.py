"""A local emulator of the DGX Cloud Lepton workspace API, with a mock OpenAI server per endpoint.

``server.EmulatorServer`` runs it in-process (tests); ``cli.serve`` runs it for users
(``nimctl emulator serve``). Importing this package is cheap: the HTTP stack loads on start.
"""
