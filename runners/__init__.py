"""Runners: the language table, the in-container agent and fork server, and the output checkers.

``agent.py``, ``zygote.py`` and ``protocol.py`` are copied into the runtime image and run on its Debian
Python with the standard library only; ``languages.py`` and ``checkers.py`` run on the host.
"""
