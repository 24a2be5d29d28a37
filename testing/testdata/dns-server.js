// A scripted DNS server for tests and benchmarks (UDP and TCP on one address, port 53 by default).
// Names under kiln.test answer by their first label:
//   ok → A 10.0.0.1 / AAAA fd00::1          slow<N> → the same after N ms
//   nx → NXDOMAIN    fail → SERVFAIL    refused → REFUSED    empty → NOERROR, no answers
//   drop → never answered                   tc → over UDP: TC bit, no answers; over TCP: answered
//   flaky → NXDOMAIN and answered in turn (first NXDOMAIN)
// Anything else is NXDOMAIN. Every query received is logged on stdout as a JSON line
// {transport, id, name, type, action}, so a test knows exactly what was asked.
// usage: node dns-server.js ADDRESS [PORT]
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';

const [address, portArg] = process.argv.slice(2);
const port = Number(portArg ?? 53);

const asked = new Map();

function answer(query, transport) {
  const q = query.questions?.[0];
  const name = (q?.name ?? '').toLowerCase();
  const label = name.split('.')[0];
  const base = { type: 'response', id: query.id, flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE, questions: query.questions };
  const records = () => (q.type === 'A' ? [{ type: 'A', name: q.name, ttl: 60, data: '10.0.0.1' }] : q.type === 'AAAA' ? [{ type: 'AAAA', name: q.name, ttl: 60, data: 'fd00::1' }] : []);
  let action = 'ok';
  let delay = 0;
  let packet;
  if (!name.endsWith('.kiln.test')) action = 'nxdomain';
  else if (label === 'ok') action = 'ok';
  else if (/^slow\d+$/.test(label)) [action, delay] = ['ok', Number(label.slice(4))];
  else if (label === 'nx') action = 'nxdomain';
  else if (label === 'fail') action = 'servfail';
  else if (label === 'refused') action = 'refused';
  else if (label === 'empty') action = 'empty';
  else if (label === 'drop') action = 'drop';
  else if (label === 'tc') action = transport === 'udp' ? 'truncated' : 'ok';
  else if (label === 'flaky') {
    const n = (asked.get(name) ?? 0) + 1;
    asked.set(name, n);
    action = n % 2 === 1 ? 'nxdomain' : 'ok';
  }
  else action = 'nxdomain';
  const rcode = { nxdomain: 3, servfail: 2, refused: 5 }[action] ?? 0;
  if (action === 'ok') packet = { ...base, answers: records() };
  else if (action === 'truncated') packet = { ...base, flags: base.flags | dnsPacket.TRUNCATED_RESPONSE };
  else if (action !== 'drop') packet = { ...base, flags: base.flags | rcode };
  console.log(JSON.stringify({ transport, id: query.id, name, type: q?.type, action, delay }));
  return { packet: packet && dnsPacket.encode(packet), delay };
}

const udp = dgram.createSocket(address.includes(':') ? 'udp6' : 'udp4');
udp.on('message', (msg, rinfo) => {
  let query;
  try {
    query = dnsPacket.decode(msg);
  } catch {
    return;
  }
  const { packet, delay } = answer(query, 'udp');
  if (packet) setTimeout(() => udp.send(packet, rinfo.port, rinfo.address), delay);
});

const tcp = net.createServer((sock) => {
  let buf = Buffer.alloc(0);
  sock.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
      const len = buf.readUInt16BE(0);
      const msg = buf.subarray(2, 2 + len);
      buf = buf.subarray(2 + len);
      let query;
      try {
        query = dnsPacket.decode(msg);
      } catch {
        continue;
      }
      const { packet, delay } = answer(query, 'tcp');
      if (!packet) continue;
      const framed = Buffer.alloc(2 + packet.length);
      framed.writeUInt16BE(packet.length, 0);
      packet.copy(framed, 2);
      setTimeout(() => sock.writable && sock.write(framed), delay);
    }
  });
  sock.on('error', () => {});
});

let ready = 0;
const up = () => ++ready === 2 && console.error('dns-server ready');
udp.bind(port, address, up);
tcp.listen(port, address, up);
