'use strict';
// Structured logs: one JSON object per line on stdout (the main thread writes every line;
// handler output arrives from the workers as messages already tagged with its request id).

class LogWriter {
  constructor(functionName, stream = process.stdout) {
    this.functionName = functionName;
    this.stream = stream;
  }

  log(level, message, requestId, fields) {
    const record = { time: new Date().toISOString(), level };
    if (requestId) record.requestId = requestId;
    record.function = this.functionName;
    record.message = message;
    if (fields) Object.assign(record, fields);
    this.stream.write(JSON.stringify(record) + '\n');
  }
}

module.exports = { LogWriter };
