# Runs moto's server exactly as the moto_server command does (moto.server.main), after
# memoizing lookups that moto 5.2.1 repeats although their answers cannot change while the
# process runs. Per request: the list of moto's own backend packages (one stat per package
# directory, about 180 per request: moto/backends.py list_of_moto_modules) and the method names of
# a response class (inspect.getmembers: moto/core/utils.py method_names_from_class) were together
# two thirds of moto's CPU per request. The four after them (each says why its answer is
# constant) took a further 8-12% of the CPU per request and 0.45 CPU-s of a server's first IAM and
# SSM requests. Nothing moto answers changes. If a later moto lacks a name, that memo is skipped
# and moto runs as is.
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

# boto3 Session.get_available_regions: the regions botocore's bundled endpoints.json lists for a
# service and partition. moto asks it on a new Session() each time (moto/ec2/models/
# availability_zones_and_regions.py three times as moto.ssm imports moto.ec2, moto/iam/config.py,
# moto/s3control/config.py), and each new Session parses endpoints.json again (0.2-0.3 CPU-s).
# The answer depends only on botocore's data files, which do not change while the process runs,
# so one Session answers for all; each caller gets its own list.
try:
    import boto3.session

    _get_available_regions = boto3.session.Session.get_available_regions
    _regions = {}
    _regions_session = []

    def _memo_get_available_regions(self, service_name, partition_name="aws", allow_non_regional=False):
        key = (service_name, partition_name, allow_non_regional)
        if key not in _regions:
            if not _regions_session:
                _regions_session.append(self)
            _regions[key] = tuple(
                _get_available_regions(_regions_session[0], service_name, partition_name, allow_non_regional)
            )
        return list(_regions[key])

    boto3.session.Session.get_available_regions = _memo_get_available_regions
except (AttributeError, ImportError):
    pass

# moto/moto_server/werkzeug_app.py DomainDispatcherApplication.get_backend_for_host: which
# backend serves a Host, found by trying about 150 url regexes of moto/backend_index.py in turn on
# every request. The patterns are fixed at import. Only hosts that found a backend are kept (an
# unknown amazonaws.com host is still reported each time), at most 1,024 of them.
try:
    import moto.moto_server.werkzeug_app as _werkzeug_app

    _get_backend_for_host = _werkzeug_app.DomainDispatcherApplication.get_backend_for_host
    _backends_by_host = {}

    def _memo_get_backend_for_host(self, host):
        backend = _backends_by_host.get(host)
        if backend is None:
            backend = _get_backend_for_host(self, host)
            if backend is not None and len(_backends_by_host) < 1024:
                _backends_by_host[host] = backend
        return backend

    _werkzeug_app.DomainDispatcherApplication.get_backend_for_host = _memo_get_backend_for_host
except (AttributeError, ImportError):
    pass

# moto/core/responses.py call_action turns each request's action name into a method name with
# moto/core/utils.py camelcase_to_underscores, a character-by-character loop: a pure function of
# the name.
try:
    moto.core.responses.camelcase_to_underscores = functools.lru_cache(maxsize=1024)(
        moto.core.responses.camelcase_to_underscores
    )
except (AttributeError, NameError):
    pass

# moto/core/errors.py get_error_model builds a new ErrorLookupFactory for every error response,
# so the cache of error shapes it keeps by serviceId starts empty each time and every error walks
# all of its service's error shapes again (botocore's service-2.json, which does not change while
# the process runs). One cache shared by every factory is the one moto meant.
try:
    import moto.core.errors

    _error_luts = {}
    _error_lookup_factory_init = moto.core.errors.ErrorLookupFactory.__init__

    def _shared_error_lut_cache(self):
        _error_lookup_factory_init(self)
        self._error_lut_cache = _error_luts

    if hasattr(moto.core.errors.ErrorLookupFactory(), "_error_lut_cache"):
        moto.core.errors.ErrorLookupFactory.__init__ = _shared_error_lut_cache
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

# Keep-alive, as AWS's endpoints keep connections open. werkzeug 3.1.8's server
# (werkzeug/serving.py WSGIRequestHandler.run_wsgi) sends "Connection: close" on every response,
# because http.server cannot tell where an unread request body ends, and then waits on a new
# selector for the client to hang up. Every request thus paid for a TCP connection, a thread and
# an epoll instance on both sides: 900 SDK requests (IAM, SSM, STS) cost moto 2.8-3.5 CPU-s that
# way against 1.8-2.5 kept alive, and the Go client 0.7-1.0 CPU-s against 0.4-0.6 (6 runs each,
# alternating). Here a request that says exactly how long its body is (Content-Length, HTTP/1.1,
# no Expect or Transfer-Encoding, no "Connection: close") has its body read first and handed to
# moto from memory, so the socket stands at the next request line whatever moto reads; the
# response keeps the connection open. Every other request is served as werkzeug does, closing. TCP_NODELAY
# keeps the response's header and body writes from waiting on the client's delayed ACK, which a
# reused connection would otherwise meet.
try:
    import io
    import socket
    import werkzeug.serving

    _handler = werkzeug.serving.WSGIRequestHandler
    _run_wsgi, _send_header, _setup = _handler.run_wsgi, _handler.send_header, _handler.setup

    def _setup_nodelay(self):
        _setup(self)
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def _run_wsgi_kept_alive(self):
        headers = self.headers
        length = headers.get("Content-Length", "0")
        if (
            self.request_version != "HTTP/1.1"
            or self.close_connection
            or headers.get("Expect")
            or headers.get("Transfer-Encoding")
            or not length.isdigit()
        ):
            return _run_wsgi(self)
        length = int(length)
        body = self.rfile.read(length) if length else b""
        if len(body) != length:  # the client hung up mid-body
            self.close_connection = True
            return None
        connection_reader, self.rfile = self.rfile, io.BufferedReader(io.BytesIO(body))
        self.keep_alive = True
        try:
            return _run_wsgi(self)
        finally:
            self.rfile, self.keep_alive = connection_reader, False

    def _send_header_kept_alive(self, key, value):
        if getattr(self, "keep_alive", False) and key.lower() == "connection" and value.lower() == "close":
            return
        _send_header(self, key, value)

    _handler.setup = _setup_nodelay
    _handler.run_wsgi = _run_wsgi_kept_alive
    _handler.send_header = _send_header_kept_alive
except (AttributeError, ImportError):
    pass

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

    def _make_server_on_fd(*positional, fd=None, **kwargs):
        return _make_server(*positional, fd=listen_fd if fd is None else fd, **kwargs)

    werkzeug.serving.make_server = _make_server_on_fd

from moto.server import main  # noqa: E402

main(args)
