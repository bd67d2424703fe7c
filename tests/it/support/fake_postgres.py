"""A "PostgreSQL" that misbehaves on purpose, over TLS: answers the
SSLRequest with S, shakes hands with the given certificate, reads the
startup message, sends AuthenticationOk, then one of:
  huge-header   a ParameterStatus header declaring 0xFFFFFFFF bytes, and stalls
  short-auth    instead of AuthenticationOk, an Authentication of length 4
                (no body: sqlx panics on it), and stalls
  wants-client-cert
                demands a client certificate (from the CA beside CERT): under
                TLS 1.3 the client finishes its handshake first, then reads
                the server's alert
Prints its port, then serves until killed.
Usage: fake_postgres.py CERT KEY MODE"""
import socket, ssl, sys, threading, time

cert, key, mode = sys.argv[1:4]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
if mode == "wants-client-cert":
    import os
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(os.path.join(os.path.dirname(cert), "ca.pem"))
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
print(s.getsockname()[1], flush=True)


def serve(c):
    try:
        c.recv(8)
        c.sendall(b"S")
        t = ctx.wrap_socket(c, server_side=True)
        t.recv(4096)
        if mode == "short-auth":
            t.sendall(b"R\x00\x00\x00\x04")
        else:
            t.sendall(b"R\x00\x00\x00\x08\x00\x00\x00\x00" + b"S\xff\xff\xff\xff")
        time.sleep(30)
    except Exception:
        pass


while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
