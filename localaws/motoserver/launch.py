# Runs moto's server exactly as the moto_server command does (moto.server.main), after
# memoizing two lookups moto 5.2.1 repeats on every request although their answers cannot
# change while the process runs: the list of moto's own backend packages (one stat per package
# directory, about 180 per request: moto/backends.py list_of_moto_modules) and the method names of
# a response class (inspect.getmembers: moto/core/utils.py method_names_from_class). Together
# they were two thirds of moto's CPU per request. Nothing moto answers changes. If a later moto
# lacks either name, it runs unchanged.
import functools
import logging
import sys

try:
    import moto.backends
    import moto.core.responses

    _modules = tuple(moto.backends.list_of_moto_modules())
    moto.backends.list_of_moto_modules = lambda: _modules
    moto.core.responses.method_names_from_class = functools.lru_cache(maxsize=None)(
        moto.core.responses.method_names_from_class
    )
except (AttributeError, ImportError):
    pass

# The process goes by moto_server's name (ps, top, /proc/<pid>/stat), as when moto_server runs it.
try:
    with open("/proc/self/comm", "w") as comm:
        comm.write("moto_server")
except OSError:
    pass

# werkzeug writes a line per request; nothing reads them.
logging.getLogger("werkzeug").setLevel(logging.WARNING)

# "--listen-fd N": serve on the listening socket the parent bound and passed as descriptor N
# instead of binding -p's port here. A port chosen free and bound later can be taken in between
# by another process; a socket handed over cannot. werkzeug's make_server takes an fd for this
# (its reloader hands its socket to the reloaded process the same way).
args = sys.argv[1:]
if "--listen-fd" in args:
    at = args.index("--listen-fd")
    listen_fd = int(args[at + 1])
    del args[at : at + 2]
    import werkzeug.serving  # noqa: E402

    _make_server = werkzeug.serving.make_server

    def _make_server_on_fd(*args, fd=None, **kwargs):
        return _make_server(*args, fd=listen_fd if fd is None else fd, **kwargs)

    werkzeug.serving.make_server = _make_server_on_fd

from moto.server import main  # noqa: E402

main(args)
