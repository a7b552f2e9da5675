package dev.wisp.runtime;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.logging.Formatter;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogManager;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.logging.SimpleFormatter;

/**
 * Routes {@code java.util.logging} (and so {@code System.Logger} and libraries logging through
 * JUL) into the runtime's JSON log, one line per record, with the calling thread's request id,
 * instead of JUL's default two-line console format on stderr.
 */
final class JulBridge extends Handler {

    private final Formatter formatter = new SimpleFormatter();

    private JulBridge() {}

    /** Replaces the root logger's handlers with the bridge (INFO and above). */
    static void install() {
        LogManager.getLogManager().reset();
        Logger root = Logger.getLogger("");
        root.setLevel(Level.INFO);
        root.addHandler(new JulBridge());
    }

    @Override
    public void publish(LogRecord record) {
        if (record == null || !isLoggable(record)) {
            return;
        }
        Map<String, Object> fields = new LinkedHashMap<>();
        if (record.getLoggerName() != null) {
            fields.put("logger", record.getLoggerName());
        }
        String message = formatter.formatMessage(record);
        if (record.getThrown() != null) {
            fields.put("errorType", record.getThrown().getClass().getSimpleName());
            message = message + ": " + record.getThrown();
        }
        JsonLog.write(level(record.getLevel()), JsonLog.REQUEST_ID.get(), message, fields);
    }

    static String level(Level level) {
        int value = level.intValue();
        if (value >= Level.SEVERE.intValue()) {
            return "ERROR";
        }
        if (value >= Level.WARNING.intValue()) {
            return "WARNING";
        }
        if (value >= Level.INFO.intValue()) {
            return "INFO";
        }
        return "DEBUG";
    }

    @Override
    public void flush() {
        // Every record is written and flushed as it comes.
    }

    @Override
    public void close() {
        // Nothing held.
    }
}
