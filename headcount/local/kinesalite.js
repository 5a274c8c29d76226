// kinesalite (local Kinesis) bound to 127.0.0.1: its CLI has no host option.
// argv: <port> <data folder>
const kinesalite = require('kinesalite');
const [port, path] = process.argv.slice(2);
const server = kinesalite({ path, createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 1000 });
server.listen(Number(port), '127.0.0.1', (err) => {
  if (err) { console.error(err); process.exit(1); }
  console.log(`kinesalite listening on 127.0.0.1:${port}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
