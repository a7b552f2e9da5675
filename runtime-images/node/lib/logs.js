'use strict';
// Structured logs: one JSON object (or, in the Text format, one tab-separated line) per line on
// stdout, below the Function's levels dropped (the main thread writes every line;
// handler output arrives from the workers as messages already tagged with its request id).

const TAIL_BYTES = 4096;

// The X-Wisp-Log-Tail answer: base64 of the last 4 KB of a call's log lines (Lambda's LogResult).
function tailHeader(lines) {
  const text = Buffer.from(lines.join('\n'), 'utf8');
  return text.subarray(Math.max(0, text.length - TAIL_BYTES)).toString('base64');
}

// Lambda's level names (and Python's spellings) on one scale; unknown levels count as INFO.
const LEVELS = Object.freeze({ TRACE: 5, DEBUG: 10, INFO: 20, WARN: 30, WARNING: 30, ERROR: 40, FATAL: 50, CRITICAL: 50 });

function levelValue(name) {
  return LEVELS[name] ?? LEVELS.INFO;
}

// The log settings from Lambda's AWS_LAMBDA_LOG_FORMAT/AWS_LAMBDA_LOG_LEVEL and wisp's
// WISP_SYSTEM_LOG_LEVEL (docs/logging.md): { text, appLevel, systemLevel }, 0 keeping everything.
function logSettings(env) {
  const level = (name) => LEVELS[(env[name] || '').trim().toUpperCase()] ?? 0;
  return {
    text: (env.AWS_LAMBDA_LOG_FORMAT || '').trim().toLowerCase() === 'text',
    appLevel: level('AWS_LAMBDA_LOG_LEVEL'),
    systemLevel: level('WISP_SYSTEM_LOG_LEVEL'),
  };
}

// A Text-format line: time, request id, level and message, tab-separated as Lambda's; other
// fields follow as key=value, a stack trace on the lines after.
function textLine(time, level, requestId, message, fields) {
  let line = `${time}\t${requestId || ''}\t${level}\t${message}`;
  if (fields) {
    const extra = Object.entries(fields).filter(([k]) => k !== 'stackTrace' && k !== 'stream')
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ');
    if (extra) line += `\t${extra}`;
    if (fields.stackTrace) line += `\n${String(fields.stackTrace).replace(/\n+$/, '')}`;
  }
  return line;
}

class LogWriter {
  // stream: where the lines go, process.stdout unless given. process.stdout is not looked up
  // here: creating it takes milliseconds (for a pipe it loads node:net), which the runtime pays
  // while its worker boots (open(), index.js), not before starting it.
  // settings: logSettings(); log() writes the runtime's own records (dropped below the system
  // level), app() the handler's (below the application level). A record with an `event` field
  // is a control line for the launcher: always written, always JSON.
  constructor(functionName, stream, settings) {
    this.functionName = functionName;
    this.stream = stream;
    this.settings = settings || { text: false, appLevel: 0, systemLevel: 0 };
    // requestId -> the lines of a call that asked for them (X-Wisp-Log-Tail), while it runs.
    this.tails = new Map();
  }

  // Creates the stream now rather than with the first line.
  open() {
    if (this.stream === undefined) this.stream = process.stdout;
  }

  log(level, message, requestId, fields) {
    const control = fields !== undefined && fields.event !== undefined;
    if (!control && levelValue(level) < this.settings.systemLevel) return;
    this.write(level, message, requestId, fields, control);
  }

  app(level, message, requestId, fields) {
    if (levelValue(level) < this.settings.appLevel) return;
    this.write(level, message, requestId, fields, false);
  }

  write(level, message, requestId, fields, control) {
    let line;
    if (this.settings.text && !control) {
      line = textLine(isoTime(), level, requestId, message, fields);
    } else {
      const record = { time: isoTime(), level };
      if (requestId) record.requestId = requestId;
      record.function = this.functionName;
      record.message = message;
      if (fields) Object.assign(record, fields);
      line = JSON.stringify(record);
    }
    this.open();
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

module.exports = { LEVELS, LogWriter, levelValue, logSettings, tailHeader };
