package dev.wisp.runtime;

import com.google.gson.JsonObject;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The HTTP side of the runtime: the JDK's built-in server, the three probe/metrics endpoints,
 * and everything else (or anything with {@code X-Wisp-Event}) handed to {@link Invocations}. In
 * a warm pool pod ({@link Generic}) also {@code POST /_wisp/specialise}, which gives the runtime
 * its function (and its {@link Invocations}) once.
 */
final class RuntimeServer {

    /** A pool pod's way to its function: the function's runtime, made from what was asked. */
    @FunctionalInterface
    interface Specialiser {
        /**
         * @throws Generic.SpecialiseException a request the runtime cannot use (400)
         * @throws IllegalArgumentException a setting of the function that is not valid (400)
         * @throws HandlerLoader.LoadException the handler did not load (500)
         */
        Invocations specialise(Generic.Specialisation wanted)
                throws Generic.SpecialiseException, HandlerLoader.LoadException;
    }

    private static final String HEALTH = "/healthz";
    private static final String LIVENESS = "/livez";
    private static final String METRICS = "/metrics";
    private static final String METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8";

    private volatile Invocations invocations;
    private final HttpServer server;
    private final String poolToken;
    private final Specialiser specialiser;
    /**
     * The specialisation this runtime took (none yet: a pool pod may take one) and its answer, to
     * come while it is under way.
     */
    private final AtomicReference<Taken> taken = new AtomicReference<>();

    private record Taken(byte[] body, CompletableFuture<Reply> answer) {}

    RuntimeServer(Config config, Invocations invocations, ExecutorService httpThreads) throws IOException {
        this(config, invocations, httpThreads, null, null);
    }

    /** A pool pod's server: {@code invocations} refuse calls until {@code specialiser} ran. */
    RuntimeServer(Config config, Invocations invocations, ExecutorService httpThreads,
                  String poolToken, Specialiser specialiser) throws IOException {
        this.invocations = invocations;
        this.poolToken = poolToken;
        this.specialiser = specialiser;
        this.server = HttpServer.create(new InetSocketAddress(config.host(), config.port()), 1024);
        server.createContext("/", this::handle);
        server.setExecutor(httpThreads);
    }

    void start() {
        server.start();
    }

    /** The port actually bound (differs from the configured one when that was 0). */
    int port() {
        return server.getAddress().getPort();
    }

    /** Stops at once; call {@link #drain} first to let calls in flight finish. */
    void stop() {
        server.stop(0);
    }

    /** Waits up to {@code millis} for calls in flight to end. */
    void drain(long millis) {
        long until = System.currentTimeMillis() + millis;
        while (invocations.inflight() > 0 && System.currentTimeMillis() < until) {
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    private void handle(HttpExchange exchange) throws IOException {
        try {
            Map<String, List<String>> headers = exchange.getRequestHeaders();
            String method = exchange.getRequestMethod();
            String path = exchange.getRequestURI().getPath();
            if (specialiser != null && Generic.SPECIALISE_PATH.equals(path)) {
                send(exchange, specialise(exchange));
                return;
            }
            boolean invocation = exchange.getRequestHeaders().getFirst("X-Wisp-Event") != null;
            if (!invocation && ("GET".equals(method) || "HEAD".equals(method))) {
                switch (path) {
                    case HEALTH -> {
                        send(exchange, health());
                        return;
                    }
                    case LIVENESS -> {
                        send(exchange, invocations.live()
                                ? Reply.json(200, "{\"status\":\"ok\"}")
                                : Reply.json(503, "{\"status\":\"error\",\"errorType\":\"RunawayHandlers\","
                                        + "\"errorMessage\":\"" + invocations.runaways()
                                        + " handler thread(s) are still running past their timeout; "
                                        + "restart the runtime\"}"));
                        return;
                    }
                    case METRICS -> {
                        send(exchange, new Reply(200, Map.of("Content-Type", List.of(METRICS_TYPE)),
                                invocations.metrics().render().getBytes(StandardCharsets.UTF_8)));
                        return;
                    }
                    default -> {
                        // Not a probe: an invocation.
                    }
                }
            }
            String requestId = exchange.getRequestHeaders().getFirst("X-Wisp-Request-Id");
            if (requestId == null || requestId.isBlank()) {
                requestId = UUID.randomUUID().toString();
            }
            Call call = new Call(method, path, exchange.getRequestURI().getRawQuery(), headers,
                    limit -> readBody(exchange, limit), requestId,
                    exchange.getRemoteAddress().getAddress().getHostAddress(), exchange.getProtocol());
            send(exchange, invocations.invoke(call));
        } catch (IOException e) {
            // The client went away; nothing to answer.
        } catch (RuntimeException e) {
            JsonLog.error("internal error while serving a request", Map.of("error", e.toString()));
            try {
                send(exchange, Reply.error(500, "RuntimeError", e.toString(), null, null));
            } catch (IOException | RuntimeException ignored) {
                // Headers were already sent; the connection is closed below.
            }
        } finally {
            exchange.close();
        }
    }

    /**
     * {@code POST /_wisp/specialise}: authenticated, once in a life, whatever comes of it. The same
     * request again (two gateway replicas handing the pod the same function in one burst) gets the
     * first one's answer, once there is one; any other gets 409.
     */
    private Reply specialise(HttpExchange exchange) throws IOException {
        byte[] body;
        try (InputStream in = exchange.getRequestBody()) {
            body = in.readAllBytes();
        }
        if (!"POST".equals(exchange.getRequestMethod())) {
            return failure(405, "MethodNotAllowed", Generic.SPECIALISE_PATH + " takes POST");
        }
        String given = exchange.getRequestHeaders().getFirst("Authorization");
        byte[] expected = ("Bearer " + poolToken).getBytes(StandardCharsets.UTF_8);
        if (given == null || !MessageDigest.isEqual(given.getBytes(StandardCharsets.UTF_8), expected)) {
            return failure(401, "Unauthorized", "a valid pool token is required");
        }
        Taken mine = new Taken(body, new CompletableFuture<>());
        Taken first = taken.compareAndExchange(null, mine);
        if (first != null) {
            if (Arrays.equals(first.body(), body)) {
                return first.answer().join();
            }
            return failure(409, "AlreadySpecialised", "this runtime was given a function already");
        }
        Reply answer = failure(500, "RuntimeError", "the specialisation did not finish");
        try {
            answer = specialiseOnce(body);
        } finally {
            mine.answer().complete(answer);
        }
        return answer;
    }

    private Reply specialiseOnce(byte[] body) {
        long started = System.nanoTime();
        Generic.Specialisation wanted;
        try {
            wanted = Generic.parse(body);
            invocations = specialiser.specialise(wanted);
        } catch (Generic.SpecialiseException | IllegalArgumentException e) {
            invocations = invocations.failed(new HandlerLoader.LoadException(
                    "InvalidSpecialisation", e.getMessage(), e));
            return failure(400, "InvalidSpecialisation", e.getMessage());
        } catch (HandlerLoader.LoadException e) {
            invocations = invocations.failed(e);
            Map<String, Object> fields = new LinkedHashMap<>();
            fields.put("errorType", e.errorType());
            JsonLog.error("the handler did not load: " + e.getMessage(), fields);
            return failure(500, e.errorType(), "the handler did not load: " + e.getMessage());
        }
        Map<String, Object> fields = new LinkedHashMap<>();
        fields.put("event", "wisp.runtime.specialised");
        fields.put("handler", wanted.env().get("WISP_HANDLER"));
        fields.put("loadMs", (System.nanoTime() - started) / 1e6);
        JsonLog.info("specialised as " + wanted.env().getOrDefault("WISP_FUNCTION_NAME", "function"), fields);
        return Reply.json(200, "{\"status\":\"ok\"}");
    }

    private static Reply failure(int status, String errorType, String errorMessage) {
        JsonObject body = new JsonObject();
        body.addProperty("status", "error");
        body.addProperty("errorType", errorType);
        body.addProperty("errorMessage", errorMessage);
        return Reply.json(status, Json.toJson(body));
    }

    private Reply health() {
        if (specialiser != null && taken.get() == null) { // a pool pod not given a function yet
            return Reply.json(200, "{\"status\":\"ok\"}");
        }
        HandlerLoader.LoadException error = invocations.loadError();
        if (error == null) {
            return Reply.json(200, "{\"status\":\"ok\"}");
        }
        JsonObject body = new JsonObject();
        body.addProperty("status", "error");
        body.addProperty("errorType", error.errorType());
        body.addProperty("errorMessage", error.getMessage());
        return Reply.json(503, Json.toJson(body));
    }

    /** The body, or null when it is longer than {@code limit}. */
    private static byte[] readBody(HttpExchange exchange, long limit) throws IOException {
        String declared = exchange.getRequestHeaders().getFirst("Content-Length");
        if (declared != null) {
            try {
                if (Long.parseLong(declared.trim()) > limit) {
                    exchange.getResponseHeaders().set("Connection", "close");
                    return null;
                }
            } catch (NumberFormatException ignored) {
                // Let the server's own framing decide; the limit is enforced while reading.
            }
        }
        try (InputStream in = exchange.getRequestBody()) {
            byte[] body = in.readNBytes((int) Math.min(Integer.MAX_VALUE - 8, limit + 1));
            if (body.length > limit) {
                // Do not drain an oversized body: close the connection after the 413.
                exchange.getResponseHeaders().set("Connection", "close");
                return null;
            }
            return body;
        }
    }

    private static void send(HttpExchange exchange, Reply reply) throws IOException {
        for (Map.Entry<String, List<String>> header : reply.headers().entrySet()) {
            exchange.getResponseHeaders().put(header.getKey(), header.getValue());
        }
        boolean head = "HEAD".equals(exchange.getRequestMethod());
        boolean empty = reply.body().length == 0 || head || reply.status() == 204 || reply.status() == 304;
        exchange.sendResponseHeaders(reply.status(), empty ? -1 : reply.body().length);
        if (!empty) {
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(reply.body());
            }
        }
    }
}
