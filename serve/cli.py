"""``lipread serve``: the HTTP API and web page on uvicorn."""

from __future__ import annotations

import argparse
import errno
import logging
import socket
from pathlib import Path

from data_prep.arguments import non_negative_int, positive_float, positive_int
from lipread.cli_options import add_model_options, port_number, prepare_output
from serve.limits import Limits


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="lipread serve")
    parser.description = "Serve transcription over HTTP (POST /v1/transcriptions) and a web page at /."
    d = Limits()
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    parser.add_argument("--port", type=port_number, default=8000, help="TCP port (0: any free one)")
    parser.add_argument("--workers", type=positive_int, default=d.workers, help="transcriptions at once (threads)")
    parser.add_argument("--queue-size", type=non_negative_int, default=d.queue_size, help="waiting requests before 503")
    parser.add_argument(
        "--max-upload-mb",
        type=positive_float,
        default=d.max_upload_mb,
        help="largest video a request may send (413 above it)",
    )
    parser.add_argument("--max-duration", type=positive_float, default=d.max_duration_s, help="seconds of video")
    parser.add_argument("--timeout", type=positive_float, default=d.timeout_s, help="seconds per transcription")
    parser.add_argument("--live-streams", type=non_negative_int, default=d.live_streams,
                        help="live (WebSocket /v1/live) streams at once before 503")  # fmt: skip
    add_model_options(parser)
    parser.add_argument("--grammar", default="default", metavar="FILE|NAME",
                        help="the grammar a request gets unless it names another: a file, a built-in name (grid), "
                        "'none', or 'default' (the model's own)")  # fmt: skip
    parser.add_argument("--data-dir", default=None, metavar="DIR",
                        help="keep users' enrolment recordings and personal models here (the web page's "
                        "'Train it on my lips'); without it, enrolment is off")  # fmt: skip
    parser.add_argument(
        "--adapt-epochs",
        type=positive_int,
        default=None,
        metavar="N",
        help="passes over a user's clips when adapting (default: chosen from their number)",
    )
    return parser


def listening_sockets(host: str, port: int) -> list[socket.socket]:
    """The server's sockets, bound to ``host:port`` before the model loads (one per address the
    host names: ``localhost`` may be both 127.0.0.1 and ::1, as uvicorn would listen on): a taken
    port or a bad host is one plain line at once, and uvicorn serves on these very sockets, so
    nothing can take the port between the check and the start. Port 0 picks a free one."""
    from lipread.errors import UserError

    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as err:  # (the port's range is --port's own check)
        raise UserError(f"--host {host} --port {port}: not an address to listen on ({err})") from None
    sockets: list[socket.socket] = []
    for family, kind, proto, _, address in dict.fromkeys(found):  # (the same address may come twice)
        if sockets and port == 0:  # every address on the port the first one got
            address = (address[0], sockets[0].getsockname()[1], *address[2:])
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart need not wait for TIME_WAIT
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)  # IPv4 has its own socket
            sock.bind(address)
            sock.listen(2048)  # held from now on: connections made while the model loads wait, then get served
        except OSError as err:
            for taken in [sock, *sockets]:
                taken.close()
            if err.errno == errno.EADDRINUSE:
                why = "is in use (another server?): choose another with --port"
            elif err.errno == errno.EACCES:
                why = "needs privileges this user lacks (ports below 1024 usually do): choose another with --port"
            else:
                why = f"cannot be listened on ({err.strerror})"
            raise UserError(f"port {port} on {host} {why}") from None
        sockets.append(sock)
    return sockets


def address_of(sock: socket.socket) -> str:
    """``http://host:port`` of a bound socket (IPv6 hosts in brackets)."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from lipread.cli_options import resolve_device
    from lipread.grammar import load as load_grammar
    from lipread.pretrained import load
    from lipread.transcribe import default_model_path
    from serve.app import create_app

    # a taken port, a missing or broken model or grammar: one line and exit 2, before the server starts
    sockets = listening_sockets(args.host, args.port)
    if args.data_dir is not None:
        prepare_output(Path(args.data_dir), "--data-dir ")
    load(args.checkpoint or default_model_path())
    if args.grammar not in ("default", "none"):
        load_grammar(args.grammar)
    device = resolve_device(args.device)
    limits = Limits(
        args.max_upload_mb, args.max_duration, args.queue_size, args.workers, args.timeout, args.live_streams
    )
    adapt_options = {"epochs": args.adapt_epochs} if args.adapt_epochs else None
    app = create_app(args.checkpoint, limits, device, args.grammar, args.data_dir, adapt_options)
    logging.getLogger("lipread.serve.access").setLevel(logging.INFO)
    server = _server_class()(uvicorn.Config(app, log_level="info", access_log=False))
    server.run(sockets=sockets)
    return 0


def _server_class():
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, saying where it listens once it does (uvicorn says so only for the
        sockets it binds itself)."""

        async def startup(self, sockets=None) -> None:
            await super().startup(sockets)
            if self.started and sockets:
                where = " and ".join(address_of(sock) for sock in sockets)
                logging.getLogger("lipread.serve").info("serving on %s (Ctrl-C to stop)", where)

    return Server
