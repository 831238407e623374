"""A server on a free loopback port in a thread, and a tiny HTTP client for it."""

import contextlib
import http.client
import json
import socket
import threading
import time

import uvicorn


@contextlib.contextmanager
def running(app):
    """Serves ``app`` with uvicorn on a free loopback port in a thread; yields the port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()


class Client:
    """A tiny HTTP client over http.client; returns (status, parsed JSON body)."""

    def __init__(self, port: int):
        self.port = port

    def call(self, method: str, path: str, body: bytes | None = None, headers=None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, json.loads(response.read())
        finally:
            connection.close()

    def post(self, model: str, verb: str, payload, version: int | None = None):
        path = f"/v1/models/{model}" + (f"/versions/{version}" if version else "") + f":{verb}"
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return self.call("POST", path, body, {"Content-Type": "application/json"})

    def predict(self, model: str, payload, version: int | None = None):
        return self.post(model, "predict", payload, version)
