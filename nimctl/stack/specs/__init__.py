"""Spec builders: from a composed config to the exact specs each platform takes.

``common`` reads the config and works out what both platforms share (the server command,
the token wiring, each task's run config, the inputs hash); ``lepton`` and ``local`` shape
that into the Lepton API's JSON and the local provider's dicts. ``nimctl.stack.builder`` drives them.
"""
