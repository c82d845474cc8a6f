#!/usr/bin/env python3
"""A small asyncio TCP decode server on the slimcodec module and the PyTorch reference reconstructor.

It speaks the decode service's protocol (docs/wire-format.md): frames in, one reply per frame out, so
slimcodec-device, the adaptive demo or any FrameTransport client can use it in place of slimcodec-decode-service.
Each frame is parsed by slimcodec.FrameParser (any chunking), dequantized by the module (codec 0, or codec 1 with
--entropy-tables) and reconstructed by python/slimcodec_ref's Reconstructor (6 x H x W -> 24 x 2H x 2W); the
reply carries the frame's id and timestamp, the decode time and the digest of the reconstructor's output. A frame
the module refuses after its header (codec 1 without tables, a corrupt rANS payload) is answered with that error;
a broken stream gets one error reply (frame id 0) and is closed, as the C++ service does.

  /usr/bin/python3 examples/python/decode_server.py [--port 7878] [--weights W.safetensors] [--entropy-tables T]

Needs PYTHONPATH to hold the module (pip install --no-build-isolation ., or BUILD/python of a CMake build with
SLIMCODEC_BUILD_PYTHON=ON) and Debian's python3-torch. One JSON object per answered frame on stdout.
"""
import argparse
import asyncio
import json
import os
import signal
import sys
import time

import numpy as np

import slimcodec as sc

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "python"))
DEFAULT_WEIGHTS = os.path.join(ROOT, "training", "weights", "slimcodec-centernet-256-cpu.safetensors")


def load_reconstructor(path):
    import torch  # noqa: F401  (after the module: torch's import is the slow part of the start)
    from slimcodec_ref.model import Reconstructor
    from slimcodec_ref.safetensors_io import load_safetensors

    tensors, _ = load_safetensors(path)
    prefix = "reconstructor." if any(k.startswith("reconstructor.") for k in tensors) else ""
    rec = Reconstructor()
    rec.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix) and
                         not k.startswith("encoder.") and not k.startswith("entropy.")})
    return rec.eval()


class Decoder:
    """dequantize (module, GIL released) + reconstruct (torch, GIL released in its kernels), on a worker thread."""

    def __init__(self, reconstructor, tables):
        import torch
        self.torch = torch
        self.rec = reconstructor
        self.tables = tables

    def decode(self, frame):
        start = time.perf_counter()
        try:
            values = frame.values(tables=self.tables)
        except sc.Error as e:  # refused after the header: answered with the error, the stream goes on
            return sc.Reply(frame_id=frame.frame_id, status=e.errc, timestamp_us=frame.timestamp_us), e
        with self.torch.no_grad():
            out = self.rec(self.torch.from_numpy(values)[None])[0].contiguous().numpy()
        decode_us = int((time.perf_counter() - start) * 1e6)
        return sc.Reply(frame_id=frame.frame_id, decode_us=decode_us, timestamp_us=frame.timestamp_us,
                        digest=sc.digest_features(out), out_shape=out.shape), None


async def serve_connection(reader, writer, decoder, loop):
    parser = sc.FrameParser(tables=decoder.tables)
    peer = writer.get_extra_info("peername")
    try:
        while True:
            data = await reader.read(65536)
            frames = parser.feed(data) if data else []
            for frame in frames:
                reply, error = await loop.run_in_executor(None, decoder.decode, frame)
                writer.write(bytes(reply))
                print(json.dumps({"peer": str(peer), "frame_id": frame.frame_id, "s": frame.s, "bits": frame.bits,
                                  "codec": int(frame.codec), "bytes": frame.frame_size, "decode_us": reply.decode_us,
                                  "status": error.name if error else "ok"}), flush=True)
            await writer.drain()
            if not data or parser.failed:
                parser.finish()  # raises the stream's error, or Truncated when it ended inside a frame
                break
    except sc.Error as e:  # the stream cannot be resynchronised: one error reply, then close
        writer.write(bytes(sc.Reply(frame_id=0, status=e.errc)))
        print(json.dumps({"peer": str(peer), "stream_error": e.name, "message": str(e)}), flush=True)
    except ConnectionError:
        pass
    finally:
        try:
            await writer.drain()
            writer.close()
            await writer.wait_closed()
        except ConnectionError:
            pass


async def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=7878, help="0 picks a free port (printed)")
    ap.add_argument("--weights", default=DEFAULT_WEIGHTS, help="reconstructor weights (split model or alone)")
    ap.add_argument("--entropy-tables", default=None,
                    help="codec-1 tables (default: WEIGHTS with .entropy.safetensors when that file exists)")
    args = ap.parse_args(argv)
    tables_path = args.entropy_tables
    if tables_path is None:
        guess = args.weights[:-len(".safetensors")] + ".entropy.safetensors"
        tables_path = guess if os.path.exists(guess) else None
    tables = sc.EntropyTables.load(tables_path) if tables_path else None
    decoder = Decoder(load_reconstructor(args.weights), tables)
    loop = asyncio.get_running_loop()
    server = await asyncio.start_server(lambda r, w: serve_connection(r, w, decoder, loop), args.bind, args.port)
    port = server.sockets[0].getsockname()[1]
    print(f"listening on {args.bind}:{port}, reconstructor {args.weights}, entropy tables "
          f"{tables if tables else 'none'}", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
