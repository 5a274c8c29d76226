// kinesalite (local Kinesis) bound to 127.0.0.1: its CLI has no host option.
// argv: <port> <data folder>
const kinesalite = require('kinesalite');
const [port, path] = process.argv.slice(2);

// A client that drops its connection mid-request (a fold worker killed during GetRecords) makes the request stream emit
// 'error', which kinesalite rethrows from its handler (index.js, req.on('error')): uncaught, it would end the process
// and the stream with it. Those are the client's failures, not the server's: log them and serve on. Anything else is a
// real fault: exit, and `headcount up` starts kinesalite again (its data is on disk).
const CLIENT_GONE = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE']);
process.on('uncaughtException', (err) => {
  if (CLIENT_GONE.has(err.code) || err.message === 'aborted') {
    console.error(`kinesalite: a client went away mid-request (${err.code || err.message}); serving on`);
    return;
  }
  console.error(err);
  process.exit(1);
});

const server = kinesalite({ path, createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 1000 });
// Garbage or a half request on the port: answer 400 if the socket still can, and close it.
server.on('clientError', (err, socket) => {
  if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
  else socket.destroy();
});
server.listen(Number(port), '127.0.0.1', (err) => {
  if (err) { console.error(err); process.exit(1); }
  console.log(`kinesalite listening on 127.0.0.1:${port}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
