// TCP peer with known byte volumes.
//   node tcp-peer.js server PORT RESPONSE_BYTES [HOST]   answers every client's half-close with RESPONSE_BYTES
//   node tcp-peer.js client PORT SEND_BYTES HOLD_MS [HOST]   sends SEND_BYTES, holds the connection, half-closes,
//                                                     reads the answer, prints "done <received>"
import net from 'node:net';
const [mode, portText, bytesText, arg4, arg5] = process.argv.slice(2);
const host = (mode === 'server' ? arg4 : arg5) ?? '127.0.0.1';
const holdText = mode === 'server' ? undefined : arg4;
const port = Number(portText);
const bytes = Number(bytesText);
const chunk = Buffer.alloc(64 * 1024, 0x6b);

function writeN(sock, n, cb) {
  const step = () => {
    while (n > 0) {
      const len = Math.min(n, chunk.length);
      n -= len;
      if (!sock.write(chunk.subarray(0, len))) return sock.once('drain', step);
    }
    cb();
  };
  step();
}

if (mode === 'server') {
  const server = net.createServer({ allowHalfOpen: true }, (sock) => {
    sock.on('data', () => {});
    sock.on('end', () => writeN(sock, bytes, () => sock.end()));
  });
  server.listen(port, host, () => console.log('listening'));
} else {
  const sock = net.connect({ port, host, allowHalfOpen: true }, () => {
    console.log('connected');
    writeN(sock, bytes, () => setTimeout(() => sock.end(), Number(holdText ?? 0)));
  });
  let received = 0;
  sock.on('data', (d) => (received += d.length));
  sock.on('end', () => {
    console.log(`done ${received}`);
    process.exit(0);
  });
}
