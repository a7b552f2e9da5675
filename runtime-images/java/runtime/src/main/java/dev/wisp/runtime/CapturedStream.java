package dev.wisp.runtime;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

/**
 * An {@link OutputStream} that turns each line written to it into a JSON log line carrying the
 * writing thread's request id. Lines are buffered per thread, so two calls printing at once never
 * interleave within a line.
 */
final class CapturedStream extends OutputStream {

    private static final int MAX_LINE = 256 * 1024;

    private final String level;
    private final ThreadLocal<ByteArrayOutputStream> pending =
            ThreadLocal.withInitial(() -> new ByteArrayOutputStream(256));

    CapturedStream(String level) {
        this.level = level;
    }

    @Override
    public void write(int b) {
        ByteArrayOutputStream line = pending.get();
        if (b == '\n') {
            emit(line);
        } else {
            line.write(b);
            if (line.size() >= MAX_LINE) {
                emit(line);
            }
        }
    }

    @Override
    public void write(byte[] bytes, int offset, int length) {
        ByteArrayOutputStream line = pending.get();
        int start = offset;
        int end = offset + length;
        for (int i = offset; i < end; i++) {
            if (bytes[i] == '\n') {
                line.write(bytes, start, i - start);
                emit(line);
                start = i + 1;
            }
        }
        line.write(bytes, start, end - start);
        if (line.size() >= MAX_LINE) {
            emit(line);
        }
    }

    /** Emits this thread's unterminated line, if any (called when a call ends). */
    void flushPending() {
        ByteArrayOutputStream line = pending.get();
        if (line.size() > 0) {
            emit(line);
        }
    }

    private void emit(ByteArrayOutputStream line) {
        String text = line.toString(StandardCharsets.UTF_8);
        line.reset();
        if (text.endsWith("\r")) {
            text = text.substring(0, text.length() - 1);
        }
        JsonLog.write(level, JsonLog.REQUEST_ID.get(), text, java.util.Map.of());
    }
}
