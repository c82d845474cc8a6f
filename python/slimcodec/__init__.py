"""slimcodec from Python: the compiled module over the C++ headers (docs/python.md).

Frames (encode_frame, parse_frame, decode_frame, FrameParser), replies (Reply, parse_reply), codec-1 tables
(EntropyTables, fit_entropy_tables) and the encoder (Encoder, preprocess). Every library error is raised as
one subclass of slimcodec.Error named after it (Truncated, CrcMismatch, ...), with the library's message.
"""
from ._slimcodec import *  # noqa: F401,F403
from ._slimcodec import Error, FrameParser, exceptions_by_errc  # noqa: F401
from ._slimcodec import _cpp_decode_seconds  # noqa: F401  (bench/bench_python.py)


def iter_frames(source, chunk_size=65536, parser=None):
    """Yields the frames of a stream: a binary file (read), a socket (recv) or an iterable of byte chunks.

    At the end of the stream it raises the stream's error, or Truncated if the stream ended inside a frame.
    """
    parser = parser if parser is not None else FrameParser()
    if hasattr(source, "recv"):
        chunks = iter(lambda: source.recv(chunk_size), b"")
    elif hasattr(source, "read"):
        chunks = iter(lambda: source.read(chunk_size), b"")
    else:
        chunks = source
    for chunk in chunks:
        yield from parser.feed(chunk)
    parser.finish()


__all__ = [name for name in dir() if not name.startswith("_")]
