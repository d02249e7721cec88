"""The assertion boundary: a Python test's code and the program under test in two protection domains.

Whatever runs in the program's interpreter can be rewritten by the program (``__eq__``, ``builtins``,
``sys.modules['unittest']``, the harness's own frames), so a verdict may only come from code the program
cannot reach. For ``assertion`` and ``call`` tests the fork server therefore starts two processes:

- the **program side** (``program.py``), as the program's uid: runs the program as module
  ``__solution__``, then answers requests about its objects over a private socket;
- the **trusted side** (``trusted.py``), as a second uid the program's uid cannot signal, ptrace or
  read: runs the test code in its own interpreter, reaching the program's names through proxies, and
  alone holds the status pipe the verdict is written to.

Values cross the socket through our own codec (``codec.py``: tagged JSON, no pickle, no code): by value
when they are builtin data (``int``, ``str``, ``list``, ``dict``, ... — an instance of a subclass crosses
as its builtin value, so an overridden ``__eq__`` never reaches the trusted side), anything else as a
handle whose operations run on the side that owns it. The rules where test semantics meet a handle are
in ``trusted.py``'s docstring; ``suites.py`` runs the test shapes (unittest, pytest) and fails test code
that would check nothing.

Standard library only: this package runs inside the image, on Debian's Python.
"""
