'use strict';
// Streamed answers, on the handler worker's side.
//
// Two shapes, as Lambda Node.js code writes them:
//
// * awslambda.streamifyResponse(async (event, responseStream, context) => {...}): the handler
//   writes to responseStream (a Writable) and ends it; awslambda.HttpResponseStream.from(
//   responseStream, {statusCode, headers}) sets the status and headers first (Lambda's function
//   URLs; without it the answer is 200 application/octet-stream);
// * a handler that returns a Readable (or {statusCode, headers, body: Readable}): it is piped.
//
// A ResponseStream posts to the main thread, which owns the socket (lib/server.js):
//   {type: 'stream-head', id, status, headers}   before the first chunk (or the end)
//   {type: 'stream-chunk', id, chunk}             each write, a Uint8Array whose buffer moves
//   {type: 'stream-end', id}                      end()
//   {type: 'stream-error', id, errorType, errorMessage, stackTrace}   the handler failed
// and is told by it {type: 'stream-cancel', id} when the caller went away (or the gateway cut
// the stream at its spec.streaming limits): the stream is destroyed, so it emits 'close', its
// `destroyed` is true, and a piped source is destroyed with it.

const { Writable, Readable } = require('node:stream');

const STREAMING = Symbol.for('wisp.streamifyResponse');
const METADATA = Symbol('wisp.responseMetadata');
const OCTETS = 'application/octet-stream';

const open = new Map(); // id -> ResponseStream, while the main thread may still cancel it

class ResponseStream extends Writable {
  constructor(id, post) {
    super({ decodeStrings: true });
    this.id = id;
    this.post = post;
    this.headSent = false;
    this.contentType = undefined;
    this[METADATA] = undefined;
    open.set(id, this);
  }

  // Lambda's own responseStream has this (a default content type for the answer).
  setContentType(type) {
    this.contentType = String(type);
  }

  sendHead() {
    if (this.headSent) return;
    this.headSent = true;
    const meta = this[METADATA] || {};
    const status = Number.isInteger(meta.statusCode) ? meta.statusCode : 200;
    const headers = [];
    let typed = false;
    for (const [name, value] of Object.entries(meta.headers || {})) {
      if (name.toLowerCase() === 'content-type') typed = true;
      if (!['content-length', 'transfer-encoding', 'connection'].includes(name.toLowerCase())) {
        headers.push(name, String(value));
      }
    }
    for (const cookie of [].concat(meta.cookies || [])) headers.push('Set-Cookie', String(cookie));
    if (!typed) headers.push('Content-Type', this.contentType || OCTETS);
    this.post({ type: 'stream-head', id: this.id, status, headers });
  }

  _write(chunk, encoding, callback) {
    this.sendHead();
    const bytes = new Uint8Array(chunk.length);
    bytes.set(chunk);
    this.post({ type: 'stream-chunk', id: this.id, chunk: bytes }, [bytes.buffer]);
    callback();
  }

  _final(callback) {
    this.sendHead();
    open.delete(this.id);
    this.post({ type: 'stream-end', id: this.id });
    callback();
  }

  _destroy(err, callback) {
    // Destroyed by the handler rather than cancelled by the main thread (cancel() forgets it
    // first): the answer cannot complete.
    if (open.has(this.id)) this.fail(err || new Error('the handler destroyed its response stream'));
    callback(err);
  }

  // The handler failed mid-stream: the main thread cuts the answer (no terminating chunk).
  fail(err, describe) {
    open.delete(this.id);
    const info = describe ? describe(err) : { errorType: (err && err.name) || 'Error', errorMessage: String(err && err.message), stackTrace: [] };
    this.post({ type: 'stream-error', id: this.id, ...info });
  }
}

// The main thread says the caller is gone: destroy without an error (the handler sees 'close').
function cancel(id) {
  const stream = open.get(id);
  if (stream === undefined) return;
  open.delete(id);
  stream.destroy();
}

function isReadable(value) {
  return value instanceof Readable || (value !== null && typeof value === 'object'
    && typeof value.pipe === 'function' && typeof value.on === 'function' && typeof value.read === 'function');
}

// The Readable a handler's value streams (a Readable, or the body of a {statusCode} object), or
// undefined for a whole answer.
function streamedBody(value) {
  if (isReadable(value)) return { source: value, meta: undefined };
  if (value !== null && typeof value === 'object' && isReadable(value.body)) {
    const { body, ...meta } = value;
    return { source: body, meta };
  }
  return undefined;
}

// Pipes a returned Readable into a ResponseStream; its errors fail the stream, and a cancelled
// stream destroys it (the handler's source sees 'close').
function pipeReadable(source, meta, responseStream, describe) {
  responseStream[METADATA] = meta;
  source.on('error', (err) => {
    responseStream.fail(err, describe);
    responseStream.destroy();
  });
  responseStream.on('close', () => {
    if (!source.destroyed) source.destroy();
  });
  source.pipe(responseStream);
}

// The `awslambda` global of Lambda's Node.js runtime, as far as response streaming goes.
const awslambda = Object.freeze({
  streamifyResponse(handler) {
    if (typeof handler !== 'function') throw new TypeError('streamifyResponse expects a function');
    const streaming = function streamingHandler(event, responseStream, context) {
      return handler(event, responseStream, context);
    };
    streaming[STREAMING] = true;
    return streaming;
  },
  HttpResponseStream: Object.freeze({
    from(responseStream, metadata) {
      responseStream[METADATA] = metadata || {};
      return responseStream;
    },
  }),
});

function isStreaming(fn) {
  return typeof fn === 'function' && fn[STREAMING] === true;
}

module.exports = { ResponseStream, awslambda, cancel, isStreaming, pipeReadable, streamedBody };
