// A UDP flow for the network harness's self-test (tests/network_adapt.rs): shows that a cap set with
// tests/common/netns.rs really limits what crosses a viewer link, and that the loss rule really drops.
//
//   node network_udp.mjs recv --port P --seconds S      counts what arrives for S s after the first packet
//                                                       (or until S s of silence), prints {bytes, packets,
//                                                       firstMs, lastMs, kbps}
//   node network_udp.mjs send --to IP:PORT --kbps R --seconds S [--size 1200]
//                                                       paced sends at R kbit/s, prints {bytes, packets}

import dgram from 'node:dgram';

const [mode, ...rest] = process.argv.slice(2);
const a = {};
for (let i = 0; i < rest.length; i += 2) a[rest[i].replace(/^--/, '')] = rest[i + 1];
const seconds = Number(a.seconds || 3);

if (mode === 'recv') {
  const sock = dgram.createSocket('udp4');
  let bytes = 0;
  let packets = 0;
  let firstMs = null;
  let lastMs = null;
  const finish = () => {
    sock.close();
    const span = firstMs !== null && lastMs > firstMs ? (lastMs - firstMs) / 1000 : 0;
    console.log(JSON.stringify({ bytes, packets, firstMs, lastMs, kbps: span > 0 ? (bytes * 8) / 1000 / span : 0 }));
  };
  let timer = setTimeout(finish, seconds * 1000 * 3);
  sock.on('message', (msg) => {
    const now = Date.now();
    if (firstMs === null) {
      firstMs = now;
      clearTimeout(timer);
      timer = setTimeout(finish, seconds * 1000);
    }
    lastMs = now;
    bytes += msg.length;
    packets += 1;
  });
  sock.bind(Number(a.port), () => console.error('listening'));
} else if (mode === 'send') {
  const [host, port] = a.to.split(':');
  const size = Number(a.size || 1200);
  const perSecond = (Number(a.kbps) * 1000) / 8 / size;
  const sock = dgram.createSocket('udp4');
  const payload = Buffer.alloc(size, 0x5a);
  const start = Date.now();
  let sent = 0;
  const tick = () => {
    const elapsed = (Date.now() - start) / 1000;
    if (elapsed >= seconds) {
      sock.close();
      console.log(JSON.stringify({ bytes: sent * size, packets: sent }));
      return;
    }
    while (sent < elapsed * perSecond) {
      sock.send(payload, Number(port), host);
      sent += 1;
    }
    setTimeout(tick, 2);
  };
  tick();
} else {
  console.error('usage: network_udp.mjs recv|send ...');
  process.exit(2);
}
