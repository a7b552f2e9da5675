'use strict';
// The baseline: a bare Node.js `http` hello world.
const http = require('node:http');

http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    const body = req.url === '/healthz' ? '{"status":"ok"}' : '{"hello":"world"}';
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  });
}).listen(Number(process.env.BENCH_PORT), '127.0.0.1');
