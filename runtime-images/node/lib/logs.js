'use strict';
// Structured logs: one JSON object per line on stdout (the main thread writes every line;
// handler output arrives from the workers as messages already tagged with its request id).

const TAIL_BYTES = 4096;

// The X-Wisp-Log-Tail answer: base64 of the last 4 KB of a call's log lines (Lambda's LogResult).
function tailHeader(lines) {
  const text = Buffer.from(lines.join('\n'), 'utf8');
  return text.subarray(Math.max(0, text.length - TAIL_BYTES)).toString('base64');
}

class LogWriter {
  // stream: where the lines go, process.stdout unless given. process.stdout is not looked up
  // here: creating it takes milliseconds (for a pipe it loads node:net), which the runtime pays
  // while its worker boots (open(), index.js), not before starting it.
  constructor(functionName, stream) {
    this.functionName = functionName;
    this.stream = stream;
    // requestId -> the lines of a call that asked for them (X-Wisp-Log-Tail), while it runs.
    this.tails = new Map();
  }

  // Creates the stream now rather than with the first line.
  open() {
    if (this.stream === undefined) this.stream = process.stdout;
  }

  log(level, message, requestId, fields) {
    const record = { time: isoTime(), level };
    if (requestId) record.requestId = requestId;
    record.function = this.functionName;
    record.message = message;
    if (fields) Object.assign(record, fields);
    this.open();
    const line = JSON.stringify(record);
    if (requestId && this.tails.size !== 0) {
      const tail = this.tails.get(requestId);
      if (tail !== undefined) tail.push(line);
    }
    this.stream.write(line + '\n');
  }
}

// Date.prototype.toISOString costs more than building and serialising the rest of a line (a
// couple of microseconds on a slow core), and a busy runtime writes many lines per millisecond.
let lastMs = NaN;
let lastIso = '';

function isoTime() {
  const now = Date.now();
  if (now !== lastMs) {
    lastMs = now;
    lastIso = new Date(now).toISOString();
  }
  return lastIso;
}

module.exports = { LogWriter, tailHeader };
