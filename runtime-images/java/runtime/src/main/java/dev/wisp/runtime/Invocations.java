package dev.wisp.runtime;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.stream.MalformedJsonException;
import java.io.IOException;
import java.math.BigDecimal;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Runs invocations under the contract's rules: concurrency permits (429), the body limit (413),
 * event decoding (400), the per-call deadline (504, the worker interrupted), handler errors (500)
 * and metrics.
 *
 * <p>A call past its timeout is answered at once and its worker interrupted. A handler that
 * ignores the interrupt becomes a <em>runaway</em>: it no longer counts against concurrency, the
 * platform pool gets a replacement thread so other calls are still served, and once runaways
 * hold as many threads as the concurrency allows, {@code /livez} fails so the pod is restarted.
 */
final class Invocations {

    private static final int RUNNING = 0;
    private static final int FINISHED = 1;
    private static final int ABANDONED = 2;

    private static final JsonElement EMPTY_EVENT = new JsonObject();

    private final Config config;
    private final Metrics metrics;
    private final ExecutorService workers;
    private final Semaphore permits;
    private final AtomicInteger runaways = new AtomicInteger();
    private final LoadedHandler handler;
    private final HandlerLoader.LoadException loadError;

    /** Exactly one of {@code handler} and {@code loadError} is non-null. */
    Invocations(Config config, ExecutorService workers, LoadedHandler handler,
                HandlerLoader.LoadException loadError) {
        this.config = config;
        this.workers = workers;
        this.handler = handler;
        this.loadError = loadError;
        this.permits = new Semaphore(config.concurrency());
        this.metrics = new Metrics(this::inflight);
    }

    /** The same runtime refusing calls with {@code error} (a pool pod that failed to specialise). */
    Invocations failed(HandlerLoader.LoadException error) {
        return new Invocations(config, workers, null, error);
    }

    Metrics metrics() {
        return metrics;
    }

    int inflight() {
        return config.concurrency() - permits.availablePermits();
    }

    /** False once runaway calls hold as many threads as the concurrency allows. */
    boolean live() {
        return runaways.get() < config.concurrency();
    }

    int runaways() {
        return runaways.get();
    }

    /** Why the handler could not be loaded, or null when it was. */
    HandlerLoader.LoadException loadError() {
        return loadError;
    }

    /** Answers one call; never throws. */
    Reply invoke(Call call) {
        long start = System.nanoTime();
        boolean tail = "1".equals(call.header("X-Wisp-Log-Tail")); // Lambda's LogType: Tail
        if (tail) {
            JsonLog.keepTail(call.requestId());
        }
        Reply reply = answer(call, start);
        if (tail) {
            reply = reply.withHeader("X-Wisp-Log-Tail", JsonLog.takeTail(call.requestId()));
        }
        metrics.countInvocation(reply.status());
        Map<String, Object> fields = new LinkedHashMap<>();
        fields.put("status", reply.status());
        fields.put("durationMs", Math.round((System.nanoTime() - start) / 1e3) / 1e3);
        JsonLog.write("INFO", call.requestId(), "invocation finished", fields);
        return reply.withHeader("X-Wisp-Request-Id", call.requestId());
    }

    private Reply answer(Call call, long start) {
        if (handler == null) {
            metrics.countError();
            return Reply.error(503, loadError.errorType(), loadError.getMessage(), call.requestId(), null);
        }
        if (!permits.tryAcquire()) {
            return Reply.error(429, "TooManyRequests",
                            "more than " + config.concurrency() + " calls in flight", call.requestId(), null)
                    .withHeader("Retry-After", "1")
                    .withHeader("X-Wisp-Throttled", "runtime");
        }
        try {
            byte[] body = call.body().read(config.maxBodyBytes());
            if (body == null) {
                return Reply.error(413, "RequestTooLarge",
                        "the request body is larger than " + config.maxBodyBytes() + " bytes",
                        call.requestId(), null);
            }
            Object input;
            Map<String, Object> clientContext;
            Map<String, String> identity;
            try {
                JsonElement event = event(call, body, config.accountId());
                input = handler.streams() ? streamInput(call, body, event) : handler.mapInput(event);
                clientContext = contextHeader(call, "X-Wisp-Client-Context", Object.class);
                identity = contextHeader(call, "X-Wisp-Identity", String.class);
            } catch (BadEventException e) {
                return Reply.error(400, e.errorType, e.getMessage(), call.requestId(), null);
            } catch (LoadedHandler.InputMappingException e) {
                return Reply.error(400, "InvalidEvent", e.getMessage(), call.requestId(), null);
            }
            long deadline = deadline(call);
            if (deadline <= System.currentTimeMillis()) {
                metrics.countError();
                return Reply.error(504, "TimeoutError",
                                "the caller's deadline passed before the call started", call.requestId(), null)
                        .withHeader("X-Wisp-Error", "Timeout");
            }
            CallState state = new CallState();
            InvocationContext context =
                    new InvocationContext(call.requestId(), config, deadline, clientContext, identity);
            Future<Outcome> future = workers.submit(() -> run(state, input, context));
            return await(call, state, future, deadline, start);
        } catch (IOException e) {
            return Reply.error(400, "BadRequest", "reading the request body failed: " + e, call.requestId(), null);
        } finally {
            permits.release();
        }
    }

    private Reply await(Call call, CallState state, Future<Outcome> future, long deadline, long start) {
        Outcome outcome;
        try {
            outcome = future.get(Math.max(0, deadline - System.currentTimeMillis()), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            if (state.compareAndSet(RUNNING, ABANDONED)) {
                runawayStarted();
                future.cancel(true);
                return timedOut(call, System.nanoTime() - start);
            }
            outcome = getDone(future);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            future.cancel(true);
            return Reply.error(503, "Interrupted", "the runtime is shutting down", call.requestId(), null);
        } catch (ExecutionException e) {
            outcome = new Outcome(null, e.getCause(), System.nanoTime() - start);
        }
        return finish(call, outcome);
    }

    private static Outcome getDone(Future<Outcome> future) {
        try {
            return future.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Outcome(null, e, 0);
        } catch (ExecutionException e) {
            return new Outcome(null, e.getCause(), 0);
        }
    }

    /** On the worker thread: the handler call, with the request id on every line it logs. */
    private Outcome run(CallState state, Object input, InvocationContext context) {
        JsonLog.REQUEST_ID.set(context.getAwsRequestId());
        long started = System.nanoTime();
        try {
            return new Outcome(handler.call(input, context), null, System.nanoTime() - started);
        } catch (Throwable error) {
            return new Outcome(null, error, System.nanoTime() - started);
        } finally {
            JsonLog.flushThreadOutput();
            if (!state.compareAndSet(RUNNING, FINISHED)) {
                runawayEnded();
                JsonLog.info("a call that had timed out returned",
                        Map.of("runningMs", (System.nanoTime() - started) / 1_000_000));
            }
            JsonLog.REQUEST_ID.remove();
            // A call cancelled at its timeout must not leave the interrupt on a pooled thread.
            Thread.interrupted();
        }
    }

    private void runawayStarted() {
        int now = runaways.incrementAndGet();
        Workers.resize(workers, config.concurrency() + Math.min(now, config.concurrency()));
    }

    private void runawayEnded() {
        int now = runaways.decrementAndGet();
        Workers.resize(workers, config.concurrency() + Math.min(now, config.concurrency()));
    }

    private Reply finish(Call call, Outcome outcome) {
        metrics.observeDuration(outcome.nanos() / 1e9);
        Reply reply;
        if (outcome.error() == null) {
            try {
                reply = Reply.fromResult(outcome.result(), "1".equals(call.header("X-Wisp-Raw-Result")));
            } catch (Reply.InvalidResultException e) {
                metrics.countError();
                JsonLog.write("ERROR", call.requestId(), e.getMessage(),
                        Map.of("errorType", "InvalidHandlerResponse"));
                reply = Reply.error(500, "InvalidHandlerResponse", e.getMessage(), call.requestId(), null)
                        .withHeader("X-Wisp-Error", "Unhandled");
            }
        } else {
            reply = failure(call, outcome.error());
        }
        return reply.withHeader("X-Wisp-Duration-Ms", millis(outcome.nanos()));
    }

    private Reply failure(Call call, Throwable error) {
        metrics.countError();
        String type = error.getClass().getSimpleName().isEmpty()
                ? error.getClass().getName() : error.getClass().getSimpleName();
        Map<String, Object> fields = new LinkedHashMap<>();
        fields.put("errorType", type);
        fields.put("stackTrace", String.join("\n", Reply.stackTrace(error)));
        JsonLog.write("ERROR", call.requestId(), type + ": " + error.getMessage(), fields);
        return Reply.error(500, type, error.getMessage(), call.requestId(),
                        config.stackTraces() ? Reply.stackTrace(error) : null)
                .withHeader("X-Wisp-Error", "Unhandled");
    }

    private Reply timedOut(Call call, long elapsedNanos) {
        metrics.countError();
        String message = "the handler did not finish within "
                + BigDecimal.valueOf(config.timeoutMillis(), 3).stripTrailingZeros().toPlainString() + " seconds";
        if (call.header("X-Wisp-Deadline-Ms") != null) {
            message = "the handler did not finish before the caller's deadline";
        }
        JsonLog.write("ERROR", call.requestId(), message, Map.of("errorType", "TimeoutError"));
        return Reply.error(504, "TimeoutError", message, call.requestId(), null)
                .withHeader("X-Wisp-Error", "Timeout")
                .withHeader("X-Wisp-Duration-Ms", millis(elapsedNanos));
    }

    /** The earlier of now + WISP_TIMEOUT_SECONDS and the caller's X-Wisp-Deadline-Ms. */
    private long deadline(Call call) {
        long deadline = System.currentTimeMillis() + config.timeoutMillis();
        String header = call.header("X-Wisp-Deadline-Ms");
        if (header != null) {
            try {
                deadline = Math.min(deadline, (long) Double.parseDouble(header.trim()));
            } catch (NumberFormatException ignored) {
                // A malformed deadline is no deadline: the function's own timeout still applies.
            }
        }
        return deadline;
    }

    /** The event the contract builds from the call, per X-Wisp-Event. */
    private static JsonElement event(Call call, byte[] body, String accountId) throws BadEventException {
        String kind = call.header("X-Wisp-Event");
        kind = kind == null ? "json" : kind.trim().toLowerCase(Locale.ROOT);
        switch (kind) {
            case "json", "" -> {
                try {
                    return Json.parse(utf8(body));
                } catch (IOException e) {
                    throw new BadEventException("InvalidEventJSON",
                            "the request body is not JSON: " + e.getMessage());
                }
            }
            case "http" -> {
                try {
                    return HttpEvents.build(call, body, accountId, System.currentTimeMillis());
                } catch (HttpEvents.InvalidPayloadFormatException e) {
                    throw new BadEventException("InvalidPayloadFormat", e.getMessage());
                }
            }
            default -> throw new BadEventException("InvalidEventType",
                    "X-Wisp-Event must be json or http, got " + kind);
        }
    }

    /**
     * What a stream handler reads: the request body as sent (a JSON event), or the event's JSON
     * when the runtime built it (an HTTP event, or {@code {}} for an empty body).
     */
    private static byte[] streamInput(Call call, byte[] body, JsonElement event) {
        String kind = call.header("X-Wisp-Event");
        boolean built = kind != null && kind.trim().equalsIgnoreCase("http");
        if (!built && !event.equals(EMPTY_EVENT)) {
            return body;
        }
        return Json.toJson(event).getBytes(StandardCharsets.UTF_8);
    }

    /**
     * The JSON object in base64 that header {@code name} carries (Lambda's client context, the
     * Cognito identity), its values as {@code valueType}; null when the call has no such header.
     */
    @SuppressWarnings("unchecked")
    private static <V> Map<String, V> contextHeader(Call call, String name, Class<V> valueType)
            throws BadEventException {
        String header = call.header(name);
        if (header == null || header.isBlank()) {
            return null;
        }
        try {
            JsonElement json = Json.parse(utf8(Base64.getDecoder().decode(header.trim())));
            if (!json.isJsonObject()) {
                throw new IOException("not a JSON object");
            }
            Map<String, Object> map = (Map<String, Object>) Json.convert(json, Map.class);
            if (valueType == String.class) {
                map.replaceAll((key, value) -> value == null || value instanceof String ? value : Json.toJson(value));
            }
            return (Map<String, V>) map;
        } catch (IOException | IllegalArgumentException e) {
            throw new BadEventException("InvalidContextHeader",
                    name + " must be base64 of a JSON object: " + e.getMessage());
        }
    }

    private static String utf8(byte[] body) throws IOException {
        try {
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(body))
                    .toString();
        } catch (CharacterCodingException e) {
            throw new MalformedJsonException("the body is not UTF-8");
        }
    }

    static String millis(long nanos) {
        return String.format(Locale.ROOT, "%.3f", nanos / 1e6);
    }

    private static final class CallState extends AtomicInteger {
        CallState() {
            super(RUNNING);
        }
    }

    private record Outcome(Object result, Throwable error, long nanos) {}

    private static final class BadEventException extends Exception {
        private final String errorType;

        BadEventException(String errorType, String message) {
            super(message);
            this.errorType = errorType;
        }
    }
}
