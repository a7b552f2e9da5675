package dev.wisp.runtime;

import java.io.BufferedOutputStream;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Arrays;
import java.util.Base64;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The runtime's log: one JSON object per line on the process's real stdout, shaped
 * {@code {"time","level","requestId","function","message"}} as the contract asks.
 *
 * <p>Handlers' {@code System.out}/{@code System.err} are replaced by {@link CapturedStream}s that
 * end up here too, each line tagged with the request id of the call that printed it
 * ({@link #REQUEST_ID}, set by the worker thread around each call and inherited by threads the
 * handler starts). JSON is written by hand: it keeps the logging path free of reflection and
 * cheap to load at start.
 */
final class JsonLog {

    /** The request id of the call the current thread works for, or null outside any call. */
    static final InheritableThreadLocal<String> REQUEST_ID = new InheritableThreadLocal<>();

    private static final DateTimeFormatter TIME =
            DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSSXXX");
    private static final OutputStream OUT =
            new BufferedOutputStream(new FileOutputStream(FileDescriptor.out), 1 << 14);
    private static final CapturedStream CAPTURED_OUT = new CapturedStream("INFO");
    private static final CapturedStream CAPTURED_ERR = new CapturedStream("ERROR");
    private static volatile String functionName = "function";

    private JsonLog() {}

    /** The log's tail for a caller: at most this many bytes of a call's last lines. */
    static final int TAIL_BYTES = 4096;

    /**
     * The calls whose lines are kept for their caller ({@code X-Wisp-Log-Tail: 1}, Lambda's
     * {@code LogType: Tail}), by request id: the last lines, trimmed as they grow.
     */
    private static final ConcurrentHashMap<String, StringBuilder> TAILS = new ConcurrentHashMap<>();

    /** Starts keeping the lines of call {@code requestId} ({@link #takeTail}). */
    static void keepTail(String requestId) {
        TAILS.put(requestId, new StringBuilder());
    }

    /**
     * Stops keeping call {@code requestId}'s lines: base64 of their last {@link #TAIL_BYTES}
     * bytes (the {@code X-Wisp-Log-Tail} answer), or null if they were not kept.
     */
    static String takeTail(String requestId) {
        StringBuilder kept = TAILS.remove(requestId);
        if (kept == null) {
            return null;
        }
        byte[] all;
        synchronized (kept) {
            int end = kept.length();
            if (end > 0 && kept.charAt(end - 1) == '\n') {
                end--;
            }
            all = kept.substring(0, end).getBytes(StandardCharsets.UTF_8);
        }
        int from = Math.max(0, all.length - TAIL_BYTES);
        return Base64.getEncoder().encodeToString(Arrays.copyOfRange(all, from, all.length));
    }

    static void setFunctionName(String name) {
        functionName = name;
    }

    /** Sends handlers' stdout, stderr (INFO and ERROR lines) and JUL records through the log. */
    static void captureStandardStreams() {
        System.setOut(new PrintStream(CAPTURED_OUT, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(CAPTURED_ERR, true, StandardCharsets.UTF_8));
        JulBridge.install();
    }

    /** Emits what the current thread printed without a final newline (when a call ends). */
    static void flushThreadOutput() {
        System.out.flush();
        System.err.flush();
        CAPTURED_OUT.flushPending();
        CAPTURED_ERR.flushPending();
    }

    static void info(String message) {
        write("INFO", REQUEST_ID.get(), message, Map.of());
    }

    static void info(String message, Map<String, ?> fields) {
        write("INFO", REQUEST_ID.get(), message, fields);
    }

    static void error(String message, Map<String, ?> fields) {
        write("ERROR", REQUEST_ID.get(), message, fields);
    }

    /** Writes one log line; {@code fields} adds keys after the standard ones. */
    static void write(String level, String requestId, String message, Map<String, ?> fields) {
        StringBuilder line = new StringBuilder(128 + message.length());
        line.append("{\"time\":");
        appendString(line, ZonedDateTime.now(ZoneOffset.UTC).format(TIME));
        line.append(",\"level\":");
        appendString(line, level);
        line.append(",\"requestId\":");
        appendString(line, requestId);
        line.append(",\"function\":");
        appendString(line, functionName);
        line.append(",\"message\":");
        appendString(line, message);
        for (Map.Entry<String, ?> field : fields.entrySet()) {
            line.append(',');
            appendString(line, field.getKey());
            line.append(':');
            appendValue(line, field.getValue());
        }
        line.append("}\n");
        StringBuilder tail = requestId == null ? null : TAILS.get(requestId);
        if (tail != null) {
            synchronized (tail) {
                tail.append(line);
                if (tail.length() > 2 * TAIL_BYTES) { // a char is at least a byte: enough is left
                    tail.delete(0, tail.length() - 2 * TAIL_BYTES);
                }
            }
        }
        byte[] bytes = line.toString().getBytes(StandardCharsets.UTF_8);
        synchronized (OUT) {
            try {
                OUT.write(bytes);
                OUT.flush();
            } catch (IOException ignored) {
                // stdout is gone (the collector died): nothing useful can be done about it here.
            }
        }
    }

    private static void appendValue(StringBuilder out, Object value) {
        if (value == null || value instanceof Number || value instanceof Boolean) {
            out.append(value);
        } else {
            appendString(out, value.toString());
        }
    }

    /** Appends {@code value} as a JSON string literal ({@code null} when null). */
    static void appendString(StringBuilder out, String value) {
        if (value == null) {
            out.append("null");
            return;
        }
        out.append('"');
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                default -> {
                    if (c < 0x20 || c == '\u2028' || c == '\u2029') {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        out.append('"');
    }
}
